// Execution accuracy on Spider's own databases, one per db_id: DIR/db_id/db_id.sqlite (the
// official release's database/ folder), the database of each pair named by the gold line's
// db_id (dev_gold.sql's `SQL<TAB>db_id`). sql_scoring.h's ScoreExecution runs every pair on one
// database (GeoQuery); this is the same scoring with a database per line. File rules (pairing,
// blank lines, errors naming the file) are sql_scoring.h's.
#ifndef FATHOM_EVAL_SQL_SPIDER_EXECUTION_H_
#define FATHOM_EVAL_SQL_SPIDER_EXECUTION_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "eval/sql/execution_match.h"
#include "eval/sql/sql_scoring.h"
#include "eval/sql/sqlite_database.h"

namespace fathom::eval {

// Spider's databases under one directory, each opened (read-only) on first use and kept open.
class SpiderDatabases {
 public:
  explicit SpiderDatabases(std::string dir) : dir_(std::move(dir)) {}
  // Errors name the path: a db_id without DIR/db_id/db_id.sqlite, a file SQLite cannot open.
  absl::StatusOr<const SqliteDatabase*> Get(const std::string& db_id);

 private:
  std::string dir_;
  std::map<std::string, std::unique_ptr<SqliteDatabase>> open_;
};

// Errors as ScoreExecution's, and a gold line without db_id or whose database is missing
// (gold file and line, the database path).
absl::StatusOr<ExecutionScore> ScoreSpiderExecution(const std::string& pred_path,
                                                    const std::string& gold_path,
                                                    SpiderDatabases& databases,
                                                    const ExecutionOptions& options = {});

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SPIDER_EXECUTION_H_
