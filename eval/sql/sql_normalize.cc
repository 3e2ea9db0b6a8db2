#include "eval/sql/sql_normalize.h"

#include <map>
#include <memory>
#include <set>
#include <string>

namespace fathom::eval {
namespace {

SqlQuery MaskValues(const SqlQuery& query);

SqlValue MaskValue(const SqlValue& value) {
  if (value.kind == SqlValue::Kind::kQuery) {
    SqlValue masked = value;
    masked.query = std::make_shared<const SqlQuery>(MaskValues(*value.query));
    return masked;
  }
  return SqlValue();
}

void MaskCondition(Condition& condition) {
  for (CondUnit& unit : condition.units) {
    unit.value1 = MaskValue(unit.value1);
    unit.value2 = MaskValue(unit.value2);
  }
}

SqlQuery MaskValues(const SqlQuery& query) {
  SqlQuery out = query;
  MaskCondition(out.join_on);
  MaskCondition(out.where);
  MaskCondition(out.having);
  if (out.set_rhs != nullptr)
    out.set_rhs = std::make_shared<const SqlQuery>(MaskValues(*out.set_rhs));
  return out;
}

class ColumnRebuilder {
 public:
  ColumnRebuilder(const SqlQuery& top, const SqlSchema& schema)
      : foreign_keys_(schema.foreign_key_map()) {
    // Only columns of the top query's FROM tables are mapped (build_valid_col_units).
    for (const TableUnit& table : top.from) {
      if (table.query == nullptr) valid_tables_.insert(table.table);
    }
  }

  SqlQuery Rebuild(const SqlQuery& query) const {
    SqlQuery out = query;
    out.distinct = false;
    for (SelectItem& item : out.select) Rebuild(item.value);
    Rebuild(out.join_on);
    Rebuild(out.where);
    Rebuild(out.having);
    for (ColUnit& column : out.group_by) Rebuild(column);
    for (ValUnit& value : out.order_by) Rebuild(value);
    if (out.set_rhs != nullptr)
      out.set_rhs = std::make_shared<const SqlQuery>(Rebuild(*out.set_rhs));
    return out;
  }

 private:
  void Rebuild(ColUnit& column) const {
    column.distinct = false;
    const auto it = foreign_keys_.find(column.column);
    if (it == foreign_keys_.end()) return;
    const std::string table = column.column.substr(0, column.column.find('.'));
    if (valid_tables_.count(table) > 0) column.column = it->second;
  }
  void Rebuild(ValUnit& value) const {
    Rebuild(value.left);
    if (value.op != UnitOp::kNone) Rebuild(value.right);
  }
  // Only the left-hand side: values (including subqueries) are not rebuilt officially.
  void Rebuild(Condition& condition) const {
    for (CondUnit& unit : condition.units) Rebuild(unit.left);
  }

  const std::map<std::string, std::string>& foreign_keys_;
  std::set<std::string> valid_tables_;
};

}  // namespace

SqlQuery NormalizeForExactMatch(const SqlQuery& query, const SqlSchema& schema) {
  return ColumnRebuilder(query, schema).Rebuild(MaskValues(query));
}

}  // namespace fathom::eval
