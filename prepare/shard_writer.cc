#include "prepare/shard_writer.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/file_io.h"
#include "data/shard_format.h"

namespace fathom::prepare {
namespace {

void Count(std::vector<int64_t>& histogram, size_t length) {
  const size_t bucket = length / data::kHistogramBucketWidth;
  if (histogram.size() <= bucket) histogram.resize(bucket + 1, 0);
  ++histogram[bucket];
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShardWriter>> ShardWriter::Create(const std::string& dir,
                                                                 const std::string& split,
                                                                 int token_bytes) {
  if (token_bytes != 2 && token_bytes != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_bytes must be 2 or 4, got ", token_bytes));
  }
  const std::string tokens_path = data::ShardTokensFile(dir, split);
  const std::string index_path = data::ShardIndexFile(dir, split);
  std::FILE* tokens = std::fopen(tokens_path.c_str(), "wb");
  if (tokens == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(tokens_path, ": cannot create: ", std::strerror(errno)));
  }
  std::FILE* index = std::fopen(index_path.c_str(), "wb");
  if (index == nullptr) {
    std::fclose(tokens);
    return absl::PermissionDeniedError(
        absl::StrCat(index_path, ": cannot create: ", std::strerror(errno)));
  }
  std::setvbuf(tokens, nullptr, _IOFBF, 1 << 20);
  std::setvbuf(index, nullptr, _IOFBF, 1 << 18);
  auto writer =
      std::unique_ptr<ShardWriter>(new ShardWriter(dir, split, token_bytes, tokens, index));
  RETURN_IF_ERROR(writer->WriteOffset());  // offset of example 0
  return writer;
}

ShardWriter::ShardWriter(std::string dir, std::string split, int token_bytes, std::FILE* tokens,
                         std::FILE* index)
    : dir_(std::move(dir)),
      split_(std::move(split)),
      token_bytes_(token_bytes),
      tokens_(tokens),
      index_(index) {}

ShardWriter::~ShardWriter() {
  if (tokens_ != nullptr) std::fclose(tokens_);
  if (index_ != nullptr) std::fclose(index_);
}

absl::Status ShardWriter::WriteTokens(const std::vector<int>& ids) {
  // The format is little-endian; so is every machine Fathom runs on (x86-64, aarch64).
  scratch_.resize(ids.size() * token_bytes_);
  if (token_bytes_ == 2) {
    auto* out = reinterpret_cast<uint16_t*>(scratch_.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint16_t>(ids[i]);
  } else {
    auto* out = reinterpret_cast<uint32_t*>(scratch_.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint32_t>(ids[i]);
  }
  if (!scratch_.empty() &&
      std::fwrite(scratch_.data(), 1, scratch_.size(), tokens_) != scratch_.size()) {
    return absl::DataLossError(absl::StrCat(data::ShardTokensFile(dir_, split_),
                                            ": write failed: ", std::strerror(errno)));
  }
  position_ += ids.size();
  return absl::OkStatus();
}

absl::Status ShardWriter::WriteOffset() {
  const uint64_t offset = position_;
  if (std::fwrite(&offset, sizeof(offset), 1, index_) != 1) {
    return absl::DataLossError(
        absl::StrCat(data::ShardIndexFile(dir_, split_), ": write failed: ", std::strerror(errno)));
  }
  ++offsets_written_;
  return absl::OkStatus();
}

absl::Status ShardWriter::Add(const std::vector<int>& source, const std::vector<int>& target) {
  RETURN_IF_ERROR(WriteTokens(source));
  RETURN_IF_ERROR(WriteOffset());
  RETURN_IF_ERROR(WriteTokens(target));
  RETURN_IF_ERROR(WriteOffset());
  source_tokens_ += static_cast<int64_t>(source.size());
  target_tokens_ += static_cast<int64_t>(target.size());
  Count(source_histogram_, source.size());
  Count(target_histogram_, target.size());
  return absl::OkStatus();
}

absl::Status ShardWriter::Finish(proto::ShardHeader header) {
  const std::string tokens_error = data::FlushSyncClose(&tokens_);
  const std::string index_error = data::FlushSyncClose(&index_);
  if (!tokens_error.empty()) {
    return absl::DataLossError(
        absl::StrCat(data::ShardTokensFile(dir_, split_), ": ", tokens_error));
  }
  if (!index_error.empty()) {
    return absl::DataLossError(absl::StrCat(data::ShardIndexFile(dir_, split_), ": ", index_error));
  }
  header.set_magic(data::kShardMagic);
  header.set_version(data::kShardVersion);
  header.set_split(split_);
  header.set_num_examples(num_examples());
  header.set_num_source_tokens(source_tokens_);
  header.set_num_target_tokens(target_tokens_);
  header.set_token_bytes(token_bytes_);
  header.set_tokens_file_bytes(static_cast<int64_t>(position_) * token_bytes_);
  header.set_index_file_bytes(static_cast<int64_t>(offsets_written_ * sizeof(uint64_t)));
  auto* src_hist = header.mutable_source_lengths();
  src_hist->set_bucket_width(data::kHistogramBucketWidth);
  for (int64_t c : source_histogram_) src_hist->add_count(c);
  auto* tgt_hist = header.mutable_target_lengths();
  tgt_hist->set_bucket_width(data::kHistogramBucketWidth);
  for (int64_t c : target_histogram_) tgt_hist->add_count(c);
  return WriteFileAtomic(data::ShardHeaderFile(dir_, split_), header.SerializeAsString());
}

}  // namespace fathom::prepare
