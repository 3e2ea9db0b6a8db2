// The parsed form of a Spider SQL query, shaped like the dictionaries of the official evaluation
// (taoyds/spider process_sql.py) so that exact match can compare the same components: a SELECT
// list of (aggregate, value unit), table units, condition lists, GROUP BY columns, one ORDER BY
// direction, a LIMIT and at most one INTERSECT/UNION/EXCEPT per level.
//
// Names are resolved: tables are schema table names and columns "table.column", all lower-case,
// "*" for the star; aliases (T1, T2) are gone. Subqueries are shared immutable nodes, so copying
// a query is cheap and the normalisation in exact_match.cc builds new nodes instead of editing.
#ifndef FATHOM_EVAL_SQL_SQL_AST_H_
#define FATHOM_EVAL_SQL_SQL_AST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fathom::eval {

enum class AggOp { kNone, kMax, kMin, kCount, kSum, kAvg };
enum class UnitOp { kNone, kMinus, kPlus, kTimes, kDivide };
enum class CondOp { kBetween, kEq, kGt, kLt, kGe, kLe, kNe, kIn, kLike, kIs, kExists };
enum class SetOp { kNone, kIntersect, kUnion, kExcept };

struct SqlQuery;
using SqlQueryPtr = std::shared_ptr<const SqlQuery>;

struct ColUnit {
  AggOp agg = AggOp::kNone;
  std::string column;  // "table.column" or "*"
  bool distinct = false;
};

// A column or a binary arithmetic expression of two columns ("t.a - t.b").
struct ValUnit {
  UnitOp op = UnitOp::kNone;
  ColUnit left;
  ColUnit right;  // meaningful only when op != kNone
};

// The right-hand side of a condition. kMasked is the official evaluation's `None`: both an absent
// second operand and a literal or column once values are masked.
struct SqlValue {
  enum class Kind { kMasked, kNumber, kString, kColumn, kQuery };
  Kind kind = Kind::kMasked;
  std::string text;   // kNumber: canonical decimal; kString: the literal with its quotes
  ColUnit column;     // kColumn
  SqlQueryPtr query;  // kQuery
};

struct CondUnit {
  bool negated = false;  // NOT IN, NOT LIKE, NOT BETWEEN
  CondOp op = CondOp::kEq;
  ValUnit left;
  SqlValue value1;
  SqlValue value2;  // BETWEEN's upper bound; kMasked otherwise
};

// cond1 AND cond2 OR cond3 ...: is_or[i] joins units[i] and units[i + 1]. Precedence is not
// modelled (the official metric compares the flat list).
struct Condition {
  std::vector<CondUnit> units;
  std::vector<bool> is_or;
  bool empty() const { return units.empty(); }
};

struct SelectItem {
  AggOp agg = AggOp::kNone;
  ValUnit value;
};

// A schema table, or a subquery in FROM.
struct TableUnit {
  std::string table;
  SqlQueryPtr query;
};

struct SqlQuery {
  bool distinct = false;
  std::vector<SelectItem> select;
  std::vector<TableUnit> from;
  Condition join_on;  // every ON condition of the FROM clause, joined by AND
  Condition where;
  std::vector<ColUnit> group_by;
  Condition having;
  bool order_desc = false;  // one direction per query: the last ASC/DESC written, as officially
  std::vector<ValUnit> order_by;
  std::optional<int64_t> limit;
  SetOp set_op = SetOp::kNone;
  SqlQueryPtr set_rhs;  // the query after INTERSECT/UNION/EXCEPT
};

// Readable canonical SQL, lower-case with resolved names and `value` for masked values, e.g.
// "select count(*) from singer where singer.age > value". Exact match compares these strings
// piece by piece, so two structures print alike exactly when they are equal.
std::string ToSql(const SqlQuery& query);
std::string ToSql(const SelectItem& item);
std::string ToSql(const ValUnit& value);
std::string ToSql(const ColUnit& column);
std::string ToSql(const CondUnit& cond);
std::string ToSql(const Condition& condition);
std::string ToSql(const TableUnit& table);

const char* AggOpName(AggOp op);    // "none", "max", ...
const char* CondOpName(CondOp op);  // "between", "=", ...
const char* SetOpName(SetOp op);    // "", "intersect", ...

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_AST_H_
