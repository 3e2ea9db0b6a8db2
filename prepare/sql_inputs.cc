#include "prepare/sql_inputs.h"

#include <utility>

#include "base/status_macros.h"
#include "prepare/text2sql_data.h"

namespace fathom::prepare {

SqlInputFiles SqlInputFiles::FromSplit(const proto::DataConfig& data,
                                       const proto::DataSplit& split) {
  SqlInputFiles files;
  if (!split.spider_json().empty()) {
    files.spider_json = split.spider_json();
    files.spider_tables = data.spider_tables();
  } else {
    files.text2sql_json = split.text2sql_json();
    files.text2sql_split = split.text2sql_split().empty() ? split.name() : split.text2sql_split();
    files.text2sql_schema = data.text2sql_schema();
  }
  return files;
}

absl::StatusOr<SqlInputs> LoadSqlInputs(const SqlInputFiles& files, bool for_prediction) {
  SqlInputs inputs;
  if (!files.spider_json.empty()) {
    ASSIGN_OR_RETURN(inputs.schemas, LoadSpiderTables(files.spider_tables));
    if (for_prediction) {
      ASSIGN_OR_RETURN(inputs.examples,
                       LoadSpiderExamplesForPrediction(files.spider_json, inputs.schemas));
    } else {
      ASSIGN_OR_RETURN(inputs.examples, LoadSpiderExamples(files.spider_json, inputs.schemas));
    }
    return inputs;
  }
  ASSIGN_OR_RETURN(inputs.examples,
                   LoadText2SqlExamples(files.text2sql_json, files.text2sql_split));
  const std::string db_id = Text2SqlDbId(files.text2sql_json);
  ASSIGN_OR_RETURN(SpiderSchema schema, Text2SqlSchemaFor(files.text2sql_schema, db_id));
  inputs.schemas.emplace(db_id, std::move(schema));
  return inputs;
}

}  // namespace fathom::prepare
