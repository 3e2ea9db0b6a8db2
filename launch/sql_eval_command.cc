// `fathom sql-eval --gold FILE --pred FILE [--tables tables.json] [--db_dir DIR | --db_sql DUMP |
// --db FILE]`: Spider exact-set match (overall and by hardness) and execution accuracy, printed
// as the official evaluation.py prints them, with the outcomes it leaves out (predictions that
// do not parse, execution errors and timeouts, all counted wrong).
#include <array>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/logging.h"
#include "eval/sql/spider_execution.h"
#include "eval/sql/sql_scoring.h"
#include "eval/sql/sqlite_database.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"

ABSL_FLAG(
    std::string, gold, "",
    "gold SQL, one a line: SQL<TAB>db_id (Spider's dev_gold.sql); SQL alone for --db/--db_sql");
ABSL_FLAG(std::string, pred, "",
          "predicted SQL, one a line, line-aligned with --gold (text after a tab is ignored)");
ABSL_FLAG(std::string, db_dir, "",
          "execution on Spider's databases: DIR/db_id/db_id.sqlite per gold db_id");
ABSL_FLAG(std::string, db_sql, "",
          "execution on one database loaded from a MySQL dump (GeoQuery's geography-db.sql)");
ABSL_FLAG(std::string, db, "", "execution on one SQLite database file");
ABSL_FLAG(int32_t, timeout_ms, 5000,
          "per-query time limit for execution, gold and prediction each");

namespace fathom::launch {
namespace {

constexpr int kLevels = eval::kNumSpiderHardness + 1;  // easy, medium, hard, extra, all

// evaluation.py's print_scores rows: "{:20} {:<20...}" per level.
void PrintRow(const std::string& name, const std::array<std::string, kLevels>& cells,
              bool by_level) {
  std::string line = absl::StrFormat("%-20s", name);
  for (int l = by_level ? 0 : kLevels - 1; l < kLevels; ++l)
    absl::StrAppend(&line, " ", absl::StrFormat("%-20s", cells[l]));
  std::cout << line << "\n";
}

std::array<std::string, kLevels> Fractions(const std::array<int, kLevels>& hits,
                                           const std::array<int, kLevels>& counts) {
  std::array<std::string, kLevels> out;
  for (int l = 0; l < kLevels; ++l)
    out[l] = absl::StrFormat("%.3f", counts[l] > 0 ? 1.0 * hits[l] / counts[l] : 0.0);
  return out;
}

int RunSqlEval(const std::vector<std::string>& args) {
  const std::string gold = absl::GetFlag(FLAGS_gold), pred = absl::GetFlag(FLAGS_pred);
  const std::string tables = absl::GetFlag(FLAGS_tables);
  const std::string db_dir = absl::GetFlag(FLAGS_db_dir), db_sql = absl::GetFlag(FLAGS_db_sql),
                    db_file = absl::GetFlag(FLAGS_db);
  const int databases = !db_dir.empty() + !db_sql.empty() + !db_file.empty();
  if (!args.empty() || gold.empty() || pred.empty() || databases > 1 ||
      (tables.empty() && databases == 0) || absl::GetFlag(FLAGS_timeout_ms) <= 0) {
    std::cerr
        << "usage: fathom sql-eval --gold FILE --pred FILE [--tables tables.json] "
           "[--db_dir DIR | --db_sql DUMP | --db FILE] [--timeout_ms N]\n"
           "  (--tables for exact match, one database flag for execution, at least one of them)\n";
    return kExitUsage;
  }

  std::optional<eval::ExactMatchScore> exact;
  if (!tables.empty()) {
    auto score = eval::ScoreSpiderExactMatch(pred, gold, tables);
    if (!score.ok()) {
      FLOG(Error) << score.status().message();
      return kExitError;
    }
    exact = *std::move(score);
  }
  std::optional<eval::ExecutionScore> execution;
  if (databases > 0) {
    eval::ExecutionOptions options;
    options.time_limit = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
    absl::StatusOr<eval::ExecutionScore> score;
    if (!db_dir.empty()) {
      eval::SpiderDatabases spider(db_dir);
      score = eval::ScoreSpiderExecution(pred, gold, spider, options);
    } else {
      auto db = db_sql.empty() ? eval::SqliteDatabase::OpenFile(db_file)
                               : eval::SqliteDatabase::FromMySqlDump(db_sql);
      score = db.ok() ? eval::ScoreExecution(pred, gold, **db, options)
                      : absl::StatusOr<eval::ExecutionScore>(db.status());
    }
    if (!score.ok()) {
      FLOG(Error) << score.status().message();
      return kExitError;
    }
    execution = *std::move(score);
  }

  // Levels come from the gold queries' hardness, known only with exact match's parse.
  const bool by_level = exact.has_value();
  std::array<int, kLevels> counts{}, exact_hits{}, exec_hits{};
  const int total = exact ? exact->total : execution->total;
  for (int i = 0; i < total; ++i) {
    const bool exact_hit = exact && exact->examples[i].match;
    const bool exec_hit =
        execution && execution->examples[i].outcome == eval::ExecutionOutcome::kCorrect;
    // Every example counts in "all", and in its gold query's level when that is known.
    for (int level : {by_level ? static_cast<int>(exact->examples[i].hardness) : -1, kLevels - 1}) {
      if (level < 0) continue;
      ++counts[level];
      exact_hits[level] += exact_hit;
      exec_hits[level] += exec_hit;
    }
  }
  std::array<std::string, kLevels> names, count_cells;
  for (int l = 0; l < eval::kNumSpiderHardness; ++l)
    names[l] = eval::HardnessName(static_cast<eval::SpiderHardness>(l));
  names[kLevels - 1] = "all";
  for (int l = 0; l < kLevels; ++l) count_cells[l] = std::to_string(counts[l]);
  PrintRow("", names, by_level);
  PrintRow("count", count_cells, by_level);
  if (execution) {
    std::cout << "=====================   EXECUTION ACCURACY     =====================\n";
    PrintRow("execution", Fractions(exec_hits, counts), by_level);
  }
  if (exact) {
    std::cout << "\n====================== EXACT MATCHING ACCURACY =====================\n";
    PrintRow("exact match", Fractions(exact_hits, counts), by_level);
  }
  std::cout << "\n";
  if (exact) {
    std::cout << absl::StrFormat(
        "exact match: %d of %d (%.2f%%); predictions that do not parse: %d\n", exact->matched,
        exact->total, 100 * exact->accuracy, exact->pred_parse_failures);
  }
  if (execution) {
    std::cout << absl::StrFormat(
        "execution: %d of %d correct (%.2f%%); incorrect %d, prediction errors %d, prediction "
        "timeouts %d, "
        "gold errors %d, gold timeouts %d (all counted wrong)\n",
        execution->correct, execution->total, 100 * execution->accuracy, execution->incorrect,
        execution->pred_errors, execution->pred_timeouts, execution->gold_errors,
        execution->gold_timeouts);
  }
  return kExitOk;
}

}  // namespace

Subcommand SqlEvalSubcommand() {
  return {"sql-eval",
          "Spider exact match (by hardness) and execution accuracy of predicted SQL",
          "fathom sql-eval --gold FILE --pred FILE [--tables tables.json] [--db_dir DIR | --db_sql "
          "DUMP | --db FILE]",
          {"gold", "pred", "tables", "db_dir", "db_sql", "db", "timeout_ms"},
          RunSqlEval};
}

}  // namespace fathom::launch
