#include "data/shard_dataset.h"

#include <sys/mman.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/file_io.h"
#include "data/shard_format.h"

namespace fathom::data {

absl::StatusOr<std::unique_ptr<ShardDataset>> ShardDataset::Open(const std::string& dir,
                                                                 const std::string& split) {
  const std::string header_path = ShardHeaderFile(dir, split);
  ASSIGN_OR_RETURN(const std::string header_bytes, ReadFileToString(header_path));
  std::unique_ptr<ShardDataset> dataset(new ShardDataset());
  proto::ShardHeader& header = dataset->header_;
  if (!header.ParseFromString(header_bytes) || header.magic() != kShardMagic) {
    return absl::DataLossError(absl::StrCat(header_path, ": not a Fathom shard header"));
  }
  if (header.version() != kShardVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(header_path, ": shard version ", header.version(),
                     ", this build reads version ", kShardVersion, "; run `fathom prepare` again"));
  }
  if (header.token_bytes() != 2 && header.token_bytes() != 4) {
    return absl::DataLossError(
        absl::StrCat(header_path, ": bad token_bytes ", header.token_bytes()));
  }
  const std::string tokens_path = ShardTokensFile(dir, split);
  const std::string index_path = ShardIndexFile(dir, split);
  const uint8_t* index_data = nullptr;
  RETURN_IF_ERROR(MapFile(index_path, &index_data, &dataset->offsets_bytes_));
  dataset->offsets_ = reinterpret_cast<const uint64_t*>(index_data);
  RETURN_IF_ERROR(MapFile(tokens_path, &dataset->tokens_, &dataset->tokens_bytes_));

  // Sizes are compared by division so a corrupt count cannot overflow into a match.
  const int64_t n = header.num_examples();
  const size_t index_bytes = dataset->offsets_bytes_;
  if (n < 0 || index_bytes % sizeof(uint64_t) != 0 ||
      index_bytes / sizeof(uint64_t) != 2 * static_cast<uint64_t>(n) + 1 ||
      static_cast<int64_t>(index_bytes) != header.index_file_bytes()) {
    return absl::DataLossError(absl::StrCat(
        index_path, ": ", index_bytes, " bytes, but the header's ", n, " examples need ",
        (2 * static_cast<uint64_t>(std::max<int64_t>(n, 0)) + 1) * sizeof(uint64_t),
        " and it records ", header.index_file_bytes(), " (truncated or from another run)"));
  }
  if (static_cast<int64_t>(dataset->tokens_bytes_) != header.tokens_file_bytes() ||
      dataset->tokens_bytes_ % header.token_bytes() != 0) {
    return absl::DataLossError(absl::StrCat(tokens_path, ": ", dataset->tokens_bytes_,
                                            " bytes, the header says ", header.tokens_file_bytes(),
                                            " (truncated or from another run)"));
  }
  const uint64_t total = dataset->tokens_bytes_ / header.token_bytes();
  const uint64_t* o = dataset->offsets_;
  const size_t count = 2 * header.num_examples() + 1;
  if (o[0] != 0 || o[count - 1] != total) {
    return absl::DataLossError(absl::StrCat(index_path, ": offsets do not span ", tokens_path));
  }
  for (size_t k = 1; k < count; ++k) {
    if (o[k] < o[k - 1]) {
      return absl::DataLossError(
          absl::StrCat(index_path, ": offset ", k, " decreases (corrupt index)"));
    }
  }
  return dataset;
}

ShardDataset::~ShardDataset() {
  if (offsets_ != nullptr) ::munmap(const_cast<uint64_t*>(offsets_), offsets_bytes_);
  if (tokens_ != nullptr) ::munmap(const_cast<uint8_t*>(tokens_), tokens_bytes_);
}

void ShardDataset::Copy(uint64_t begin, uint64_t end, int32_t* out) const {
  if (header_.token_bytes() == 2) {
    const auto* t = reinterpret_cast<const uint16_t*>(tokens_);
    for (uint64_t k = begin; k < end; ++k) *out++ = t[k];
  } else {
    const auto* t = reinterpret_cast<const uint32_t*>(tokens_);
    for (uint64_t k = begin; k < end; ++k) *out++ = static_cast<int32_t>(t[k]);
  }
}

std::vector<int> ShardDataset::Source(int64_t i) const {
  std::vector<int> ids(source_length(i));
  CopySource(i, ids.data());
  return ids;
}

std::vector<int> ShardDataset::Target(int64_t i) const {
  std::vector<int> ids(target_length(i));
  CopyTarget(i, ids.data());
  return ids;
}

std::vector<int32_t> ShardDataset::SourceLengths() const {
  std::vector<int32_t> lengths(size());
  for (int64_t i = 0; i < size(); ++i) lengths[i] = source_length(i);
  return lengths;
}

std::vector<int32_t> ShardDataset::TargetLengths() const {
  std::vector<int32_t> lengths(size());
  for (int64_t i = 0; i < size(); ++i) lengths[i] = target_length(i);
  return lengths;
}

}  // namespace fathom::data
