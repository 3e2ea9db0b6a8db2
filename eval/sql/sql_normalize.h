// Rewrites a parsed query the way the official Spider evaluation does before exact match
// (evaluation.py: rebuild_sql_val, rebuild_sql_col), so that the comparison ignores what the
// metric deliberately ignores:
//  - values: every literal and right-hand column in ON/WHERE/HAVING becomes `value`, in the query,
//    in subqueries used as values and after INTERSECT/UNION/EXCEPT (not in FROM subqueries);
//  - DISTINCT, on the SELECT list and inside aggregates;
//  - foreign keys: a column of a FROM table that is in a foreign-key group is replaced by the
//    group's representative (sql_schema.h), so "T2.singer_id" and "T1.singer_id" agree.
// The last two apply to the query's own clauses and its INTERSECT/UNION/EXCEPT right-hand side
// (with the left query's FROM tables), not inside subqueries, exactly as officially.
#ifndef FATHOM_EVAL_SQL_SQL_NORMALIZE_H_
#define FATHOM_EVAL_SQL_SQL_NORMALIZE_H_

#include "eval/sql/sql_ast.h"
#include "eval/sql/sql_schema.h"

namespace fathom::eval {

SqlQuery NormalizeForExactMatch(const SqlQuery& query, const SqlSchema& schema);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_NORMALIZE_H_
