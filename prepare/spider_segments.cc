#include "prepare/spider_segments.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace fathom::prepare {
namespace {

void AddSeparator(const char* text, std::vector<SpiderSegment>* out) {
  out->push_back({SegmentKind::kSeparator, text, -1});
}

}  // namespace

std::vector<SpiderSegment> SegmentSpiderInput(absl::string_view question,
                                              const SpiderSchema& schema) {
  std::vector<SpiderSegment> out;
  for (absl::string_view word :
       absl::StrSplit(question, absl::ByAnyChar(" \t\n\v\f\r"), absl::SkipEmpty())) {
    out.push_back({SegmentKind::kQuestionWord, std::string(word), static_cast<int>(out.size())});
  }
  AddSeparator("|", &out);
  out.push_back({SegmentKind::kDbId, schema.db_id, -1});
  std::vector<std::vector<int>> by_table(schema.table_names_original.size());
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const int table = schema.columns[c].table;
    if (table < 0) {
      // Only "*" belongs to no table; it stands for every column, so it precedes the tables.
      AddSeparator("|", &out);
      out.push_back({SegmentKind::kColumn, absl::AsciiStrToLower(schema.columns[c].name_original),
                     static_cast<int>(c)});
    } else if (table < static_cast<int>(by_table.size())) {
      by_table[table].push_back(static_cast<int>(c));
    }
  }
  for (size_t t = 0; t < by_table.size(); ++t) {
    AddSeparator("|", &out);
    out.push_back({SegmentKind::kTable, absl::AsciiStrToLower(schema.table_names_original[t]),
                   static_cast<int>(t)});
    AddSeparator(":", &out);
    for (size_t k = 0; k < by_table[t].size(); ++k) {
      if (k > 0) AddSeparator(",", &out);
      const int c = by_table[t][k];
      out.push_back(
          {SegmentKind::kColumn, absl::AsciiStrToLower(schema.columns[c].name_original), c});
    }
  }
  return out;
}

std::string SerializeSpiderInput(absl::string_view question, const SpiderSchema& schema) {
  std::string out;
  for (const SpiderSegment& segment : SegmentSpiderInput(question, schema)) {
    if (!out.empty()) out += ' ';
    out += segment.text;
  }
  return out;
}

}  // namespace fathom::prepare
