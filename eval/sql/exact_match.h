// Spider's exact-set match (taoyds/spider evaluation.py, eval_exact_match): two queries match
// when, after normalisation (sql_normalize.h: values masked, DISTINCT dropped, foreign keys
// mapped), every component below agrees and they read the same FROM tables. Components that are
// sets compare as multisets, so column and condition order do not matter there:
//   select            SELECT items (aggregate + expression), as a multiset
//   select(no AGG)    the same without aggregates
//   where             WHERE conditions (column, NOT, operator, subquery value), as a multiset
//   where(no OP)      their left-hand sides only
//   group(no Having)  GROUP BY column names without their table, as a multiset
//   group             GROUP BY columns in order, with HAVING as written (order matters)
//   order             ORDER BY expressions in order and direction, and whether both LIMIT
//   and/or            the set of connectors used in WHERE
//   IUEN              INTERSECT/UNION/EXCEPT: same operator and a recursive exact match
//   keywords          the set of clauses and operators used (where, group, order, asc, or, ...)
// A subquery used as a value is compared whole (values masked, but DISTINCT and foreign keys
// kept), as officially. Prediction that does not parse: compared as an empty query, so it never
// matches and its reason is kept.
#ifndef FATHOM_EVAL_SQL_EXACT_MATCH_H_
#define FATHOM_EVAL_SQL_EXACT_MATCH_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/sql/spider_hardness.h"
#include "eval/sql/sql_ast.h"
#include "eval/sql/sql_schema.h"

namespace fathom::eval {

inline constexpr int kNumExactMatchComponents = 10;
// The official report's names and order.
inline constexpr const char* kExactMatchComponents[kNumExactMatchComponents] = {
    "select", "select(no AGG)", "where",  "where(no OP)", "group(no Having)",
    "group",  "order",          "and/or", "IUEN",         "keywords"};

struct ComponentMatch {
  int gold_total = 0;  // items of the component in the gold / predicted query
  int pred_total = 0;
  bool match = false;  // the official f1 == 1
};

using ComponentMatches = std::array<ComponentMatch, kNumExactMatchComponents>;

struct ExactMatchResult {
  bool match = false;
  bool pred_parsed = false;
  std::string pred_error;  // why the prediction did not parse; empty when it did
  ComponentMatches components;
  bool tables_match = false;                        // same FROM table units (as a multiset)
  SpiderHardness hardness = SpiderHardness::kEasy;  // of the gold query
  // Normalised SQL (ToSql of the normalised query), for logs and diffs.
  std::string gold_normalized;
  std::string pred_normalized;
};

// Compares two normalised queries; fills `components` and `tables_match` when not null.
bool ExactSetMatch(const SqlQuery& pred, const SqlQuery& gold, ComponentMatches* components,
                   bool* tables_match);

// Parses both against `schema`, normalises and compares. Fails only when the gold query does
// not parse (then the gold, not the prediction, is wrong).
absl::StatusOr<ExactMatchResult> SpiderExactMatch(absl::string_view pred_sql,
                                                  absl::string_view gold_sql,
                                                  const SqlSchema& schema);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_EXACT_MATCH_H_
