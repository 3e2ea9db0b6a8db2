// Validation during training: the loss per target token of the "valid" split over every rank's
// share of it, and its corpus BLEU or Spider exact match when eval.best_metric asks for it.
// Without a validation split the loss is 0 (and BLEU or exact match is refused at Open).
#ifndef FATHOM_TRAINER_VALIDATOR_H_
#define FATHOM_TRAINER_VALIDATOR_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batch.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "decode/validation_bleu.h"
#include "decode/validation_exact_match.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"

namespace fathom::trainer {

struct ValidatorOptions {
  std::string prepared_dir;                  // data.prepared_dir
  data::BatchingOptions batching;            // data.batch, never shuffled
  bool bleu = false;                         // eval.best_metric is BLEU
  bool exact_match = false;                  // eval.best_metric is EXACT_MATCH
  proto::SentencePieceConfig sentencepiece;  // data.sentencepiece, for BLEU and exact match
  std::string spider_tables;                 // data.spider_tables, for exact match
  decode::ValidationDecodeOptions decode;    // eval's decoding options, for both
  // model.max_positions: a valid pair longer than this on either side (EOS/BOS included) is
  // left out of the validation loss, which could not run it (decoding cuts its source).
  int64_t max_positions = 1024;

  static ValidatorOptions FromProto(const proto::RunConfig& config);
};

struct ValidationResult {
  double nll = 0;              // per target token, over all ranks
  std::optional<double> bleu;  // when the options ask for BLEU
  // Spider exact match in percent (0-100), when the options ask for it, with its counts.
  std::optional<double> exact_match;
  decode::ValidationExactMatchStats exact_match_stats;
  double decode_seconds = 0;  // spent decoding for BLEU or exact match
  int64_t sentences = 0;      // in the split
  // The model-selection metric, higher is better: BLEU, exact match, or the negated loss.
  double Metric() const {
    if (bleu.has_value()) return *bleu;
    if (exact_match.has_value()) return *exact_match;
    return -nll;
  }
};

class Validator {
 public:
  // Opens PREPARED/valid when it exists and plans this rank's batches of it once. `special`:
  // the ids the training batches use.
  static absl::StatusOr<std::unique_ptr<Validator>> Open(const ValidatorOptions& options,
                                                         const data::SpecialIds& special,
                                                         comm::Communicator* comm,
                                                         torch::Device device);

  // A collective: every rank validates its share and all get the totals. The model's training
  // mode is restored.
  absl::StatusOr<ValidationResult> Run(models::Seq2SeqImpl& model) const;

 private:
  Validator() = default;
  absl::StatusOr<double> Loss(models::Seq2SeqImpl& model) const;

  comm::Communicator* comm_ = nullptr;
  torch::Device device_ = torch::kCPU;
  data::SpecialIds special_;
  std::unique_ptr<data::ShardDataset> valid_;       // null without a validation split
  std::unique_ptr<data::RelationStore> relations_;  // null unless the split has relations
  std::vector<data::BatchPlan> plan_;               // this rank's validation batches
  std::unique_ptr<decode::ValidationBleu> bleu_;    // when the options ask for BLEU
  std::unique_ptr<decode::ValidationExactMatch> exact_match_;  // when they ask for exact match
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_VALIDATOR_H_
