// One Spider database's schema as the SQL parser and exact match need it: which tables exist,
// which columns each has (lower-cased original names, the names SQL uses) and the official
// evaluation's foreign-key map, which lets a join column stand for the column it references.
#ifndef FATHOM_EVAL_SQL_SQL_SCHEMA_H_
#define FATHOM_EVAL_SQL_SQL_SCHEMA_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "prepare/spider_reader.h"

namespace fathom::eval {

class SqlSchema {
 public:
  explicit SqlSchema(const prepare::SpiderSchema& schema);

  const std::string& db_id() const { return db_id_; }
  // Arguments are lower-case (the tokenizer lower-cases words).
  bool HasTable(const std::string& table) const { return columns_.count(table) > 0; }
  bool HasColumn(const std::string& table, const std::string& column) const;
  const std::vector<std::string>& Columns(const std::string& table) const;

  // "table.column" -> the representative of its foreign-key group, built as
  // evaluation.py's build_foreign_key_map does: each key pair joins the first existing group
  // holding either column (groups are not merged further), and every member maps to the member
  // with the smallest Spider column id. Columns in no foreign key are absent.
  const std::map<std::string, std::string>& foreign_key_map() const { return foreign_key_map_; }

 private:
  std::string db_id_;
  std::map<std::string, std::vector<std::string>> columns_;  // table -> columns, schema order
  std::map<std::string, std::set<std::string>> column_sets_;
  std::map<std::string, std::string> foreign_key_map_;
};

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_SCHEMA_H_
