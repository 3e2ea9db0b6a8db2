// Reads the Spider text-to-SQL release (tables.json and the examples files); spider_segments.h
// turns a question plus its database schema into the model's input. Every structural problem is
// reported with the file and the element (and byte offset for malformed JSON), because the files
// are hand-edited JSON arrays that are hard to bisect by eye.
#ifndef FATHOM_PREPARE_SPIDER_READER_H_
#define FATHOM_PREPARE_SPIDER_READER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fathom::prepare {

struct SpiderColumn {
  std::string name;           // natural-language name, e.g. "stadium id"
  std::string name_original;  // as in the SQL, e.g. "Stadium_ID"
  std::string type;           // "text", "number", "time", "boolean", "others"
  int table = -1;             // index into table_names; -1 only for "*"
};

struct SpiderSchema {
  std::string db_id;
  std::vector<std::string> table_names, table_names_original;
  std::vector<SpiderColumn> columns;              // index = Spider column id, column 0 is "*"
  std::vector<int> primary_keys;                  // column ids; composite keys are flattened
  std::vector<std::pair<int, int>> foreign_keys;  // (column id, referenced column id)
  std::string source_path;  // the tables file it came from, so later errors can name it
};

using SpiderSchemas = std::map<std::string, SpiderSchema>;  // by db_id

// Reads tables.json. Fails on a duplicate db_id, on table/column lists of different lengths and
// on any table or column index out of range.
absl::StatusOr<SpiderSchemas> LoadSpiderTables(const std::string& path);

struct SpiderExample {
  std::string question;  // surrounding whitespace stripped, otherwise as in the file (UTF-8)
  std::string query;     // likewise
  std::string db_id;
  // LoadSpiderExamplesForPrediction only: why the element is no usable example ("FILE: element
  // I: ..."); empty when it is one.
  std::string problem;
};

// Reads a Spider examples file (train_spider.json, dev.json, ...); every db_id must be in
// `schemas`. Fields other than question, query and db_id are ignored.
absl::StatusOr<std::vector<SpiderExample>> LoadSpiderExamples(const std::string& path,
                                                              const SpiderSchemas& schemas);

// For prediction, where every element gives one output line: the same reading, but "query" may
// be absent (a test set without gold SQL), and an element that is no usable example (not an
// object, no question or db_id, an unknown db_id) is returned with `problem` set and whatever
// fields it has, rather than failing the file. A file that is no JSON array still fails.
absl::StatusOr<std::vector<SpiderExample>> LoadSpiderExamplesForPrediction(
    const std::string& path, const SpiderSchemas& schemas);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SPIDER_READER_H_
