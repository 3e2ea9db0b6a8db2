// Text-to-SQL prediction with a trained checkpoint: Spider JSON (with its tables.json) or a
// text2sql-data question split (GeoQuery, ATIS, with its schema CSV) in, the predicted SQL of
// every question out, in input order, as `SQL<TAB>db_id` lines (Spider's dev_gold.sql format,
// which `fathom sql-eval` reads). Questions are read and encoded as `fathom prepare` reads and
// encodes them (prepare/sql_inputs.h, sql_sources.h), relation ids included, and decoded on
// every rank through DistributedTranslateSources, the one decoding path (DecodeRankShare) of
// `fathom translate` and validation: R ranks give what one gives.
#ifndef FATHOM_DECODE_SQL_PREDICTION_H_
#define FATHOM_DECODE_SQL_PREDICTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "comm/communicator.h"
#include "decode/decode_sentences.h"
#include "decode/model_loader.h"
#include "decode/sql_sources.h"
#include "decode/translator.h"
#include "prepare/sql_inputs.h"

namespace fathom::decode {

struct SqlPredictions {
  std::vector<std::string> sql;     // per example: the best hypothesis (OneLine); empty if none
  std::vector<std::string> db_ids;  // per example
  std::vector<std::string> gold;    // per example its gold SQL from the input (OneLine; may be "")
  int64_t skipped = 0;              // examples that could not be encoded (empty SQL)
  std::vector<std::string> first_skipped;  // the first few of their problems
};

// The sources of `inputs` for `model`: encoded with its source vocabulary and, when its encoder
// is relation-aware, with relation ids (whose vocabulary must be this build's:
// data::kNumRelations, else an error).
absl::StatusOr<SqlSources> SqlSourcesFor(const InferenceModel& model,
                                         const prepare::SqlInputs& inputs);

// Predicts the SQL of every example of `inputs`. A collective: every rank calls it with the same
// inputs and gets every prediction. An example that cannot be encoded (LoadSqlInputs'
// `problem`s, too many segments) is an error naming it with `skip_bad` false, before any
// decoding; with `skip_bad` it is predicted as empty SQL and counted. `progress` counts this
// rank's share.
absl::StatusOr<SqlPredictions> PredictSql(InferenceModel& model, const prepare::SqlInputs& inputs,
                                          const TranslateOptions& options, bool skip_bad,
                                          comm::Communicator& comm,
                                          const Progress& progress = nullptr);

// SQL as one line of a predictions or gold file: tabs, CRs and LFs become spaces (a tab would
// end the SQL field, a line break the example), surrounding whitespace removed.
std::string OneLine(absl::string_view sql);

// `SQL<TAB>db_id\n` per example.
std::string GoldFormat(const std::vector<std::string>& sql, const std::vector<std::string>& db_ids);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_SQL_PREDICTION_H_
