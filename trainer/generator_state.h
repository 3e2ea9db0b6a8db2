// The random generators a rank's training draws from, as bytes a checkpoint can hold: the CPU
// generator (Fathom's CPU dropout masks, data shuffles seeded from it) and, when the rank trains
// on a GPU, that device's generator (LibTorch's CUDA dropout). Restoring both makes a resumed
// run draw the masks the uninterrupted run would have drawn.
#ifndef FATHOM_TRAINER_GENERATOR_STATE_H_
#define FATHOM_TRAINER_GENERATOR_STATE_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fathom::trainer {

struct GeneratorBytes {
  std::string cpu;
  std::string device;  // empty unless the device is CUDA
};

absl::StatusOr<GeneratorBytes> SaveGenerators(const torch::Device& device);

// `what` names the source (a checkpoint directory) in errors. Bytes of the wrong size for this
// LibTorch's generator are an error, not a silent reseed. Empty device bytes (a checkpoint
// written on CPU, resumed on a GPU) leave the device's generator as seeded.
absl::Status RestoreGenerators(const torch::Device& device, const GeneratorBytes& bytes, const std::string& what);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_GENERATOR_STATE_H_
