#include "eval/sql/spider_execution.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "eval/sql/sql_scoring.h"

namespace fathom::eval {
namespace {

void Count(ExecutionOutcome outcome, ExecutionScore* score) {
  ++score->total;
  switch (outcome) {
    case ExecutionOutcome::kCorrect:
      ++score->correct;
      break;
    case ExecutionOutcome::kIncorrect:
      ++score->incorrect;
      break;
    case ExecutionOutcome::kPredError:
      ++score->pred_errors;
      break;
    case ExecutionOutcome::kPredTimeout:
      ++score->pred_timeouts;
      break;
    case ExecutionOutcome::kGoldError:
      ++score->gold_errors;
      break;
    case ExecutionOutcome::kGoldTimeout:
      ++score->gold_timeouts;
      break;
  }
}

}  // namespace

absl::StatusOr<const SqliteDatabase*> SpiderDatabases::Get(const std::string& db_id) {
  std::unique_ptr<SqliteDatabase>& db = open_[db_id];
  if (db == nullptr) {
    absl::StatusOr<std::unique_ptr<SqliteDatabase>> opened =
        SqliteDatabase::OpenFile(absl::StrCat(dir_, "/", db_id, "/", db_id, ".sqlite"));
    if (!opened.ok()) {
      open_.erase(db_id);
      return opened.status();
    }
    db = *std::move(opened);
  }
  return db.get();
}

absl::StatusOr<ExecutionScore> ScoreSpiderExecution(const std::string& pred_path,
                                                    const std::string& gold_path,
                                                    SpiderDatabases& databases,
                                                    const ExecutionOptions& options) {
  ASSIGN_OR_RETURN(auto files, ReadPairedSqlFiles(pred_path, gold_path));
  const auto& [preds, golds] = files;
  ExecutionScore score;
  for (size_t i = 0; i < golds.size(); ++i) {
    const std::string where = absl::StrCat(gold_path, ":", i + 1);
    const size_t tab = golds[i].rfind('\t');
    if (tab == std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected SQL<TAB>db_id"));
    const std::string gold(absl::StripAsciiWhitespace(absl::string_view(golds[i]).substr(0, tab)));
    const std::string db_id(
        absl::StripAsciiWhitespace(absl::string_view(golds[i]).substr(tab + 1)));
    if (gold.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty gold query"));
    absl::StatusOr<const SqliteDatabase*> db = databases.Get(db_id);
    if (!db.ok())
      return absl::Status(db.status().code(), absl::StrCat(where, ": ", db.status().message()));
    // The prediction's SQL: what precedes its first tab, as ScoreExecution reads it.
    const absl::string_view pred_line = preds[i];
    const std::string pred(absl::StripAsciiWhitespace(pred_line.substr(0, pred_line.find('\t'))));
    ExecutionMatch match = MatchExecution(**db, pred, gold, options);
    Count(match.outcome, &score);
    score.examples.push_back(std::move(match));
  }
  score.accuracy = static_cast<double>(score.correct) / score.total;
  return score;
}

}  // namespace fathom::eval
