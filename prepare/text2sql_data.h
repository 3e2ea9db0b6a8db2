// Reads the text2sql-data format (jkkummerfeld/text2sql-data: GeoQuery, ATIS, ...): a JSON array
// of entries, each with equivalent SQL queries ("sql"), their placeholders ("variables": name,
// example, type) and the questions asking for them ("sentences", each with its own "variables"
// values). Placeholders appear in the questions as words and in the SQL as quoted names
// ("state_name0") or, for numbers, bare words; an executable query is the SQL with a question's
// values put in. The schema comes as a CSV (geography-schema.csv).
//
// `fathom prepare` (question split) and text-to-SQL prediction (decode/sql_sources.h) both turn
// it into SpiderExamples and a SpiderSchema here, so that the model input is built the same way
// as Spider's (spider_segments.h, spider_relations.h); eval/sql executes the gold queries.
#ifndef FATHOM_PREPARE_TEXT2SQL_DATA_H_
#define FATHOM_PREPARE_TEXT2SQL_DATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prepare/spider_reader.h"

namespace fathom::prepare {

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
// ('value', quotes doubled), and each bare whitespace-separated word that is a placeholder (ATIS
// writes numbers so: `DAY_NUMBER = day_number0`) with the value as it is. Names absent from
// `variables` are left alone.
std::string SubstituteVariables(absl::string_view sql,
                                const std::map<std::string, std::string>& variables);

// The values of a question's placeholders as text2sql-data's own scripts take them: the
// question's value where it has a non-empty one, else the entry's "example" value.
std::map<std::string, std::string> QuestionVariables(const Text2SqlEntry& entry,
                                                     const Text2SqlQuestion& question);

// A question with its placeholders filled in as text2sql-data's scripts do: split on whitespace,
// a word that is a placeholder name replaced by the value, joined by single spaces.
std::string SubstituteQuestion(absl::string_view text,
                               const std::map<std::string, std::string>& variables);

// The database name of a text2sql-data file: its file name without directory and extension
// ("data/geography.json" -> "geography"). It is part of the model input (as Spider's db_id is),
// so a model predicts from a file of the name it was prepared from.
std::string Text2SqlDbId(const std::string& json_path);

// The questions of one question split ("train", "dev", "test"), in file order (entry by entry,
// sentence by sentence): each question with its values put in, its query the entry's first SQL
// with the same values (SubstituteVariables), its db_id Text2SqlDbId(path). A split no question
// belongs to is an error naming the file and the splits it has.
absl::StatusOr<std::vector<SpiderExample>> LoadText2SqlExamples(const std::string& path,
                                                                const std::string& question_split);

// text2sql-data's schema CSV: a header line, then `TABLE, COLUMN, PRIMARY y/n, FOREIGN y/n, TYPE`
// per column, tables in runs (a `-, -, -, -, -` line between them). As a SpiderSchema: names
// as written (table_names_original), natural names lower-cased with '_' as spaces, column 0
// "*", types "text" (char/text) or "number" (int/float/double/decimal) or "others", primary keys
// from the flags. The CSV names no referenced column, so a foreign-key column refers to the
// primary-key column of the same name in another table, where there is one.
absl::StatusOr<SpiderSchema> LoadText2SqlSchema(const std::string& path, const std::string& db_id);

// The schema the input of `db_id` is built from: LoadText2SqlSchema(schema_path), or without a
// schema file (ATIS ships none here) one with the db_id alone: the input is then the question
// and the db_id.
absl::StatusOr<SpiderSchema> Text2SqlSchemaFor(const std::string& schema_path,
                                               const std::string& db_id);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_TEXT2SQL_DATA_H_
