#include "eval/sql/execution_match.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "eval/sql/sql_tokenizer.h"

namespace fathom::eval {

const char* ExecutionOutcomeName(ExecutionOutcome outcome) {
  static constexpr const char* kNames[] = {"correct",      "incorrect",  "pred_error",
                                           "pred_timeout", "gold_error", "gold_timeout"};
  return kNames[static_cast<int>(outcome)];
}

bool SameResult(const QueryResult& pred, const QueryResult& gold, bool ordered) {
  if (pred.num_columns != gold.num_columns || pred.rows.size() != gold.rows.size()) return false;
  if (ordered) return pred.rows == gold.rows;
  std::vector<std::vector<std::string>> p = pred.rows;
  std::vector<std::vector<std::string>> g = gold.rows;
  std::sort(p.begin(), p.end());
  std::sort(g.begin(), g.end());
  return p == g;
}

ExecutionMatch MatchExecution(const SqliteDatabase& db, absl::string_view pred_sql,
                              absl::string_view gold_sql, const ExecutionOptions& options) {
  const QueryResult gold = db.Execute(gold_sql, options.time_limit, options.max_rows);
  if (gold.status == QueryResult::Status::kTimeout) {
    return {ExecutionOutcome::kGoldTimeout, gold.error};
  }
  if (gold.status == QueryResult::Status::kError) return {ExecutionOutcome::kGoldError, gold.error};
  const QueryResult pred = db.Execute(pred_sql, options.time_limit, options.max_rows);
  if (pred.status == QueryResult::Status::kTimeout) {
    return {ExecutionOutcome::kPredTimeout, pred.error};
  }
  if (pred.status == QueryResult::Status::kError) return {ExecutionOutcome::kPredError, pred.error};

  // The gold ran, so it tokenizes; should it not, multiset comparison is the safe reading.
  const absl::StatusOr<std::vector<SqlToken>> tokens = TokenizeSql(gold_sql);
  const bool ordered = tokens.ok() && HasTopLevelOrderBy(*tokens);
  if (SameResult(pred, gold, ordered)) return {ExecutionOutcome::kCorrect, ""};
  return {ExecutionOutcome::kIncorrect,
          absl::StrCat(pred.rows.size(), " rows x ", pred.num_columns, " columns vs gold ",
                       gold.rows.size(), " x ", gold.num_columns, ordered ? " (ordered)" : "")};
}

}  // namespace fathom::eval
