#include "eval/sql/sql_scoring.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "eval/sql/sql_schema.h"
#include "prepare/spider_reader.h"

namespace fathom::eval {
namespace {

bool IsBlank(absl::string_view line) { return absl::StripAsciiWhitespace(line).empty(); }

// Lines of `path` ('\n'-terminated, the last one may lack it), without '\r'; `what` names the
// file's role. A file with no non-blank line is an error.
absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path,
                                                   absl::string_view what) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " file ", path, ": ", text.status().message()));
  }
  absl::string_view body = *text;
  absl::ConsumeSuffix(&body, "\n");
  std::vector<std::string> lines = absl::StrSplit(body, '\n');
  for (std::string& line : lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
  }
  if (std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return IsBlank(l); })) {
    return absl::InvalidArgumentError(absl::StrCat(what, " file ", path, " is empty (no queries)"));
  }
  return lines;
}

// The SQL of a line: what precedes the first tab.
std::string SqlField(absl::string_view line) {
  return std::string(absl::StripAsciiWhitespace(line.substr(0, line.find('\t'))));
}

}  // namespace

absl::StatusOr<std::pair<std::vector<std::string>, std::vector<std::string>>> ReadPairedSqlFiles(
    const std::string& pred_path, const std::string& gold_path) {
  ASSIGN_OR_RETURN(std::vector<std::string> preds, ReadLines(pred_path, "predictions"));
  ASSIGN_OR_RETURN(std::vector<std::string> golds, ReadLines(gold_path, "gold"));
  while (IsBlank(golds.back())) golds.pop_back();
  while (preds.size() > golds.size() && IsBlank(preds.back())) preds.pop_back();
  if (preds.size() != golds.size()) {
    return absl::InvalidArgumentError(absl::StrCat("predictions file ", pred_path, " has ",
                                                   preds.size(), " lines but gold file ", gold_path,
                                                   " has ", golds.size()));
  }
  return std::make_pair(std::move(preds), std::move(golds));
}

SpiderExactMatchScorer::SpiderExactMatchScorer(const prepare::SpiderSchemas& schemas)
    : schemas_(schemas) {}

SpiderExactMatchScorer::~SpiderExactMatchScorer() = default;

absl::Status SpiderExactMatchScorer::Add(absl::string_view pred_line, absl::string_view gold_sql,
                                         const std::string& db_id) {
  const auto schema = schemas_.find(db_id);
  if (schema == schemas_.end()) {
    const std::string tables =
        schemas_.empty() ? "(no tables loaded)" : schemas_.begin()->second.source_path;
    return absl::InvalidArgumentError(
        absl::StrCat("unknown db_id '", db_id, "' (not in ", tables, ")"));
  }
  std::unique_ptr<SqlSchema>& sql_schema = indexed_[db_id];
  if (sql_schema == nullptr) sql_schema = std::make_unique<SqlSchema>(schema->second);
  ASSIGN_OR_RETURN(ExactMatchResult result,
                   SpiderExactMatch(SqlField(pred_line), gold_sql, *sql_schema));
  ++score_.total;
  score_.matched += result.match ? 1 : 0;
  score_.pred_parse_failures += result.pred_parsed ? 0 : 1;
  const int level = static_cast<int>(result.hardness);
  ++score_.hardness_total[level];
  score_.hardness_matched[level] += result.match ? 1 : 0;
  for (int c = 0; c < kNumExactMatchComponents; ++c) {
    const ComponentMatch& m = result.components[c];
    ExactMatchScore::Tally& tally = score_.components[c];
    if (m.pred_total > 0) {
      ++tally.predicted;
      tally.matched_when_predicted += m.match ? 1 : 0;
    }
    if (m.gold_total > 0) {
      ++tally.in_gold;
      tally.matched_when_in_gold += m.match ? 1 : 0;
    }
  }
  score_.examples.push_back(std::move(result));
  score_.accuracy = static_cast<double>(score_.matched) / score_.total;
  return absl::OkStatus();
}

absl::StatusOr<ExactMatchScore> ScoreSpiderExactMatch(const std::string& pred_path,
                                                      const std::string& gold_path,
                                                      const std::string& tables_path) {
  ASSIGN_OR_RETURN(auto files, ReadPairedSqlFiles(pred_path, gold_path));
  const auto& [preds, golds] = files;
  ASSIGN_OR_RETURN(const prepare::SpiderSchemas schemas, prepare::LoadSpiderTables(tables_path));
  SpiderExactMatchScorer scorer(schemas);
  for (size_t i = 0; i < golds.size(); ++i) {
    const std::string where = absl::StrCat(gold_path, ":", i + 1);
    const size_t tab = golds[i].rfind('\t');
    if (tab == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected SQL<TAB>db_id"));
    }
    const std::string db_id(absl::StripAsciiWhitespace(golds[i].substr(tab + 1)));
    const absl::Status added = scorer.Add(preds[i], golds[i].substr(0, tab), db_id);
    if (!added.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", added.message()));
  }
  return scorer.score();
}

absl::StatusOr<ExecutionScore> ScoreExecution(const std::string& pred_path,
                                              const std::string& gold_path,
                                              const SqliteDatabase& database,
                                              const ExecutionOptions& options) {
  ASSIGN_OR_RETURN(auto files, ReadPairedSqlFiles(pred_path, gold_path));
  const auto& [preds, golds] = files;
  ExecutionScore score;
  for (size_t i = 0; i < golds.size(); ++i) {
    const std::string gold = SqlField(golds[i]);
    if (gold.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(gold_path, ":", i + 1, ": empty gold query"));
    }
    ExecutionMatch match = MatchExecution(database, SqlField(preds[i]), gold, options);
    ++score.total;
    switch (match.outcome) {
      case ExecutionOutcome::kCorrect:
        ++score.correct;
        break;
      case ExecutionOutcome::kIncorrect:
        ++score.incorrect;
        break;
      case ExecutionOutcome::kPredError:
        ++score.pred_errors;
        break;
      case ExecutionOutcome::kPredTimeout:
        ++score.pred_timeouts;
        break;
      case ExecutionOutcome::kGoldError:
        ++score.gold_errors;
        break;
      case ExecutionOutcome::kGoldTimeout:
        ++score.gold_timeouts;
        break;
    }
    score.examples.push_back(std::move(match));
  }
  score.accuracy = static_cast<double>(score.correct) / score.total;
  return score;
}

}  // namespace fathom::eval
