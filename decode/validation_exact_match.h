// Spider exact match of the validation split during training (eval.best_metric: EXACT_MATCH),
// built as validation BLEU is (validation_bleu.h): each rank beam-searches its share of the
// split (DecodeRankShare over the prepared sources, relation ids included), detokenises with the
// target SentencePiece model, and scores each SQL against the gold SQL `fathom prepare` kept
// (SPLIT.ref.txt) on the database the header names, with eval::SpiderExactMatchScorer, the
// scorer of `fathom sql-eval --tables`. Ranks all-reduce (SUM) their counts as one int64 tensor,
// so every rank gets the same figure, equal to `fathom translate --spider_json` + `fathom
// sql-eval` on the same checkpoint, examples and ranks.
//
// Trainer side, in outline:
//   Setup:    em = ValidationExactMatch::Create(prepared, *valid, relations, spm, tables,
//                                               ValidationDecodeOptions::FromProto(config))
//   Validate: percent = em->DecodeSplit(*model, *comm)->Percent()
#ifndef FATHOM_DECODE_VALIDATION_EXACT_MATCH_H_
#define FATHOM_DECODE_VALIDATION_EXACT_MATCH_H_

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "comm/communicator.h"
#include "data/batch.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "data/vocabulary.h"
#include "decode/beam_search.h"
#include "decode/decode_sentences.h"
#include "decode/validation_bleu.h"
#include "eval/sql/spider_hardness.h"
#include "models/seq2seq.h"
#include "prepare/spider_reader.h"
#include "proto/config.pb.h"

namespace fathom::decode {

// One rank's counts; they add up across ranks.
struct ValidationExactMatchStats {
  int64_t sentences = 0;
  int64_t matched = 0;
  int64_t pred_parse_failures = 0;  // predictions the SQL parser refused (counted unmatched)
  std::array<int64_t, eval::kNumSpiderHardness> hardness_total{};    // by the gold's hardness
  std::array<int64_t, eval::kNumSpiderHardness> hardness_matched{};  // easy, medium, hard, extra

  // Exact match in percent of the examples (0 without any): the model-selection metric.
  double Percent() const {
    return sentences > 0 ? 100.0 * static_cast<double>(matched) / sentences : 0.0;
  }
};

// [sentences, matched, pred_parse_failures, hardness_total x4, hardness_matched x4], int64,
// ready for an all-reduce SUM.
torch::Tensor ToTensor(const ValidationExactMatchStats& stats,
                       const torch::Device& device = torch::kCPU);
// The inverse (from any device); an error for a tensor of another dtype, rank or size.
absl::StatusOr<ValidationExactMatchStats> ValidationExactMatchStatsFromTensor(
    const torch::Tensor& tensor);

class ValidationExactMatch {
 public:
  // `dataset` (and `relations`, null unless the split has them) were opened from
  // `prepared_dir`; both must outlive this object. Loads the target SentencePiece model the
  // split's header names (its checksum must match), the split's gold SQL (SPLIT.ref.txt) and
  // Spider's tables (`tables`, data.spider_tables), and parses every gold query once, so that a
  // split the scorer cannot read fails here rather than at the first validation. Errors name the
  // file: no db_ids in the header (not a TEXT_TO_SQL split), an unknown db_id, a gold query
  // that does not parse, a model that differs from the header's.
  static absl::StatusOr<std::unique_ptr<ValidationExactMatch>> Create(
      const std::string& prepared_dir, const data::ShardDataset& dataset,
      const data::RelationStore* relations, const proto::SentencePieceConfig& spm,
      const std::string& tables, const ValidationDecodeOptions& options);

  // Decodes this rank's share of the whole split (RankShare) with `model` on the device its
  // parameters are on, and all-reduces the counts over `comm`: every rank returns those of the
  // whole split. A collective. No gradients; the model's train/eval mode is restored.
  absl::StatusOr<ValidationExactMatchStats> DecodeSplit(models::Seq2SeqImpl& model,
                                                        comm::Communicator& comm,
                                                        const Progress& progress = nullptr) const;

  // Decodes `examples` (indices into the split) in one process, as DecodeSplit decodes a share,
  // and returns their counts. Fills `predictions` (one line of SQL each, as `fathom translate`
  // writes it, in the order of `examples`) when not null.
  absl::StatusOr<ValidationExactMatchStats> Decode(models::Seq2SeqImpl& model,
                                                   absl::Span<const int64_t> examples,
                                                   std::vector<std::string>* predictions = nullptr,
                                                   const Progress& progress = nullptr) const;

  const std::vector<std::string>& references() const { return references_; }
  const ValidationDecodeOptions& options() const { return options_; }

 private:
  ValidationExactMatch(const data::ShardDataset& dataset, const data::RelationStore* relations,
                       data::Vocabulary target_vocab, std::vector<std::string> references,
                       std::string references_file, prepare::SpiderSchemas schemas,
                       const ValidationDecodeOptions& options);

  // The counts of `examples` against their gold SQL, and their predicted SQL lines.
  absl::StatusOr<ValidationExactMatchStats> Statistics(
      absl::Span<const int64_t> examples, const std::vector<std::vector<Hypothesis>>& hyps,
      std::vector<std::string>* predictions) const;

  const data::ShardDataset& dataset_;
  const data::RelationStore* relations_;
  data::Vocabulary target_vocab_;
  std::vector<std::string> references_;
  std::string references_file_;
  prepare::SpiderSchemas schemas_;
  ValidationDecodeOptions options_;
  data::SpecialIds special_;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_VALIDATION_EXACT_MATCH_H_
