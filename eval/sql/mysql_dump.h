// Turns a mysqldump file (GeoQuery's geography-db.sql, the text2sql-data databases) into
// statements SQLite runs. What is adapted:
//  - comments, including MySQL's executable /*!NNNNN ... */ ones, are dropped: they only hold
//    session SETs (character sets, key checks) that SQLite neither has nor needs;
//  - LOCK TABLES / UNLOCK TABLES and SET statements are dropped;
//  - CREATE TABLE loses its table options after the column list (ENGINE=..., DEFAULT
//    CHARSET=..., AUTO_INCREMENT=...), its plain KEY/INDEX lines and column AUTO_INCREMENT;
//    `UNIQUE KEY name (cols)` becomes `UNIQUE (cols)`;
//  - string escapes \' \" \\ \n \r \t \0 become SQLite's ('' for a quote, the character itself
//    otherwise), since SQLite strings have no backslash escapes.
// Backquoted names, int(11), varchar(3), double and the like need nothing: SQLite accepts them.
// Any other statement kind is an error naming the file and the statement, rather than a table
// that silently goes missing.
#ifndef FATHOM_EVAL_SQL_MYSQL_DUMP_H_
#define FATHOM_EVAL_SQL_MYSQL_DUMP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::eval {

// `path` is only used in error messages.
absl::StatusOr<std::vector<std::string>> MySqlDumpToSqlite(absl::string_view dump,
                                                           const std::string& path);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_MYSQL_DUMP_H_
