// Loads a trained model for inference from a checkpoint directory or a run directory (then its
// newest valid checkpoint), with the SentencePiece model(s) the run saved beside it.
#ifndef FATHOM_DECODE_MODEL_LOADER_H_
#define FATHOM_DECODE_MODEL_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "checkpoint/checkpoint_io.h"
#include "data/vocabulary.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"

namespace fathom::decode {

struct InferenceModel {
  models::Seq2Seq model{nullptr};
  std::shared_ptr<data::Vocabulary> source_vocab;
  std::shared_ptr<data::Vocabulary> target_vocab;
  proto::RunConfig config;
  std::string checkpoint_dir;
  std::string run_dir;
  int64_t step = 0;
};

// A checkpoint directory holds meta.pb; a run directory holds checkpoints/. Errors name the
// path: no checkpoint, a corrupt one, a SentencePiece model whose size differs from the
// checkpoint's embedding table.
absl::StatusOr<checkpoint::LoadedCheckpoint> ReadCheckpointOrRun(const std::string& path);
// The model is put on `device` (decoding runs where its parameters are), in eval mode.
absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& path,
                                                  const torch::Device& device = torch::kCPU);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_MODEL_LOADER_H_
