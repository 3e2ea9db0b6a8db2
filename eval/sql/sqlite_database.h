// An SQLite database that runs gold and predicted queries for execution accuracy. Queries run
// read-only (a prediction cannot change the data the next one sees) under a wall-clock limit
// enforced with sqlite3_progress_handler, and every failure is reported in the result rather
// than as an error: bad predictions are what is being measured.
#ifndef FATHOM_EVAL_SQL_SQLITE_DATABASE_H_
#define FATHOM_EVAL_SQL_SQLITE_DATABASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;

namespace fathom::eval {

struct QueryResult {
  enum class Status { kOk, kError, kTimeout };
  Status status = Status::kOk;
  std::string error;  // SQLite's message for kError
  int num_columns = 0;
  // Rows of canonical cell texts: NULL, numbers (an integral REAL prints as the integer, so
  // 3 and 3.0 agree), 't:' + text, 'x:' + hex for blobs. Equal cells have equal texts.
  std::vector<std::vector<std::string>> rows;
};

class SqliteDatabase {
 public:
  // Loads a MySQL dump (mysql_dump.h says what is adapted) into a private in-memory database.
  // Errors name the file and, for a statement SQLite rejects, the statement.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> FromMySqlDump(const std::string& path);
  // Opens an existing SQLite file (a Spider database) read-only.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> OpenFile(const std::string& path);

  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;
  ~SqliteDatabase();

  // Runs one read-only statement (a trailing ';' is fine, a second statement is an error).
  // Stops it with kTimeout once `time_limit` has passed, and with kError once it has produced
  // `max_rows` rows, so a runaway cross join cannot exhaust memory. Not thread-safe.
  QueryResult Execute(absl::string_view sql, absl::Duration time_limit,
                      size_t max_rows = 1000000) const;

  const std::string& source() const { return source_; }

 private:
  SqliteDatabase(sqlite3* db, std::string source) : db_(db), source_(std::move(source)) {}

  sqlite3* db_;
  std::string source_;  // the file it came from, for messages
};

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQLITE_DATABASE_H_
