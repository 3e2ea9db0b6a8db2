#include "prepare/text2sql_data.h"

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fathom::prepare {
namespace {

using Json = nlohmann::json;

// Variable values are strings in GeoQuery; other datasets may hold numbers, kept as JSON text.
std::string ValueText(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

absl::Status Malformed(const std::string& path, size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": entry ", index, ": ", what));
}

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string NaturalName(absl::string_view name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", " "}});
}

std::string SpiderType(absl::string_view sql_type) {
  const std::string type = absl::AsciiStrToLower(sql_type);
  for (const char* text : {"char", "text"}) {
    if (absl::StrContains(type, text)) return "text";
  }
  for (const char* number : {"int", "float", "double", "decimal", "real", "numeric"}) {
    if (absl::StrContains(type, number)) return "number";
  }
  return "others";
}

}  // namespace

absl::StatusOr<std::vector<Text2SqlEntry>> LoadText2SqlData(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read text2sql-data file ", path, ": ", text.status().message()));
  }
  Json root;
  try {
    root = Json::parse(*text);
  } catch (const Json::exception& e) {
    // parse_error, or out_of_range for a number beyond double ("1e400").
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON: ", e.what()));
  }
  if (!root.is_array()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON array"));
  if (root.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no entries"));

  std::vector<Text2SqlEntry> entries;
  for (size_t i = 0; i < root.size(); ++i) {
    const Json& item = root[i];
    if (!item.is_object()) return Malformed(path, i, "not an object");
    const auto sql = item.find("sql");
    if (sql == item.end() || !sql->is_array() || sql->empty()) {
      return Malformed(path, i, "missing or empty \"sql\" list");
    }
    Text2SqlEntry entry;
    for (const Json& s : *sql) {
      if (!s.is_string()) return Malformed(path, i, "\"sql\" holds a non-string");
      entry.sql.push_back(s.get<std::string>());
    }
    // Json::value throws (type_error) on a field of another type; check first.
    if (const auto split = item.find("query-split"); split != item.end() && !split->is_string())
      return Malformed(path, i, "\"query-split\" is not a string");
    entry.query_split = item.value("query-split", "");
    if (const auto vars = item.find("variables"); vars != item.end() && vars->is_array()) {
      for (const Json& v : *vars) {
        if (!v.is_object() || !v.contains("name"))
          return Malformed(path, i, "variable without name");
        entry.examples[ValueText(v["name"])] = v.contains("example") ? ValueText(v["example"]) : "";
      }
    }
    if (const auto sentences = item.find("sentences");
        sentences != item.end() && sentences->is_array()) {
      for (const Json& s : *sentences) {
        if (!s.is_object()) return Malformed(path, i, "sentence is not an object");
        Text2SqlQuestion question;
        const auto text_field = s.find("text");
        if (text_field != s.end() && !text_field->is_string())
          return Malformed(path, i, "sentence \"text\" is not a string");
        const auto split_field = s.find("question-split");
        if (split_field != s.end() && !split_field->is_string())
          return Malformed(path, i, "sentence \"question-split\" is not a string");
        question.text = s.value("text", "");
        question.split = s.value("question-split", "");
        if (const auto vars = s.find("variables"); vars != s.end() && vars->is_object()) {
          for (const auto& [name, value] : vars->items())
            question.variables[name] = ValueText(value);
        }
        entry.questions.push_back(std::move(question));
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string SubstituteVariables(absl::string_view sql,
                                const std::map<std::string, std::string>& variables) {
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const size_t end = (c == '"' || c == '\'') ? sql.find(c, i + 1) : absl::string_view::npos;
    if (end != absl::string_view::npos) {
      const auto it = variables.find(std::string(sql.substr(i + 1, end - i - 1)));
      if (it != variables.end()) {
        absl::StrAppend(&out, "'", absl::StrReplaceAll(it->second, {{"'", "''"}}), "'");
      } else {
        absl::StrAppend(&out, sql.substr(i, end + 1 - i));
      }
      i = end + 1;
      continue;
    }
    // A bare word, as text2sql-data's scripts split the SQL: on whitespace.
    if (!IsSpace(c) && (i == 0 || IsSpace(sql[i - 1]))) {
      size_t word_end = i;
      while (word_end < sql.size() && !IsSpace(sql[word_end])) ++word_end;
      const auto it = variables.find(std::string(sql.substr(i, word_end - i)));
      if (it != variables.end()) {
        out += it->second;
        i = word_end;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

std::map<std::string, std::string> QuestionVariables(const Text2SqlEntry& entry,
                                                     const Text2SqlQuestion& question) {
  std::map<std::string, std::string> values = entry.examples;
  for (const auto& [name, value] : question.variables) {
    if (!value.empty()) values[name] = value;
  }
  return values;
}

std::string SubstituteQuestion(absl::string_view text,
                               const std::map<std::string, std::string>& variables) {
  std::vector<std::string> words;
  for (absl::string_view word :
       absl::StrSplit(text, absl::ByAnyChar(" \t\n\v\f\r"), absl::SkipEmpty())) {
    const auto it = variables.find(std::string(word));
    words.emplace_back(it != variables.end() ? absl::string_view(it->second) : word);
  }
  return absl::StrJoin(words, " ");
}

std::string Text2SqlDbId(const std::string& json_path) {
  return std::filesystem::path(json_path).stem().string();
}

absl::StatusOr<std::vector<SpiderExample>> LoadText2SqlExamples(const std::string& path,
                                                                const std::string& question_split) {
  ASSIGN_OR_RETURN(const std::vector<Text2SqlEntry> entries, LoadText2SqlData(path));
  const std::string db_id = Text2SqlDbId(path);
  std::vector<SpiderExample> examples;
  std::set<std::string> splits;
  for (const Text2SqlEntry& entry : entries) {
    for (const Text2SqlQuestion& question : entry.questions) {
      splits.insert(question.split);
      if (question.split != question_split) continue;
      const std::map<std::string, std::string> values = QuestionVariables(entry, question);
      SpiderExample example;
      // Whitespace runs become single spaces either way, as SegmentSpiderInput splits them.
      example.question = SubstituteQuestion(question.text, values);
      example.query =
          std::string(absl::StripAsciiWhitespace(SubstituteVariables(entry.sql[0], values)));
      example.db_id = db_id;
      examples.push_back(std::move(example));
    }
  }
  if (examples.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no question of question-split \"", question_split,
                     "\" (its splits: ", absl::StrJoin(splits, ", "), ")"));
  }
  return examples;
}

absl::StatusOr<SpiderSchema> LoadText2SqlSchema(const std::string& path, const std::string& db_id) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read text2sql-data schema ", path, ": ", text.status().message()));
  }
  SpiderSchema schema;
  schema.db_id = db_id;
  schema.source_path = path;
  schema.columns.push_back({"*", "*", "text", -1});
  std::map<std::string, int> tables;  // original name -> index
  std::vector<bool> foreign;          // per column id
  foreign.push_back(false);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line_number == 1 || line.empty()) continue;  // the header
    std::vector<std::string> fields;
    for (absl::string_view field : absl::StrSplit(line, ','))
      fields.emplace_back(absl::StripAsciiWhitespace(field));
    if (fields.size() != 5) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number,
                       ": expected 5 comma-separated fields (table, "
                       "column, primary key y/n, foreign key y/n, type), found ",
                       fields.size()));
    }
    if (fields[0] == "-") continue;  // between tables
    auto [table, added] = tables.emplace(fields[0], static_cast<int>(tables.size()));
    if (added) {
      schema.table_names_original.push_back(fields[0]);
      schema.table_names.push_back(NaturalName(fields[0]));
    }
    const int column = static_cast<int>(schema.columns.size());
    schema.columns.push_back(
        {NaturalName(fields[1]), fields[1], SpiderType(fields[4]), table->second});
    if (absl::AsciiStrToLower(fields[2]) == "y") schema.primary_keys.push_back(column);
    foreign.push_back(absl::AsciiStrToLower(fields[3]) == "y");
  }
  if (schema.table_names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tables"));
  }
  const std::set<int> primary(schema.primary_keys.begin(), schema.primary_keys.end());
  for (size_t c = 1; c < schema.columns.size(); ++c) {
    if (!foreign[c]) continue;
    // The target: a primary-key column of the same name in another table, preferably one that
    // is not itself a foreign key (the table the others point at).
    int target = -1;
    for (size_t d = 1; d < schema.columns.size(); ++d) {
      if (schema.columns[d].table == schema.columns[c].table || primary.count(d) == 0 ||
          !absl::EqualsIgnoreCase(schema.columns[d].name_original,
                                  schema.columns[c].name_original)) {
        continue;
      }
      if (target < 0 || (foreign[target] && !foreign[d])) target = static_cast<int>(d);
    }
    if (target >= 0) schema.foreign_keys.emplace_back(static_cast<int>(c), target);
  }
  return schema;
}

absl::StatusOr<SpiderSchema> Text2SqlSchemaFor(const std::string& schema_path,
                                               const std::string& db_id) {
  if (!schema_path.empty()) return LoadText2SqlSchema(schema_path, db_id);
  SpiderSchema schema;
  schema.db_id = db_id;
  return schema;
}

}  // namespace fathom::prepare
