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
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/sql/exact_match.h"
#include "eval/sql/execution_match.h"
#include "eval/sql/spider_hardness.h"
#include "eval/sql/sql_schema.h"
#include "eval/sql/sqlite_database.h"
#include "prepare/spider_reader.h"

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

// Exact match one example at a time, the way ScoreSpiderExactMatch scores files (it adds each
// line here): validation during training (decode/validation_exact_match.h) scores its decoded
// SQL through this class, so its figure is the one `fathom sql-eval --tables` prints.
class SpiderExactMatchScorer {
 public:
  // `schemas` (tables.json's) must outlive the scorer.
  explicit SpiderExactMatchScorer(const prepare::SpiderSchemas& schemas);
  ~SpiderExactMatchScorer();

  // `pred_line`: a predictions line (text after a tab ignored, surrounding whitespace stripped);
  // `gold_sql` and `db_id`: its gold query and database. Errors (an unknown db_id, a gold query
  // that does not parse) leave the score unchanged; the caller names the line.
  absl::Status Add(absl::string_view pred_line, absl::string_view gold_sql,
                   const std::string& db_id);
  // Of the examples added so far (accuracy included).
  const ExactMatchScore& score() const { return score_; }

 private:
  const prepare::SpiderSchemas& schemas_;
  std::map<std::string, std::unique_ptr<SqlSchema>> indexed_;  // built on first use
  ExactMatchScore score_;
};

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
