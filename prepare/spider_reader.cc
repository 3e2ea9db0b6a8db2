#include "prepare/spider_reader.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fathom::prepare {
namespace {

using Json = nlohmann::json;

// Messages locate an element as "<file>: element <i>" with a 0-based index, the index jq and
// Python use, so `jq '.[i]' file` shows the culprit.
std::string ElementWhere(const std::string& path, size_t index) {
  return absl::StrCat(path, ": element ", index);
}

absl::Status Malformed(const std::string& where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", std::string(what)));
}

// nlohmann reports the error position as a count of bytes read; editors want line:column, so
// both are given. The column counts UTF-8 code points, not bytes, to match what editors show.
absl::Status JsonSyntaxError(const std::string& path, const std::string& text,
                             const Json::parse_error& e) {
  const size_t offset = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < offset; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  // Drop nlohmann's own "[json.exception...] parse error at line L, column C: " prefix; its
  // position is what we just computed, and the remaining text says what was expected.
  std::string detail = e.what();
  const size_t prefix = detail.find(": ", detail.find("parse error"));
  if (prefix != std::string::npos) detail = detail.substr(prefix + 2);
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: malformed JSON at byte offset %d (line %d, column %d): %s", path, offset,
                      line, column, detail));
}

// Reads `path` and parses it as a JSON document whose top level is an array.
absl::StatusOr<Json> ReadJsonArray(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read Spider file ", path, ": ", std::string(text.status().message())));
  }
  Json doc;
  try {
    doc = Json::parse(*text);
  } catch (const Json::parse_error& e) {
    return JsonSyntaxError(path, *text, e);
  } catch (const Json::exception& e) {
    // The parser's other error: a number beyond double or int64 ("1e400"), out_of_range.406.
    return Malformed(path, absl::StrCat("malformed JSON: ", e.what()));
  }
  if (!doc.is_array()) {
    return Malformed(path, absl::StrCat("top level must be a JSON array, found ", doc.type_name()));
  }
  return doc;
}

absl::StatusOr<const Json*> GetField(const Json& object, const char* field,
                                     const std::string& where) {
  const auto it = object.find(field);
  if (it == object.end()) return Malformed(where, absl::StrCat("field \"", field, "\" missing"));
  return &*it;
}

std::string FieldWhere(const std::string& where, const char* field) {
  return absl::StrCat(where, ": field \"", field, "\"");
}

absl::StatusOr<std::string> GetString(const Json& object, const char* field,
                                      const std::string& where) {
  ASSIGN_OR_RETURN(const Json* value, GetField(object, field, where));
  if (!value->is_string()) {
    return Malformed(FieldWhere(where, field),
                     absl::StrCat("expected a string, found ", value->type_name()));
  }
  return value->get<std::string>();
}

