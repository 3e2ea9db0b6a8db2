// BLEU of the validation split during training: each rank beam-searches its share of the split's
// examples with the model being trained, detokenises with the target SentencePiece model and
// scores against the raw references `fathom prepare` kept (SPLIT.ref.txt), never text rebuilt
// from ids. Ranks all-reduce (SUM) their statistics as one int64 tensor and every rank computes
// the same corpus BLEU, equal to `fathom translate` + `fathom score` (sacreBLEU 13a defaults) on
// the same checkpoint and as many ranks: both decode through DecodeRankShare
// (distributed_decode.h), so the shares and the batches cut from them are the same.
//
// Trainer side, in outline:
//   Setup:    bleu = ValidationBleu::Create(prepared, *valid, relations, spm,
//                                           ValidationDecodeOptions::FromProto(config))
//   Validate: score = bleu->Score(*bleu->DecodeSplit(*model, *comm)).score
#ifndef FATHOM_DECODE_VALIDATION_BLEU_H_
#define FATHOM_DECODE_VALIDATION_BLEU_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "comm/communicator.h"
#include "data/batch.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "data/vocabulary.h"
#include "decode/beam_search.h"
#include "decode/decode_sentences.h"
#include "eval/bleu/bleu.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"

namespace fathom::decode {

// beam: beam 1 is greedy search; the special ids come from the split header.
struct ValidationDecodeOptions : DecodeOptions {
  eval::BleuOptions bleu;  // sacreBLEU's defaults: 13a, mixed case, exp smoothing, order 4

  // eval.beam_size, length_penalty, max_len_a, max_len_b, decode_max_tokens.
  static ValidationDecodeOptions FromProto(const proto::RunConfig& config);
};

// One rank's share of the corpus statistics; they add up across ranks.
struct ValidationBleuStats {
  eval::BleuStats bleu;
  int64_t sentences = 0;
};

// [sentences, hyp_len, ref_len, correct_1..N, total_1..N], int64, 3 + 2N values: the same size
// on every rank for one eval::BleuOptions, ready for an all-reduce SUM.
torch::Tensor ToTensor(const ValidationBleuStats& stats, const torch::Device& device = torch::kCPU);
// The inverse (from any device); an error for a tensor of another dtype, rank or size.
absl::StatusOr<ValidationBleuStats> ValidationBleuStatsFromTensor(const torch::Tensor& tensor);

// The examples of batch plans, in plan order (e.g. a rank's validation-loss batches).
std::vector<int64_t> ExamplesOf(const std::vector<data::BatchPlan>& plans);

// The target SentencePiece model `dataset` (opened from `prepared_dir`) was encoded with, as its
// header names it; an error naming the file when its checksum or size differs from the header's.
absl::StatusOr<data::Vocabulary> LoadSplitTargetVocabulary(const std::string& prepared_dir,
                                                           const data::ShardDataset& dataset,
                                                           const proto::SentencePieceConfig& spm);

class ValidationBleu {
 public:
  // `dataset` (and `relations`, null unless the split has them) were opened from
  // `prepared_dir`; both must outlive this object. Loads the target SentencePiece model the
  // split's header names (its checksum must match) and the split's raw references. Errors name
  // the file: no references, a count other than the examples', an empty reference (BLEU has
  // nothing to match; sacreBLEU refuses it too), a model that differs from the header's.
  static absl::StatusOr<std::unique_ptr<ValidationBleu>> Create(
      const std::string& prepared_dir, const data::ShardDataset& dataset,
      const data::RelationStore* relations, const proto::SentencePieceConfig& spm,
      const ValidationDecodeOptions& options);

  // Decodes this rank's share of the whole split (RankShare) with `model` on the device its
  // parameters are on, and all-reduces the statistics over `comm`: every rank returns those of
  // the whole split. A collective: every rank of `comm` calls it. No gradients; the model's
  // train/eval mode is restored.
  absl::StatusOr<ValidationBleuStats> DecodeSplit(models::Seq2SeqImpl& model,
                                                  comm::Communicator& comm,
                                                  const Progress& progress = nullptr) const;

  // Decodes `examples` (indices into the split) in one process, as DecodeSplit decodes a share,
  // and returns their statistics. Fills `hypotheses` (detokenised, in the order of `examples`)
  // when not null.
  absl::StatusOr<ValidationBleuStats> Decode(models::Seq2SeqImpl& model,
                                             absl::Span<const int64_t> examples,
                                             std::vector<std::string>* hypotheses = nullptr,
                                             const Progress& progress = nullptr) const;

  // Corpus BLEU of (summed) statistics, and sacreBLEU's signature of the options.
  eval::BleuScore Score(const ValidationBleuStats& stats) const {
    return eval::ToScore(stats.bleu, options_.bleu);
  }
  std::string Signature() const { return BleuSignature(options_.bleu, 1); }

  const std::vector<std::string>& references() const { return references_; }
  const ValidationDecodeOptions& options() const { return options_; }

 private:
  ValidationBleu(const data::ShardDataset& dataset, const data::RelationStore* relations,
                 data::Vocabulary target_vocab, std::vector<std::string> references,
                 const ValidationDecodeOptions& options);

  // The statistics of `examples` (ascending) against their references, and their detokenised
  // best hypotheses.
  absl::StatusOr<ValidationBleuStats> Statistics(absl::Span<const int64_t> examples,
                                                 const std::vector<std::vector<Hypothesis>>& hyps,
                                                 std::vector<std::string>* decoded) const;

  const data::ShardDataset& dataset_;
  const data::RelationStore* relations_;
  data::Vocabulary target_vocab_;
  std::vector<std::string> references_;
  ValidationDecodeOptions options_;
  data::SpecialIds special_;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_VALIDATION_BLEU_H_
