#include "eval/sql/sqlite_database.h"

#include <sqlite3.h>

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "eval/sql/mysql_dump.h"

namespace fathom::eval {
namespace {

struct Deadline {
  absl::Time at;
  bool expired = false;
};

// Called by SQLite every kProgressOps virtual-machine steps; a non-zero return interrupts the
// statement, which then fails with SQLITE_INTERRUPT.
int CheckDeadline(void* arg) {
  Deadline* deadline = static_cast<Deadline*>(arg);
  if (absl::Now() < deadline->at) return 0;
  deadline->expired = true;
  return 1;
}
// Compile-time gate for every statement run after loading: reading (SELECT, CTEs, functions)
// is allowed; writes, PRAGMA (query_only could be switched off), ATTACH (could create files)
// and transactions are refused.
int AllowOnlyReads(void*, int action, const char*, const char*, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default:
      return SQLITE_DENY;
  }
}

// A few microseconds of work between clock reads: cheap, and a limit overshoots by little.
constexpr int kProgressOps = 1000;

std::string CellText(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return absl::StrCat(sqlite3_column_int64(stmt, column));
    case SQLITE_FLOAT: {
      const double value = sqlite3_column_double(stmt, column);
      if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15) {
        return absl::StrCat(static_cast<int64_t>(value));
      }
      // 15 significant digits: two ways of computing one average may differ in the last bit.
      return absl::StrFormat("%.15g", value);
    }
    case SQLITE_TEXT:
      return absl::StrCat(
          "t:", absl::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt, column)),
                                  sqlite3_column_bytes(stmt, column)));
    case SQLITE_BLOB:
      return absl::StrCat("x:", absl::BytesToHexString(absl::string_view(
                                    static_cast<const char*>(sqlite3_column_blob(stmt, column)),
                                    sqlite3_column_bytes(stmt, column))));
    default:
      return "NULL";
  }
}

QueryResult Failed(QueryResult::Status status, std::string error) {
  QueryResult result;
  result.status = status;
  result.error = std::move(error);
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::FromMySqlDump(
    const std::string& path) {
  absl::StatusOr<std::string> dump = ReadFileToString(path);
  if (!dump.ok()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read database dump ", path, ": ", dump.status().message()));
  }
  absl::StatusOr<std::vector<std::string>> statements = MySqlDumpToSqlite(*dump, path);
  if (!statements.ok()) return statements.status();
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(raw);
    return absl::InternalError(absl::StrCat(path, ": cannot open an in-memory SQLite database"));
  }
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(raw, path));
  int tables = 0;
  std::vector<std::string> all = {"BEGIN"};
  all.insert(all.end(), statements->begin(), statements->end());
  all.push_back("COMMIT");
  // Loaded, the data is never written again: predictions run against what was loaded.
  all.push_back("PRAGMA query_only = ON");
  for (size_t i = 0; i < all.size(); ++i) {
    char* message = nullptr;
    if (sqlite3_exec(raw, all[i].c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string why = message != nullptr ? message : sqlite3_errmsg(raw);
      sqlite3_free(message);
      return absl::InvalidArgumentError(absl::StrCat(path, ": SQLite rejected statement ", i, " (",
                                                     all[i].substr(0, 80), "...): ", why));
    }
    if (absl::StartsWith(absl::AsciiStrToUpper(all[i].substr(0, 12)), "CREATE TABLE")) ++tables;
  }
  if (tables == 0)
    return absl::InvalidArgumentError(absl::StrCat(path, ": no CREATE TABLE in dump"));
  sqlite3_set_authorizer(raw, AllowOnlyReads, nullptr);
  return db;
}

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::OpenFile(const std::string& path) {
  if (!PathExists(path)) {
    return absl::NotFoundError(absl::StrCat("SQLite database not found: ", path));
  }
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string why = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open SQLite database ", path, ": ", why));
  }
  sqlite3_set_authorizer(raw, AllowOnlyReads, nullptr);
  return std::unique_ptr<SqliteDatabase>(new SqliteDatabase(raw, path));
}

SqliteDatabase::~SqliteDatabase() { sqlite3_close(db_); }

QueryResult SqliteDatabase::Execute(absl::string_view sql, absl::Duration time_limit,
                                    size_t max_rows) const {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail) !=
      SQLITE_OK) {
    return Failed(QueryResult::Status::kError, sqlite3_errmsg(db_));
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  if (stmt == nullptr) return Failed(QueryResult::Status::kError, "empty query");
  const absl::string_view rest(tail, sql.data() + sql.size() - tail);
  for (char c : rest) {
    if (c != ';' && !absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return Failed(QueryResult::Status::kError, "more than one statement");
    }
  }
  if (!sqlite3_stmt_readonly(stmt)) {
    return Failed(QueryResult::Status::kError, "not a read-only query");
  }

  QueryResult result;
  result.num_columns = sqlite3_column_count(stmt);
  Deadline deadline{absl::Now() + time_limit};
  sqlite3_progress_handler(db_, kProgressOps, CheckDeadline, &deadline);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (result.rows.size() >= max_rows) {
      rc = SQLITE_TOOBIG;
      break;
    }
    std::vector<std::string> row;
    row.reserve(result.num_columns);
    for (int c = 0; c < result.num_columns; ++c) row.push_back(CellText(stmt, c));
    result.rows.push_back(std::move(row));
  }
  sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  if (rc == SQLITE_DONE) return result;
  if (deadline.expired) {
    return Failed(QueryResult::Status::kTimeout,
                  absl::StrCat("stopped after ", absl::FormatDuration(time_limit)));
  }
  if (rc == SQLITE_TOOBIG) {
    return Failed(QueryResult::Status::kError, absl::StrCat("more than ", max_rows, " rows"));
  }
  return Failed(QueryResult::Status::kError, sqlite3_errmsg(db_));
}

}  // namespace fathom::eval
