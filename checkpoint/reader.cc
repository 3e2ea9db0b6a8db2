// ReadCheckpoint and ReadLatestValid: nothing is returned that its checksums do not vouch for.
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/crc32c.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/layout.h"
#include "checkpoint/posix_file.h"

namespace fathom::checkpoint {
namespace {

std::string Hex(uint32_t crc) { return absl::StrFormat("%08x", crc); }

absl::StatusOr<proto::CheckpointMeta> ReadMeta(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
  const size_t body = bytes.size() - std::min(bytes.size(), kMetaCrcTrailerSize);
  if (bytes.size() < kMetaCrcTrailerSize ||
      static_cast<unsigned char>(bytes[body]) != kMetaCrcTag) {
    return absl::DataLossError(
        absl::StrCat(path, ": no checksum at the end (truncated, or not a Fathom checkpoint)"));
  }
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) {
    stored |= uint32_t{static_cast<unsigned char>(bytes[body + 1 + i])} << (8 * i);
  }
  const uint32_t computed = Crc32c(bytes.data(), body);
  if (stored != computed) {
    return absl::DataLossError(absl::StrCat(path, ": CRC-32C mismatch (stored ", Hex(stored),
                                            ", computed ", Hex(computed), ")"));
  }
  proto::CheckpointMeta meta;
  if (!meta.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat(path, ": not a CheckpointMeta protobuf"));
  }
  if (meta.format_version() != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": format version ", meta.format_version(),
                     "; this build reads version ", kFormatVersion));
  }
  return meta;
}

// Checks one entry against the file it points into: a stored dtype, a shape whose byte count is
// `size`, and bytes [offset, offset + size) aligned, after `end_of_previous` and inside the file.
absl::Status CheckEntry(const proto::TensorMeta& entry, uint64_t end_of_previous,
                        uint64_t file_size, const std::string& tensors_path) {
  const std::string where = absl::StrCat(tensors_path, ": tensor \"", entry.name(), "\"");
  const std::optional<torch::ScalarType> dtype = FromProtoDType(entry.dtype());
  if (!dtype.has_value()) {
    return absl::DataLossError(absl::StrCat(where, ": unknown dtype ", entry.dtype()));
  }
  const uint64_t element_size = c10::elementSize(*dtype);
  uint64_t elements = 1;
  for (int64_t dim : entry.shape()) {
    if (dim < 0) return absl::DataLossError(absl::StrCat(where, ": negative dimension ", dim));
    if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / element_size / dim) {
      return absl::DataLossError(
          absl::StrCat(where, ": shape [", absl::StrJoin(entry.shape(), ", "), "] is too large"));
    }
    elements *= static_cast<uint64_t>(dim);
  }
  if (elements * element_size != entry.size()) {
    return absl::DataLossError(absl::StrCat(where, ": ", entry.size(),
                                            " bytes recorded for shape [",
                                            absl::StrJoin(entry.shape(), ", "), "]"));
  }
  if (entry.offset() % kTensorAlignment != 0 || entry.offset() < end_of_previous ||
      entry.offset() > file_size || entry.size() > file_size - entry.offset()) {
    return absl::DataLossError(absl::StrCat(where, ": bytes [", entry.offset(), ", ",
                                            entry.offset() + entry.size(),
                                            ") are misplaced in a file of ", file_size, " bytes"));
  }
  return absl::OkStatus();
}

