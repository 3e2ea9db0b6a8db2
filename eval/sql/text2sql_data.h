// Reads the text2sql-data format (jkkummerfeld/text2sql-data: GeoQuery, ATIS, ...): a JSON array
// of entries, each with equivalent SQL queries ("sql"), their placeholders ("variables": name,
// example, type) and the questions asking for them ("sentences", each with its own "variables"
// values). Placeholders appear in the SQL as quoted names ("state_name0"); an executable query is
// the SQL with a question's values put in.
#ifndef FATHOM_EVAL_SQL_TEXT2SQL_DATA_H_
#define FATHOM_EVAL_SQL_TEXT2SQL_DATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::eval {

struct Text2SqlQuestion {
  std::string text;
  std::string split;                             // "question-split"
  std::map<std::string, std::string> variables;  // name -> value
};

struct Text2SqlEntry {
  std::vector<std::string> sql;                 // equivalent forms; the first is the canonical one
  std::string query_split;                      // "query-split"
  std::map<std::string, std::string> examples;  // variable name -> its "example" value
  std::vector<Text2SqlQuestion> questions;
};

// Errors name the file and the entry index.
absl::StatusOr<std::vector<Text2SqlEntry>> LoadText2SqlData(const std::string& path);

// Replaces each quoted placeholder ("name" or 'name') with the value as an SQL string literal
// ('value', quotes doubled). Names absent from `variables` are left alone.
std::string SubstituteVariables(absl::string_view sql,
                                const std::map<std::string, std::string>& variables);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_TEXT2SQL_DATA_H_
