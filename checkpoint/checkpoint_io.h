// Checkpoints: named tensors plus a proto::CheckpointMeta, one directory per step.
//
//   RUN/checkpoints/00001200/tensors.bin   raw tensor bytes (layout in proto/checkpoint.proto)
//   RUN/checkpoints/00001200/meta.pb       names, dtypes, shapes, offsets, CRC-32Cs, TrainingState
//   RUN/checkpoints/LATEST                 "00001200\n", written last
//
// No pickle and no torch::save: the files can be read without LibTorch and a damaged one is
// found by its checksums, not by a crash while unpickling. Only rank 0 writes; every function
// here is meant for one thread of one process at a time per run directory.
#ifndef FATHOM_CHECKPOINT_CHECKPOINT_IO_H_
#define FATHOM_CHECKPOINT_CHECKPOINT_IO_H_

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/checkpoint.pb.h"

namespace fathom::checkpoint {

// In saving order; names are unique (the trainer prefixes them: "model.", "optim.", ...).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes RUN/checkpoints/STEP: the files go into a staging directory beside it
// (STEP.partial-XXXXXX), are fsynced, and the directory is renamed into place (replacing an
// existing STEP) before LATEST is rewritten. On any error (a full disk included) the previous
// checkpoints and LATEST are as they were and the message names the file. Tensors may live on
// any device and have any layout; they are saved as contiguous CPU copies of the same dtype.
// `state.step` is set to `step`.
absl::Status WriteCheckpoint(const std::string& run_dir, int64_t step, const NamedTensors& tensors,
                             proto::TrainingState state);

struct LoadedCheckpoint {
  std::string dir;
  proto::CheckpointMeta meta;
  NamedTensors tensors;  // CPU tensors, in saving order
};

// Reads and verifies one checkpoint directory: meta.pb's own checksum and format version, the
// size and checksum of tensors.bin, and every tensor's bounds, dtype, shape and checksum.
// Errors name the file and, where one is at fault, the tensor.
absl::StatusOr<LoadedCheckpoint> ReadCheckpoint(const std::string& checkpoint_dir);

// The checkpoint to resume from: the one LATEST names if it reads back valid, otherwise the
// newest valid one by step. Each one passed over (and a missing or unusable LATEST) is appended
// to `skipped` (may be null) as "PATH: reason" for the caller to log. NotFound when none is valid.
absl::StatusOr<LoadedCheckpoint> ReadLatestValid(const std::string& run_dir,
                                                 std::vector<std::string>* skipped);

// Steps of the checkpoint directories under RUN/checkpoints, ascending; empty when none.
// Staging (".partial-") directories and other entries are not checkpoints and are left out.
std::vector<int64_t> ListCheckpointSteps(const std::string& run_dir);

// Deletes checkpoints other than the newest `keep_last` (>= 1), those in `keep_steps` (the best
// ones, chosen by the trainer) and the one LATEST names; also deletes staging directories a
// crashed write left behind. Call it from the writing process, between writes.
absl::Status PruneCheckpoints(const std::string& run_dir, int keep_last,
                              const std::vector<int64_t>& keep_steps);

// The module's parameters, then its buffers, recursively, named `prefix` + their dotted path.
// The tensors share storage with the module (detached); nothing is copied.
NamedTensors ModuleTensors(const torch::nn::Module& module, const std::string& prefix);

// Copies the tensors whose names start with `prefix` into the module's parameters and buffers of
// the same names (without the prefix), onto whatever device each lives on. Tensors with other
// names are ignored: they belong to other parts of the checkpoint. Every name must match both
// ways with equal shape and dtype; otherwise nothing is copied and the error lists the missing,
// unexpected and mismatched names.
absl::Status LoadIntoModule(torch::nn::Module& module, const NamedTensors& tensors,
                            const std::string& prefix);

}  // namespace fathom::checkpoint

#endif  // FATHOM_CHECKPOINT_CHECKPOINT_IO_H_
