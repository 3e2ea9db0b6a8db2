#include "eval/sql/sql_schema.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace fathom::eval {

SqlSchema::SqlSchema(const prepare::SpiderSchema& schema) : db_id_(schema.db_id) {
  std::vector<std::string> tables;
  for (const std::string& table : schema.table_names_original) {
    tables.push_back(absl::AsciiStrToLower(table));
    columns_[tables.back()];  // a table without columns still exists
  }
  // Column id -> "table.column"; "*" (id 0) belongs to no table.
  std::vector<std::string> qualified;
  for (const prepare::SpiderColumn& column : schema.columns) {
    if (column.table < 0) {
      qualified.push_back("*");
      continue;
    }
    const std::string& table = tables[column.table];
    const std::string name = absl::AsciiStrToLower(column.name_original);
    columns_[table].push_back(name);
    column_sets_[table].insert(name);
    qualified.push_back(absl::StrCat(table, ".", name));
  }

  std::vector<std::set<int>> groups;
  for (const auto& [from, to] : schema.foreign_keys) {
    std::set<int>* group = nullptr;
    for (std::set<int>& g : groups) {
      if (g.count(from) > 0 || g.count(to) > 0) {
        group = &g;
        break;
      }
    }
    if (group == nullptr) group = &groups.emplace_back();
    group->insert(from);
    group->insert(to);
  }
  for (const std::set<int>& group : groups) {
    for (int id : group) foreign_key_map_[qualified[id]] = qualified[*group.begin()];
  }
}

bool SqlSchema::HasColumn(const std::string& table, const std::string& column) const {
  const auto it = column_sets_.find(table);
  return it != column_sets_.end() && it->second.count(column) > 0;
}

const std::vector<std::string>& SqlSchema::Columns(const std::string& table) const {
  static const std::vector<std::string>* const kNone = new std::vector<std::string>();
  const auto it = columns_.find(table);
  return it == columns_.end() ? *kNone : it->second;
}

}  // namespace fathom::eval
