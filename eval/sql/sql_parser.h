// Parses the SQL subset of Spider into SqlQuery (sql_ast.h), resolving aliases and columns
// against one database's schema. It accepts what the official parser (taoyds/spider
// process_sql.py) accepts, so that a prediction counted unparseable there is unparseable here:
// SELECT [DISTINCT] with MAX/MIN/COUNT/SUM/AVG and two-column arithmetic; FROM tables and
// subqueries joined by JOIN ... ON, aliases only with AS; WHERE/HAVING conditions of
// [NOT] BETWEEN, =, >, <, >=, <=, !=, [NOT] IN, [NOT] LIKE joined by AND/OR; GROUP BY; ORDER BY
// with ASC/DESC; LIMIT n; one INTERSECT/UNION/EXCEPT per level; subqueries as values.
// Like the official parser it ignores whatever follows a complete query.
//
// Outside that subset, and errors here: comma joins, aliases without AS, column aliases,
// IN (value list), IS NULL, EXISTS, <>, LEFT/INNER JOIN.
//
// Two deliberate differences, both where the official parser is wrong about SQL scoping:
// an alias resolves in the innermost query that defines it (the official parser keeps one
// alias map for the whole query, the last definition winning), and a bare column may resolve
// in an enclosing query's tables. An alias no scope defines falls back to the whole-query map.
#ifndef FATHOM_EVAL_SQL_SQL_PARSER_H_
#define FATHOM_EVAL_SQL_SQL_PARSER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/sql/sql_ast.h"
#include "eval/sql/sql_schema.h"

namespace fathom::eval {

// InvalidArgument naming the problem and the token offset, e.g.
// "unknown column 'nme' in table(s) singer at offset 7 ('nme')".
absl::StatusOr<SqlQuery> ParseSpiderSql(absl::string_view sql, const SqlSchema& schema);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_PARSER_H_
