// File-level scoring of predicted SQL against gold SQL, one query a line, line i of one file
// paired with line i of the other. This is what `fathom` and the training loop call.
//
// Files: predictions hold one SQL per line (anything after a tab is ignored, so a prediction
// file in the gold format works too); gold files are dev_gold.sql's format, `SQL<TAB>db_id`,
// for exact match, and `SQL` or `SQL<TAB>anything` for execution. Trailing blank lines of the
// gold file are ignored, and those of the predictions beyond the gold's count; any other blank
// prediction line is an unparseable/failing prediction, not a skipped line (the official script
// drops blank lines, which silently misaligns the two files).
//
// Errors (never for a bad prediction) name the file: a missing or unreadable file, files with
// different line counts (both files, both counts), an empty file, a gold line without db_id, an
// unknown db_id (gold file and line, tables file), a gold query that does not parse.
#ifndef FATHOM_EVAL_SQL_SQL_SCORING_H_
#define FATHOM_EVAL_SQL_SQL_SCORING_H_

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/sql/exact_match.h"
#include "eval/sql/execution_match.h"
#include "eval/sql/spider_hardness.h"
#include "eval/sql/sqlite_database.h"

namespace fathom::eval {

struct ExactMatchScore {
  int total = 0;
  int matched = 0;
  int pred_parse_failures = 0;
  double accuracy = 0;  // matched / total
  std::array<int, kNumSpiderHardness> hardness_total{};
  std::array<int, kNumSpiderHardness> hardness_matched{};
  // Official partial-match tallies per component: accuracy = matched_when_predicted /
  // predicted (examples whose prediction has the component), recall likewise over the gold.
  struct Tally {
    int predicted = 0;
    int matched_when_predicted = 0;
    int in_gold = 0;
    int matched_when_in_gold = 0;
  };
  std::array<Tally, kNumExactMatchComponents> components{};
  std::vector<ExactMatchResult> examples;  // one per line, in order
};

// Both files, read and checked to pair up line for line: (predictions, gold). Trailing blank
// lines of the gold file are dropped, and those of the predictions beyond the gold's count; a
// blank prediction within the count stays, as a prediction that fails.
absl::StatusOr<std::pair<std::vector<std::string>, std::vector<std::string>>> ReadPairedSqlFiles(
    const std::string& pred_path, const std::string& gold_path);

absl::StatusOr<ExactMatchScore> ScoreSpiderExactMatch(const std::string& pred_path,
                                                      const std::string& gold_path,
                                                      const std::string& tables_path);

struct ExecutionScore {
  int total = 0;
  int correct = 0;
  int incorrect = 0;
  int pred_errors = 0;
  int pred_timeouts = 0;
  int gold_errors = 0;  // counted as not correct
  int gold_timeouts = 0;
  double accuracy = 0;                   // correct / total
  std::vector<ExecutionMatch> examples;  // one per line, in order
};

absl::StatusOr<ExecutionScore> ScoreExecution(const std::string& pred_path,
                                              const std::string& gold_path,
                                              const SqliteDatabase& database,
                                              const ExecutionOptions& options = {});

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_SCORING_H_
