#include "eval/sql/text2sql_data.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file_util.h"

namespace fathom::eval {
namespace {

using Json = nlohmann::json;

// Variable values are strings in GeoQuery; other datasets may hold numbers, kept as JSON text.
std::string ValueText(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

absl::Status Malformed(const std::string& path, size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": entry ", index, ": ", what));
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
    if (end == absl::string_view::npos) {
      out += c;
      ++i;
      continue;
    }
    const auto it = variables.find(std::string(sql.substr(i + 1, end - i - 1)));
    if (it != variables.end()) {
      absl::StrAppend(&out, "'", absl::StrReplaceAll(it->second, {{"'", "''"}}), "'");
    } else {
      absl::StrAppend(&out, sql.substr(i, end + 1 - i));
    }
    i = end + 1;
  }
  return out;
}

}  // namespace fathom::eval
