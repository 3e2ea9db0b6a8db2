#include "checkpoint/layout.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"

namespace fathom::checkpoint {

std::string CheckpointsDir(const std::string& run_dir) {
  return absl::StrCat(run_dir, "/checkpoints");
}

std::string StepDirName(int64_t step) { return absl::StrFormat("%08d", step); }

std::optional<int64_t> ParseStepDirName(const std::string& name) {
  if (name.empty()) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t step = 0;
  // Only the canonical spelling, so that StepDirName(step) finds the directory again.
  if (!absl::SimpleAtoi(name, &step) || StepDirName(step) != name) return std::nullopt;
  return step;
}

absl::StatusOr<std::string> ReadLatestName(const std::string& run_dir) {
  const std::string path = absl::StrCat(CheckpointsDir(run_dir), "/", kLatestFile);
  if (!PathExists(path)) return absl::NotFoundError(absl::StrCat(path, ": missing"));
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) return contents.status();
  const std::string name(absl::StripAsciiWhitespace(*contents));
  if (!ParseStepDirName(name).has_value()) {
    return absl::DataLossError(
        absl::StrCat(path, ": names \"", absl::CEscape(name), "\", not a checkpoint directory"));
  }
  return name;
}

std::optional<proto::TensorMeta::DType> ToProtoDType(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return proto::TensorMeta::FLOAT32;
    case torch::kFloat64:
      return proto::TensorMeta::FLOAT64;
    case torch::kBFloat16:
      return proto::TensorMeta::BFLOAT16;
    case torch::kFloat16:
      return proto::TensorMeta::FLOAT16;
    case torch::kInt64:
      return proto::TensorMeta::INT64;
    case torch::kInt32:
      return proto::TensorMeta::INT32;
    case torch::kUInt8:
      return proto::TensorMeta::UINT8;
    case torch::kBool:
      return proto::TensorMeta::BOOL;
    default:
      return std::nullopt;
  }
}

std::optional<torch::ScalarType> FromProtoDType(proto::TensorMeta::DType dtype) {
  switch (dtype) {
    case proto::TensorMeta::FLOAT32:
      return torch::kFloat32;
    case proto::TensorMeta::FLOAT64:
      return torch::kFloat64;
    case proto::TensorMeta::BFLOAT16:
      return torch::kBFloat16;
    case proto::TensorMeta::FLOAT16:
      return torch::kFloat16;
    case proto::TensorMeta::INT64:
      return torch::kInt64;
    case proto::TensorMeta::INT32:
      return torch::kInt32;
    case proto::TensorMeta::UINT8:
      return torch::kUInt8;
    case proto::TensorMeta::BOOL:
      return torch::kBool;
    default:
      return std::nullopt;
  }
}

}  // namespace fathom::checkpoint
