// WriteCheckpoint: stage, fsync, rename into place, then point LATEST at it.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/layout.h"
#include "checkpoint/posix_file.h"

namespace fathom::checkpoint {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensors.bin holds the host's bytes and is defined little-endian");

absl::Status CheckNames(const NamedTensors& tensors, const std::string& path) {
  std::unordered_set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty())
      return absl::InvalidArgumentError(absl::StrCat(path, ": a tensor has no name"));
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", name, "\" given twice"));
    }
  }
  return absl::OkStatus();
}

// Appends the tensors to `file`, each at a multiple of kTensorAlignment, and records them in
// `meta` together with the file's size and checksum.
absl::Status WriteTensors(const NamedTensors& tensors, PosixFile& file,
                          proto::CheckpointMeta& meta) {
  static const char kZeros[kTensorAlignment] = {};
  uint64_t offset = 0;
  uint32_t file_crc = 0;
  for (const auto& [name, tensor] : tensors) {
    const std::string where = absl::StrCat(file.path(), ": tensor \"", name, "\"");
    if (!tensor.defined()) return absl::InvalidArgumentError(absl::StrCat(where, ": undefined"));
    if (tensor.layout() != torch::kStrided) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": only dense tensors can be saved"));
    }
    const std::optional<proto::TensorMeta::DType> dtype = ToProtoDType(tensor.scalar_type());
    if (!dtype.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": dtype ", c10::toString(tensor.scalar_type()), " cannot be saved"));
    }
    const uint64_t padding = (kTensorAlignment - offset % kTensorAlignment) % kTensorAlignment;
    RETURN_IF_ERROR(file.Write(kZeros, padding));
    file_crc = Crc32cExtend(file_crc, kZeros, padding);
    offset += padding;

    // One contiguous host buffer whatever the device, view or stride; the dtype is kept.
    const torch::Tensor host = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t size = static_cast<uint64_t>(host.numel()) * host.element_size();
    const void* data = host.data_ptr();
    RETURN_IF_ERROR(file.Write(data, size));
    file_crc = Crc32cExtend(file_crc, data, size);

    proto::TensorMeta* entry = meta.add_tensor();
    entry->set_name(name);
    entry->set_dtype(*dtype);
    for (int64_t dim : host.sizes()) entry->add_shape(dim);
    entry->set_offset(offset);
    entry->set_size(size);
    entry->set_crc32c(Crc32c(data, size));
    offset += size;
  }
  meta.set_tensors_file_size(offset);
  meta.set_tensors_file_crc32c(file_crc);
  return absl::OkStatus();
}

absl::Status WriteWholeFile(const std::string& path, const std::string& bytes) {
  ASSIGN_OR_RETURN(PosixFile file, PosixFile::Create(path));
  RETURN_IF_ERROR(file.Write(bytes.data(), bytes.size()));
  RETURN_IF_ERROR(file.Sync());
  return file.Close();
}

// meta.pb: the message without meta_crc32c, then that field alone holding the CRC-32C of what
// precedes it, so that the reader checks the bytes it was given rather than a re-serialisation.
std::string EncodeMeta(proto::CheckpointMeta meta) {
  meta.clear_meta_crc32c();
  std::string bytes = meta.SerializeAsString();
  const uint32_t crc = Crc32c(bytes);
  bytes.push_back(static_cast<char>(kMetaCrcTag));
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  return bytes;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& run_dir, int64_t step, const NamedTensors& tensors,
                             proto::TrainingState state) {
  const std::string checkpoints_dir = CheckpointsDir(run_dir);
  const std::string final_dir = absl::StrCat(checkpoints_dir, "/", StepDirName(step));
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(final_dir, ": step must be >= 0 (got ", step, ")"));
  }
  RETURN_IF_ERROR(CheckNames(tensors, final_dir));
  // Destroyed uncommitted on any early return, the staging directory takes its files with it.
  ASSIGN_OR_RETURN(StagingDir staging, StagingDir::Create(final_dir));

  proto::CheckpointMeta meta;
  meta.set_format_version(kFormatVersion);
  {
    ASSIGN_OR_RETURN(PosixFile file, PosixFile::Create(staging.File(kTensorsFile)));
    RETURN_IF_ERROR(WriteTensors(tensors, file, meta));
    RETURN_IF_ERROR(file.Sync());
    RETURN_IF_ERROR(file.Close());
  }
  state.set_step(step);
  *meta.mutable_state() = std::move(state);
  RETURN_IF_ERROR(WriteWholeFile(staging.File(kMetaFile), EncodeMeta(meta)));
  RETURN_IF_ERROR(SyncDir(staging.path()));

  // An existing STEP (a save repeated after a resume) is replaced; LATEST may name it
  // meanwhile, which readers survive by falling back to the newest valid checkpoint.
  RETURN_IF_ERROR(staging.Commit(/*replace=*/true));
  RETURN_IF_ERROR(SyncDir(checkpoints_dir));
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(checkpoints_dir, "/", kLatestFile),
                                  absl::StrCat(StepDirName(step), "\n")));
  return SyncDir(checkpoints_dir);
}

}  // namespace fathom::checkpoint
