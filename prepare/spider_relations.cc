#include "prepare/spider_relations.h"

#include <algorithm>
#include <string>
#include <utility>

#include "prepare/schema_linking.h"

namespace fathom::prepare {
namespace {

class Matrix {
 public:
  explicit Matrix(int n) : n_(n), r_(static_cast<size_t>(n) * n, 0) {}
  void Set(int a, int b, data::Relation relation) {
    r_[static_cast<size_t>(a) * n_ + b] = static_cast<uint8_t>(relation);
  }
  std::vector<uint8_t> Release() { return std::move(r_); }

 private:
  int n_;
  std::vector<uint8_t> r_;
};

// Question word <-> name links of one table or column segment, both directions.
void Link(const std::vector<NameMatch>& matches, const std::vector<int>& question_segments,
          int name_segment, data::Relation q_exact, data::Relation q_partial,
          data::Relation name_exact, data::Relation name_partial, Matrix* r) {
  for (size_t w = 0; w < matches.size(); ++w) {
    if (matches[w] == NameMatch::kNone) continue;
    const bool exact = matches[w] == NameMatch::kExact;
    r->Set(question_segments[w], name_segment, exact ? q_exact : q_partial);
    r->Set(name_segment, question_segments[w], exact ? name_exact : name_partial);
  }
}

}  // namespace

std::vector<uint8_t> ComputeSegmentRelations(const std::vector<SpiderSegment>& segments,
                                             const SpiderSchema& schema) {
  const int n = static_cast<int>(segments.size());
  Matrix r(n);
  std::vector<int> questions;  // segment of each question word
  std::vector<std::string> question_words;
  std::vector<int> table_segment(schema.table_names_original.size(), -1);
  std::vector<int> column_segment(schema.columns.size(), -1);
  for (int s = 0; s < n; ++s) {
    const SpiderSegment& segment = segments[s];
    const int item = segment.item;
    switch (segment.kind) {
      case SegmentKind::kQuestionWord:
        questions.push_back(s);
        question_words.push_back(segment.text);
        break;
      case SegmentKind::kTable:
        if (item >= 0 && item < static_cast<int>(table_segment.size())) table_segment[item] = s;
        r.Set(s, s, data::Relation::kSameSegment);
        break;
      case SegmentKind::kColumn:
        if (item >= 0 && item < static_cast<int>(column_segment.size())) column_segment[item] = s;
        r.Set(s, s, data::Relation::kSameSegment);
        break;
      case SegmentKind::kDbId:
      case SegmentKind::kSeparator:
        break;
    }
  }

  for (size_t a = 0; a < questions.size(); ++a) {
    for (size_t b = 0; b < questions.size(); ++b) {
      const int d = std::clamp(static_cast<int>(b) - static_cast<int>(a), -2, 2);
      r.Set(questions[a], questions[b],
            static_cast<data::Relation>(static_cast<int>(data::Relation::kQuestionDistance0) + d));
    }
  }

  const QuestionLinker linker(question_words);
  for (size_t t = 0; t < table_segment.size(); ++t) {
    if (table_segment[t] < 0) continue;
    const std::string& name =
        t < schema.table_names.size() ? schema.table_names[t] : schema.table_names_original[t];
    Link(linker.Match(name), questions, table_segment[t], data::Relation::kQuestionTableExact,
         data::Relation::kQuestionTablePartial, data::Relation::kTableQuestionExact,
         data::Relation::kTableQuestionPartial, &r);
  }
  // Columns of no table ("*") link to nothing.
  auto in_table = [&](int c) {
    return c >= 0 && c < static_cast<int>(column_segment.size()) && column_segment[c] >= 0 &&
           schema.columns[c].table >= 0 && table_segment[schema.columns[c].table] >= 0;
  };
  std::vector<bool> primary(schema.columns.size(), false);
  for (int c : schema.primary_keys) {
    if (c >= 0 && c < static_cast<int>(primary.size())) primary[c] = true;
  }
  for (size_t c = 0; c < column_segment.size(); ++c) {
    if (!in_table(static_cast<int>(c))) continue;
    const int cs = column_segment[c];
    const int ts = table_segment[schema.columns[c].table];
    Link(linker.Match(schema.columns[c].name), questions, cs, data::Relation::kQuestionColumnExact,
         data::Relation::kQuestionColumnPartial, data::Relation::kColumnQuestionExact,
         data::Relation::kColumnQuestionPartial, &r);
    r.Set(cs, ts,
          primary[c] ? data::Relation::kColumnPrimaryKeyOfTable
                     : data::Relation::kColumnBelongsToTable);
    r.Set(ts, cs,
          primary[c] ? data::Relation::kTablePrimaryKeyColumn : data::Relation::kTableHasColumn);
    for (size_t other = 0; other < column_segment.size(); ++other) {
      if (other != c && in_table(static_cast<int>(other)) &&
          schema.columns[other].table == schema.columns[c].table) {
        r.Set(cs, column_segment[other], data::Relation::kColumnSameTable);
      }
    }
  }

  // Foreign keys last: they take precedence over same-table.
  const size_t num_tables = table_segment.size();
  std::vector<bool> references(num_tables * num_tables, false);  // [from table][to table]
  for (const auto& [from, to] : schema.foreign_keys) {
    if (from == to || !in_table(from) || !in_table(to)) continue;
    r.Set(column_segment[from], column_segment[to], data::Relation::kColumnForeignKeyForward);
    r.Set(column_segment[to], column_segment[from], data::Relation::kColumnForeignKeyBackward);
    const int a = schema.columns[from].table;
    const int b = schema.columns[to].table;
    if (a != b) references[a * num_tables + b] = true;
  }
  for (size_t a = 0; a < num_tables; ++a) {
    for (size_t b = 0; b < num_tables; ++b) {
      const bool forward = references[a * num_tables + b];
      const bool backward = references[b * num_tables + a];
      if (!forward && !backward) continue;
      r.Set(table_segment[a], table_segment[b],
            forward && backward ? data::Relation::kTableForeignKeyBoth
                                : (forward ? data::Relation::kTableForeignKeyForward
                                           : data::Relation::kTableForeignKeyBackward));
    }
  }
  return r.Release();
}

}  // namespace fathom::prepare
