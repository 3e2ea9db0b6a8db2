// Names and encodings shared by the checkpoint writer, reader and pruner (internal to
// checkpoint/): where things live under RUN/checkpoints and how dtypes are recorded.
#ifndef FATHOM_CHECKPOINT_LAYOUT_H_
#define FATHOM_CHECKPOINT_LAYOUT_H_

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "proto/checkpoint.pb.h"

namespace fathom::checkpoint {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kTensorAlignment = 64;
inline constexpr char kTensorsFile[] = "tensors.bin";
inline constexpr char kMetaFile[] = "meta.pb";
inline constexpr char kLatestFile[] = "LATEST";
// meta.pb ends with field 15 (meta_crc32c) as a fixed32: tag (15 << 3) | 5, then 4 bytes.
inline constexpr unsigned char kMetaCrcTag = 0x7D;
inline constexpr size_t kMetaCrcTrailerSize = 5;

std::string CheckpointsDir(const std::string& run_dir);
// "00001200": zero-padded so that names sort like steps for people listing the directory.
std::string StepDirName(int64_t step);
// The step a directory name stands for; nullopt for anything else (staging dirs, files).
std::optional<int64_t> ParseStepDirName(const std::string& name);

// The directory name in RUN/checkpoints/LATEST. NotFound when the file is missing; an error
// naming the file when it holds something that is not a checkpoint name.
absl::StatusOr<std::string> ReadLatestName(const std::string& run_dir);

// nullopt when LibTorch's dtype has no stored form.
std::optional<proto::TensorMeta::DType> ToProtoDType(torch::ScalarType type);
std::optional<torch::ScalarType> FromProtoDType(proto::TensorMeta::DType dtype);

}  // namespace fathom::checkpoint

#endif  // FATHOM_CHECKPOINT_LAYOUT_H_
