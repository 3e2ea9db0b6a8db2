#include "eval/sql/spider_hardness.h"

namespace fathom::eval {
namespace {

// ON, WHERE and HAVING, the conditions the official counters look at.
template <typename F>
void ForEachCondition(const SqlQuery& sql, F f) {
  f(sql.join_on);
  f(sql.where);
  f(sql.having);
}

// Joins, clauses, ORs and LIKEs.
int CountComponent1(const SqlQuery& sql) {
  int count = 0;
  if (!sql.where.empty()) ++count;
  if (!sql.group_by.empty()) ++count;
  if (!sql.order_by.empty()) ++count;
  if (sql.limit.has_value()) ++count;
  if (!sql.from.empty()) count += static_cast<int>(sql.from.size()) - 1;
  ForEachCondition(sql, [&](const Condition& c) {
    for (bool is_or : c.is_or) count += is_or ? 1 : 0;
    for (const CondUnit& unit : c.units) count += unit.op == CondOp::kLike ? 1 : 0;
  });
  return count;
}

// Subqueries used as values, plus an INTERSECT/UNION/EXCEPT.
int CountComponent2(const SqlQuery& sql) {
  int count = 0;
  ForEachCondition(sql, [&](const Condition& c) {
    for (const CondUnit& unit : c.units) {
      if (unit.value1.kind == SqlValue::Kind::kQuery) ++count;
      if (unit.value2.kind == SqlValue::Kind::kQuery) ++count;
    }
  });
  if (sql.set_op != SetOp::kNone) ++count;
  return count;
}

int CountOthers(const SqlQuery& sql) {
  int aggs = 0;
  for (const SelectItem& item : sql.select) aggs += item.agg != AggOp::kNone ? 1 : 0;
  // Officially has_agg() reads a condition's first field, which is its NOT flag.
  for (const CondUnit& unit : sql.where.units) aggs += unit.negated ? 1 : 0;
  for (const ColUnit& column : sql.group_by) aggs += column.agg != AggOp::kNone ? 1 : 0;
  for (const ValUnit& value : sql.order_by) {
    aggs += value.left.agg != AggOp::kNone ? 1 : 0;
    if (value.op != UnitOp::kNone) aggs += value.right.agg != AggOp::kNone ? 1 : 0;
  }
  // ... and HAVING is counted element by element, so its connectors count too.
  for (const CondUnit& unit : sql.having.units) aggs += unit.negated ? 1 : 0;
  aggs += static_cast<int>(sql.having.is_or.size());

  int count = 0;
  if (aggs > 1) ++count;
  if (sql.select.size() > 1) ++count;
  if (sql.where.units.size() > 1) ++count;
  if (sql.group_by.size() > 1) ++count;
  return count;
}

}  // namespace

const char* HardnessName(SpiderHardness hardness) {
  static constexpr const char* kNames[] = {"easy", "medium", "hard", "extra"};
  return kNames[static_cast<int>(hardness)];
}

SpiderHardness ClassifyHardness(const SqlQuery& gold) {
  const int c1 = CountComponent1(gold);
  const int c2 = CountComponent2(gold);
  const int others = CountOthers(gold);
  if (c1 <= 1 && others == 0 && c2 == 0) return SpiderHardness::kEasy;
  if ((others <= 2 && c1 <= 1 && c2 == 0) || (c1 <= 2 && others < 2 && c2 == 0)) {
    return SpiderHardness::kMedium;
  }
  if ((others > 2 && c1 <= 2 && c2 == 0) || (2 < c1 && c1 <= 3 && others <= 2 && c2 == 0) ||
      (c1 <= 1 && others == 0 && c2 <= 1)) {
    return SpiderHardness::kHard;
  }
  return SpiderHardness::kExtra;
}

}  // namespace fathom::eval
