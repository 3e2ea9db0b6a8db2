// model.pretrained_embeddings and model.standardise_pretrained: GloVe-format vectors for the
// pieces of the source vocabulary (data/pretrained_vectors.h). They are read before the model is
// built, because their width is the model's embedding_dim (a projection to d_model is added when
// it differs), and copied into the source embedding table right after the default
// initialisation, so that a scheme's scaling or profiling pass (T-Fixup, DT-Fixup's mu, Admin's
// omegas) sees them. Under TIE_ALL the source table is the target's too. docs/algorithms.md,
// "Pre-trained embedding standardisation".
#ifndef FATHOM_TRAINER_PRETRAINED_EMBEDDINGS_H_
#define FATHOM_TRAINER_PRETRAINED_EMBEDDINGS_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "proto/shard.pb.h"

namespace fathom::trainer {

struct PretrainedEmbeddings {
  std::string path;
  torch::Tensor vectors;  // [V, e] float32, zero rows for pieces not covered
  torch::Tensor covered;  // [V] bool
  int64_t covered_count = 0;
  int64_t file_words = 0;  // vectors in the file
  int64_t width() const { return vectors.size(1); }
};

// Nothing when model.pretrained_embeddings is empty; otherwise the vectors looked up for the
// source vocabulary of `header` (its SentencePiece model in `prepared_dir`). Errors name the file.
absl::StatusOr<std::optional<PretrainedEmbeddings>> LoadConfiguredPretrained(
    const proto::RunConfig& config, const std::string& prepared_dir,
    const proto::ShardHeader& header);

// Copies the vectors into the model's source table, standardised to the std of the random
// initialisation when `standardise`, and logs the coverage. Returns the table's std afterwards.
double ApplyPretrained(models::Seq2SeqImpl& model, const PretrainedEmbeddings& pretrained,
                       bool standardise);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_PRETRAINED_EMBEDDINGS_H_