absl::StatusOr<const Json*> GetArray(const Json& object, const char* field,
                                     const std::string& where) {
  ASSIGN_OR_RETURN(const Json* value, GetField(object, field, where));
  if (!value->is_array()) {
    return Malformed(FieldWhere(where, field),
                     absl::StrCat("expected an array, found ", value->type_name()));
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> GetStringList(const Json& object, const char* field,
                                                       const std::string& where) {
  ASSIGN_OR_RETURN(const Json* list, GetArray(object, field, where));
  std::vector<std::string> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    if (!item.is_string()) {
      return Malformed(absl::StrCat(FieldWhere(where, field), "[", i, "]"),
                       absl::StrCat("expected a string, found ", item.type_name()));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// An integer index checked against [lo, hi); `what` names it in the message.
absl::StatusOr<int> GetIndex(const Json& value, int64_t lo, int64_t hi, const std::string& where,
                             absl::string_view what) {
  if (!value.is_number_integer()) {
    return Malformed(where, absl::StrCat("expected an integer ", std::string(what), ", found ",
                                         value.type_name()));
  }
  // Unsigned values beyond int64 would wrap negative; they are out of range either way.
  const int64_t index = value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX
                            ? INT64_MAX
                            : value.get<int64_t>();
  if (index < lo || index >= hi) {
    return Malformed(
        where, absl::StrFormat("%s %d out of range [%d, %d)", std::string(what), index, lo, hi));
  }
  return static_cast<int>(index);
}

// Reads a list of [table index, name] pairs; table indices must lie in [-1, num_tables).
absl::StatusOr<std::vector<std::pair<int, std::string>>> GetColumnList(const Json& object,
                                                                       const char* field,
                                                                       int num_tables,
                                                                       const std::string& where) {
  ASSIGN_OR_RETURN(const Json* list, GetArray(object, field, where));
  std::vector<std::pair<int, std::string>> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string item_where = absl::StrCat(FieldWhere(where, field), "[", i, "]");
    if (!item.is_array() || item.size() != 2 || !item[1].is_string()) {
      return Malformed(item_where, "expected [table index, column name]");
    }
    ASSIGN_OR_RETURN(int table, GetIndex(item[0], -1, num_tables, item_where, "table index"));
    out.emplace_back(table, item[1].get<std::string>());
  }
  return out;
}

// Primary keys are column ids; some Spider versions write a composite key as a nested list,
// which is flattened here.
absl::StatusOr<std::vector<int>> GetPrimaryKeys(const Json& object, int num_columns,
                                                const std::string& where) {
  constexpr const char* kField = "primary_keys";
  ASSIGN_OR_RETURN(const Json* list, GetArray(object, kField, where));
  std::vector<int> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string item_where = absl::StrCat(FieldWhere(where, kField), "[", i, "]");
    if (item.is_array()) {
      for (size_t j = 0; j < item.size(); ++j) {
        ASSIGN_OR_RETURN(int column, GetIndex(item[j], 0, num_columns,
                                              absl::StrCat(item_where, "[", j, "]"), "column id"));
        out.push_back(column);
      }
    } else {
      ASSIGN_OR_RETURN(int column, GetIndex(item, 0, num_columns, item_where, "column id"));
      out.push_back(column);
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<int, int>>> GetForeignKeys(const Json& object, int num_columns,
                                                                const std::string& where) {
  constexpr const char* kField = "foreign_keys";
  ASSIGN_OR_RETURN(const Json* list, GetArray(object, kField, where));
  std::vector<std::pair<int, int>> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string item_where = absl::StrCat(FieldWhere(where, kField), "[", i, "]");
    if (!item.is_array() || item.size() != 2) {
      return Malformed(item_where, "expected [column id, referenced column id]");
    }
    ASSIGN_OR_RETURN(int from, GetIndex(item[0], 0, num_columns, item_where, "column id"));
    ASSIGN_OR_RETURN(int to, GetIndex(item[1], 0, num_columns, item_where, "column id"));
    out.emplace_back(from, to);
  }
  return out;
}

absl::Status CheckSameSize(size_t a, size_t b, const char* field_a, const char* field_b,
                           const std::string& where) {
  if (a == b) return absl::OkStatus();
  return Malformed(where, absl::StrFormat("field \"%s\" has %d entries but \"%s\" has %d", field_b,
                                          b, field_a, a));
}

absl::StatusOr<SpiderSchema> ParseSchema(const Json& object, const std::string& path,
                                         size_t index) {
  std::string where = ElementWhere(path, index);
  if (!object.is_object()) {
    return Malformed(where, absl::StrCat("expected an object, found ", object.type_name()));
  }
  SpiderSchema schema;
  schema.source_path = path;
  ASSIGN_OR_RETURN(schema.db_id, GetString(object, "db_id", where));
  absl::StrAppend(&where, " (db_id \"", schema.db_id, "\")");

  ASSIGN_OR_RETURN(schema.table_names, GetStringList(object, "table_names", where));
  ASSIGN_OR_RETURN(schema.table_names_original,
                   GetStringList(object, "table_names_original", where));
  RETURN_IF_ERROR(CheckSameSize(schema.table_names.size(), schema.table_names_original.size(),
                                "table_names", "table_names_original", where));
  const int num_tables = static_cast<int>(schema.table_names.size());

  ASSIGN_OR_RETURN(auto names, GetColumnList(object, "column_names", num_tables, where));
  ASSIGN_OR_RETURN(auto originals,
                   GetColumnList(object, "column_names_original", num_tables, where));
  ASSIGN_OR_RETURN(auto types, GetStringList(object, "column_types", where));
  RETURN_IF_ERROR(CheckSameSize(names.size(), originals.size(), "column_names",
                                "column_names_original", where));
  RETURN_IF_ERROR(CheckSameSize(names.size(), types.size(), "column_names", "column_types", where));
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].first != originals[i].first) {
      return Malformed(absl::StrCat(FieldWhere(where, "column_names_original"), "[", i, "]"),
                       absl::StrFormat("table index %d differs from column_names[%d]'s %d",
                                       originals[i].first, i, names[i].first));
    }
    schema.columns.push_back(
        {std::move(names[i].second), std::move(originals[i].second), types[i], names[i].first});
  }
  const int num_columns = static_cast<int>(schema.columns.size());
  ASSIGN_OR_RETURN(schema.primary_keys, GetPrimaryKeys(object, num_columns, where));
  ASSIGN_OR_RETURN(schema.foreign_keys, GetForeignKeys(object, num_columns, where));
  return schema;
}

}  // namespace

