// `fathom average`: the element-wise mean of several checkpoints' model weights (Vaswani et al.
// average the last checkpoints before decoding), written as a new run directory that
// `fathom translate` reads like any other.
#ifndef FATHOM_DECODE_CHECKPOINT_AVERAGE_H_
#define FATHOM_DECODE_CHECKPOINT_AVERAGE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fathom::decode {

// The newest `n` checkpoint directories of a run, oldest first.
absl::StatusOr<std::vector<std::string>> LastCheckpoints(const std::string& run_dir, int n);

// Averages the model tensors of `inputs` (checkpoint or run directories) into
// OUTPUT/checkpoints/STEP (STEP of the newest input), with the SentencePiece model(s) and
// config of the first input's run. Refuses inputs whose model or vocabulary settings differ.
absl::Status AverageCheckpoints(const std::vector<std::string>& inputs,
                                const std::string& output_run_dir);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_CHECKPOINT_AVERAGE_H_
