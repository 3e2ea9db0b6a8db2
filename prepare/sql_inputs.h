// The questions and schemas of a text-to-SQL split, from either format: Spider JSON with its
// tables.json, or one question split of a text2sql-data file (GeoQuery, ATIS) with its schema CSV.
// `fathom prepare` reads its splits here and text-to-SQL prediction (decode/sql_sources.h) reads
// its input here, so both build model inputs from the same examples and schemas.
#ifndef FATHOM_PREPARE_SQL_INPUTS_H_
#define FATHOM_PREPARE_SQL_INPUTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prepare/spider_reader.h"
#include "proto/config.pb.h"

namespace fathom::prepare {

struct SqlInputFiles {
  std::string spider_json;      // Spider examples (question, query, db_id) ...
  std::string spider_tables;    // ... and the schemas of their db_ids
  std::string text2sql_json;    // or a text2sql-data file ...
  std::string text2sql_split;   // ... its "question-split" to read ("train", "dev", "test") ...
  std::string text2sql_schema;  // ... and its schema CSV; empty: question and db_id alone

  // data.split[i]'s files: spider_json with data.spider_tables, or text2sql_json with
  // text2sql_split (the split's name when empty) and data.text2sql_schema.
  static SqlInputFiles FromSplit(const proto::DataConfig& data, const proto::DataSplit& split);
  // The examples file, for messages and shard headers.
  const std::string& examples_path() const {
    return spider_json.empty() ? text2sql_json : spider_json;
  }
  // The schema file, for shard headers; empty when there is none.
  const std::string& schema_path() const {
    return spider_json.empty() ? text2sql_schema : spider_tables;
  }
};

struct SqlInputs {
  std::vector<SpiderExample> examples;  // in file order
  SpiderSchemas schemas;                // every db_id of `examples` (Spider: the whole file)
};

// Reads both files. `for_prediction`: a Spider element that is no usable example is kept with
// its `problem` set (LoadSpiderExamplesForPrediction) instead of failing. Errors name the file.
absl::StatusOr<SqlInputs> LoadSqlInputs(const SqlInputFiles& files, bool for_prediction);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SQL_INPUTS_H_