absl::StatusOr<SpiderSchemas> LoadSpiderTables(const std::string& path) {
  ASSIGN_OR_RETURN(const Json doc, ReadJsonArray(path));
  SpiderSchemas schemas;
  std::map<std::string, size_t> first_index;
  for (size_t i = 0; i < doc.size(); ++i) {
    ASSIGN_OR_RETURN(SpiderSchema schema, ParseSchema(doc[i], path, i));
    const auto [it, inserted] = first_index.emplace(schema.db_id, i);
    if (!inserted) {
      return Malformed(ElementWhere(path, i),
                       absl::StrFormat("duplicate db_id \"%s\" (first at element %d)", schema.db_id,
                                       it->second));
    }
    std::string db_id = schema.db_id;
    schemas.emplace(std::move(db_id), std::move(schema));
  }
  return schemas;
}

namespace {

// One element of an examples file into `example`, which keeps the fields read before an error;
// `tables_path` names the tables file in an unknown-db_id error.
absl::Status ParseExample(const Json& object, const std::string& where,
                          const SpiderSchemas& schemas, const std::string& tables_path,
                          bool require_query, SpiderExample* example) {
  if (!object.is_object()) {
    return Malformed(where, absl::StrCat("expected an object, found ", object.type_name()));
  }
  // db_id first: a prediction that fails still names its database where it can.
  ASSIGN_OR_RETURN(example->db_id, GetString(object, "db_id", where));
  ASSIGN_OR_RETURN(example->question, GetString(object, "question", where));
  if (require_query || object.contains("query")) {
    ASSIGN_OR_RETURN(example->query, GetString(object, "query", where));
  }
  example->question = std::string(absl::StripAsciiWhitespace(example->question));
  example->query = std::string(absl::StripAsciiWhitespace(example->query));
  if (schemas.count(example->db_id) == 0) {
    return Malformed(where, absl::StrFormat("unknown db_id \"%s\" (not among the %d databases of "
                                            "tables file %s)",
                                            example->db_id, schemas.size(), tables_path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SpiderExample>> LoadExamples(const std::string& path,
                                                        const SpiderSchemas& schemas,
                                                        bool for_prediction) {
  ASSIGN_OR_RETURN(const Json doc, ReadJsonArray(path));
  // Schemas remember their file so that an unknown db_id can name the tables file it is
  // missing from: a mismatched train/tables pair is the usual cause.
  const std::string tables_path =
      schemas.empty() ? "(no tables loaded)" : schemas.begin()->second.source_path;
  std::vector<SpiderExample> examples;
  examples.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    SpiderExample example;
    const absl::Status parsed = ParseExample(doc[i], ElementWhere(path, i), schemas, tables_path,
                                             !for_prediction, &example);
    if (!parsed.ok()) {
      if (!for_prediction) return parsed;
      example.problem = std::string(parsed.message());
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace

absl::StatusOr<std::vector<SpiderExample>> LoadSpiderExamples(const std::string& path,
                                                              const SpiderSchemas& schemas) {
  return LoadExamples(path, schemas, /*for_prediction=*/false);
}

absl::StatusOr<std::vector<SpiderExample>> LoadSpiderExamplesForPrediction(
    const std::string& path, const SpiderSchemas& schemas) {
  return LoadExamples(path, schemas, /*for_prediction=*/true);
}

}  // namespace fathom::prepare