// Reads bytes [from, to) only to extend the file's checksum: the padding between tensors.
absl::Status ReadGap(const PosixFile& file, uint64_t from, uint64_t to, uint32_t& file_crc) {
  char buffer[1 << 16];
  while (from < to) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(buffer), to - from));
    RETURN_IF_ERROR(file.ReadAt(from, buffer, n));
    file_crc = Crc32cExtend(file_crc, buffer, n);
    from += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<NamedTensors> ReadTensors(const proto::CheckpointMeta& meta,
                                         const std::string& path) {
  ASSIGN_OR_RETURN(const PosixFile file, PosixFile::OpenForReading(path));
  ASSIGN_OR_RETURN(const uint64_t file_size, file.Size());
  if (file_size != meta.tensors_file_size()) {
    return absl::DataLossError(absl::StrCat(path, ": ", file_size, " bytes, but meta.pb records ",
                                            meta.tensors_file_size(),
                                            " (truncated or overwritten)"));
  }
  NamedTensors tensors;
  tensors.reserve(meta.tensor_size());
  std::unordered_set<std::string> names;
  uint64_t position = 0;
  uint32_t file_crc = 0;
  for (const proto::TensorMeta& entry : meta.tensor()) {
    RETURN_IF_ERROR(CheckEntry(entry, position, file_size, path));
    if (entry.name().empty() || !names.insert(entry.name()).second) {
      return absl::DataLossError(
          absl::StrCat(path, ": tensor name \"", entry.name(), "\" is empty or repeated"));
    }
    RETURN_IF_ERROR(ReadGap(file, position, entry.offset(), file_crc));
    std::vector<int64_t> shape(entry.shape().begin(), entry.shape().end());
    torch::Tensor tensor = torch::empty(shape, torch::dtype(*FromProtoDType(entry.dtype())));
    RETURN_IF_ERROR(file.ReadAt(entry.offset(), tensor.data_ptr(), entry.size()));
    const uint32_t crc = Crc32c(tensor.data_ptr(), entry.size());
    if (crc != entry.crc32c()) {
      return absl::DataLossError(absl::StrCat(path, ": tensor \"", entry.name(), "\" (bytes ",
                                              entry.offset(), "..", entry.offset() + entry.size(),
                                              "): CRC-32C mismatch (stored ", Hex(entry.crc32c()),
                                              ", computed ", Hex(crc), ")"));
    }
    file_crc = Crc32cExtend(file_crc, tensor.data_ptr(), entry.size());
    position = entry.offset() + entry.size();
    tensors.emplace_back(entry.name(), std::move(tensor));
  }
  RETURN_IF_ERROR(ReadGap(file, position, file_size, file_crc));
  if (file_crc != meta.tensors_file_crc32c()) {
    return absl::DataLossError(absl::StrCat(path, ": CRC-32C mismatch outside the tensors (stored ",
                                            Hex(meta.tensors_file_crc32c()), ", computed ",
                                            Hex(file_crc), ")"));
  }
  return tensors;
}

}  // namespace

absl::StatusOr<LoadedCheckpoint> ReadCheckpoint(const std::string& checkpoint_dir) {
  LoadedCheckpoint loaded;
  loaded.dir = checkpoint_dir;
  ASSIGN_OR_RETURN(loaded.meta, ReadMeta(absl::StrCat(checkpoint_dir, "/", kMetaFile)));
  ASSIGN_OR_RETURN(loaded.tensors,
                   ReadTensors(loaded.meta, absl::StrCat(checkpoint_dir, "/", kTensorsFile)));
  return loaded;
}

absl::StatusOr<LoadedCheckpoint> ReadLatestValid(const std::string& run_dir,
                                                 std::vector<std::string>* skipped) {
  auto skip = [skipped](std::string reason) {
    if (skipped != nullptr) skipped->push_back(std::move(reason));
  };
  const std::string checkpoints_dir = CheckpointsDir(run_dir);
  const std::vector<int64_t> steps = ListCheckpointSteps(run_dir);

  std::optional<int64_t> tried;
  absl::StatusOr<std::string> latest = ReadLatestName(run_dir);
  if (latest.ok()) {
    tried = ParseStepDirName(*latest);
    absl::StatusOr<LoadedCheckpoint> loaded =
        ReadCheckpoint(absl::StrCat(checkpoints_dir, "/", *latest));
    if (loaded.ok()) return loaded;
    skip(std::string(loaded.status().message()));
  } else if (!absl::IsNotFound(latest.status()) || !steps.empty()) {
    // A missing LATEST is only news when checkpoints exist (a crash before it was written).
    skip(std::string(latest.status().message()));
  }
  for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
    if (tried.has_value() && *step == *tried) continue;
    absl::StatusOr<LoadedCheckpoint> loaded =
        ReadCheckpoint(absl::StrCat(checkpoints_dir, "/", StepDirName(*step)));
    if (loaded.ok()) return loaded;
    skip(std::string(loaded.status().message()));
  }
  return absl::NotFoundError(
      absl::StrCat(checkpoints_dir, ": no valid checkpoint (", steps.size(), " found)"));
}

}  // namespace fathom::checkpoint
