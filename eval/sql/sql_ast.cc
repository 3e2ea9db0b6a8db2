#include "eval/sql/sql_ast.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fathom::eval {
namespace {

const char* UnitOpSymbol(UnitOp op) {
  switch (op) {
    case UnitOp::kMinus:
      return "-";
    case UnitOp::kPlus:
      return "+";
    case UnitOp::kTimes:
      return "*";
    case UnitOp::kDivide:
      return "/";
    case UnitOp::kNone:
      break;
  }
  return "";
}

std::string ValueToSql(const SqlValue& value) {
  switch (value.kind) {
    case SqlValue::Kind::kMasked:
      return "value";
    case SqlValue::Kind::kNumber:
    case SqlValue::Kind::kString:
      return value.text;
    case SqlValue::Kind::kColumn:
      return ToSql(value.column);
    case SqlValue::Kind::kQuery:
      return absl::StrCat("(", ToSql(*value.query), ")");
  }
  return "";
}

}  // namespace

const char* AggOpName(AggOp op) {
  static constexpr const char* kNames[] = {"none", "max", "min", "count", "sum", "avg"};
  return kNames[static_cast<int>(op)];
}

const char* CondOpName(CondOp op) {
  static constexpr const char* kNames[] = {
      "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists"};
  return kNames[static_cast<int>(op)];
}

const char* SetOpName(SetOp op) {
  static constexpr const char* kNames[] = {"", "intersect", "union", "except"};
  return kNames[static_cast<int>(op)];
}

std::string ToSql(const ColUnit& column) {
  const std::string inner = absl::StrCat(column.distinct ? "distinct " : "", column.column);
  if (column.agg == AggOp::kNone) return inner;
  return absl::StrCat(AggOpName(column.agg), "(", inner, ")");
}

std::string ToSql(const ValUnit& value) {
  if (value.op == UnitOp::kNone) return ToSql(value.left);
  return absl::StrCat(ToSql(value.left), " ", UnitOpSymbol(value.op), " ", ToSql(value.right));
}

std::string ToSql(const SelectItem& item) {
  if (item.agg == AggOp::kNone) return ToSql(item.value);
  return absl::StrCat(AggOpName(item.agg), "(", ToSql(item.value), ")");
}

std::string ToSql(const CondUnit& cond) {
  std::string out = absl::StrCat(ToSql(cond.left), cond.negated ? " not " : " ",
                                 CondOpName(cond.op), " ", ValueToSql(cond.value1));
  if (cond.op == CondOp::kBetween) absl::StrAppend(&out, " and ", ValueToSql(cond.value2));
  return out;
}

std::string ToSql(const Condition& condition) {
  std::string out;
  for (size_t i = 0; i < condition.units.size(); ++i) {
    if (i > 0) absl::StrAppend(&out, condition.is_or[i - 1] ? " or " : " and ");
    absl::StrAppend(&out, ToSql(condition.units[i]));
  }
  return out;
}

std::string ToSql(const TableUnit& table) {
  if (table.query != nullptr) return absl::StrCat("(", ToSql(*table.query), ")");
  return table.table;
}

std::string ToSql(const SqlQuery& query) {
  std::string out = query.distinct ? "select distinct " : "select ";
  absl::StrAppend(&out, absl::StrJoin(query.select, ", ", [](std::string* o, const SelectItem& s) {
    absl::StrAppend(o, ToSql(s));
  }));
  absl::StrAppend(&out, " from ",
                  absl::StrJoin(query.from, " join ", [](std::string* o, const TableUnit& t) {
                    absl::StrAppend(o, ToSql(t));
                  }));
  if (!query.join_on.empty()) absl::StrAppend(&out, " on ", ToSql(query.join_on));
  if (!query.where.empty()) absl::StrAppend(&out, " where ", ToSql(query.where));
  if (!query.group_by.empty()) {
    absl::StrAppend(&out, " group by ",
                    absl::StrJoin(query.group_by, ", ", [](std::string* o, const ColUnit& c) {
                      absl::StrAppend(o, ToSql(c));
                    }));
  }
  if (!query.having.empty()) absl::StrAppend(&out, " having ", ToSql(query.having));
  if (!query.order_by.empty()) {
    absl::StrAppend(
        &out, " order by ",
        absl::StrJoin(query.order_by, ", ",
                      [](std::string* o, const ValUnit& v) { absl::StrAppend(o, ToSql(v)); }),
        query.order_desc ? " desc" : " asc");
  }
  if (query.limit.has_value()) absl::StrAppend(&out, " limit ", *query.limit);
  if (query.set_op != SetOp::kNone && query.set_rhs != nullptr) {
    absl::StrAppend(&out, " ", SetOpName(query.set_op), " ", ToSql(*query.set_rhs));
  }
  return out;
}

}  // namespace fathom::eval
