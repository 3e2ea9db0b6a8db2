// Text-to-SQL questions as decoding sources, for prediction from Spider or text2sql-data files
// (sql_prediction.h): each question with its database's schema encoded by prepare's
// SpiderInputEncoder, the code `fathom prepare` encodes the prepared splits with, so the pieces
// and relation ids are those a prepared split holds (tests/predict_sql_test.cc compares them).
// Batches are laid out as data::MakeBatch lays out a prepared split's and cut to the model's
// positions as ShardSources cuts them, so a relation-aware model sees what validation shows it.
#ifndef FATHOM_DECODE_SQL_SOURCES_H_
#define FATHOM_DECODE_SQL_SOURCES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/vocabulary.h"
#include "decode/decode_sources.h"
#include "prepare/spider_input_encoder.h"
#include "prepare/spider_reader.h"

namespace fathom::decode {

class SqlSources : public DecodeSources {
 public:
  // Encodes every example with `vocab` (the model's source vocabulary). An example with a
  // `problem` (LoadSpiderExamplesForPrediction), or one the encoder refuses, gets no pieces (so it
  // decodes to nothing) and a problem(i) naming it. `special`: the pad and EOS ids the batches use
  // (the target vocabulary's, as in training). `relations`: whether batches carry relation ids
  // (for a relation-aware model).
  SqlSources(const std::vector<prepare::SpiderExample>& examples,
             const prepare::SpiderSchemas& schemas, const data::Vocabulary& vocab,
             const data::SpecialIds& special, bool relations);

  int64_t size() const override { return static_cast<int64_t>(encoded_.size()); }
  int64_t length(int64_t i) const override { return static_cast<int64_t>(encoded_[i].ids.size()); }
  SourceBatch MakeBatch(const std::vector<int64_t>& rows, int64_t width) const override;

  // Example i as encoded: its pieces, their segments and the segment relations.
  const prepare::EncodedSpiderInput& encoded(int64_t i) const { return encoded_[i]; }
  // Why example i could not be encoded ("FILE: element I: ..."); empty when it was.
  const std::string& problem(int64_t i) const { return problems_[i]; }
  int64_t num_problems() const { return num_problems_; }

 private:
  std::vector<prepare::EncodedSpiderInput> encoded_;
  std::vector<std::string> problems_;
  int64_t num_problems_ = 0;
  data::SpecialIds special_;
  bool relations_;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_SQL_SOURCES_H_
