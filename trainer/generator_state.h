// The random generators a rank's training draws from, as bytes a checkpoint can hold: the CPU
// generator (Fathom's CPU dropout masks; the batcher's shuffles have their own seed) and, when the
// rank trains on a GPU, that device's generator (LibTorch's CUDA dropout). Restoring both makes a
// resumed run draw the masks the uninterrupted run would have drawn.
#ifndef FATHOM_TRAINER_GENERATOR_STATE_H_
#define FATHOM_TRAINER_GENERATOR_STATE_H_

#include <torch/torch.h>

#include <cstdint>
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
absl::Status RestoreGenerators(const torch::Device& device, const GeneratorBytes& bytes,
                               const std::string& what);

// Seeds this rank's generators (CPU, and every CUDA device's) from (seed, rank, step). Ranks
// must draw different dropout masks, or data parallelism repeats one noise pattern on every
// shard; a run resumed on another rank count, whose saved per-rank states do not fit, still
// draws from the config's seed and not from LibTorch's fixed default.
void SeedRankGenerators(uint64_t seed, int rank, int64_t step);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_GENERATOR_STATE_H_
