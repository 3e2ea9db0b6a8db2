// Execution accuracy for one (predicted, gold) pair: both run on the same database and the
// prediction is correct when it returns the same rows, as a multiset, or in the same order when
// the gold query has a top-level ORDER BY (then the order is part of the answer). Columns are
// compared by position. Errors and timeouts are outcomes, never failures.
#ifndef FATHOM_EVAL_SQL_EXECUTION_MATCH_H_
#define FATHOM_EVAL_SQL_EXECUTION_MATCH_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "eval/sql/sqlite_database.h"

namespace fathom::eval {

struct ExecutionOptions {
  absl::Duration time_limit = absl::Seconds(5);  // per query, gold and prediction each
  size_t max_rows = 1000000;                     // per query; more is an error
};

enum class ExecutionOutcome {
  kCorrect,
  kIncorrect,    // ran, different result
  kPredError,    // the prediction failed (syntax, unknown column, ...)
  kPredTimeout,  // the prediction ran past the time limit
  kGoldError,    // the gold failed: a broken reference, reported apart and counted wrong
  kGoldTimeout,
};

const char* ExecutionOutcomeName(ExecutionOutcome outcome);  // "correct", "pred_error", ...

struct ExecutionMatch {
  ExecutionOutcome outcome = ExecutionOutcome::kIncorrect;
  std::string detail;  // SQLite's message, or why the results differ
};

// True when `pred` returns what `gold` does (both must have run).
bool SameResult(const QueryResult& pred, const QueryResult& gold, bool ordered);

ExecutionMatch MatchExecution(const SqliteDatabase& db, absl::string_view pred_sql,
                              absl::string_view gold_sql, const ExecutionOptions& options = {});

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_EXECUTION_MATCH_H_
