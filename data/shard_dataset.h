// One split of a prepared directory, memory-mapped: examples are read in place, so opening a
// multi-gigabyte shard costs no time and no resident memory until batches touch it.
#ifndef FATHOM_DATA_SHARD_DATASET_H_
#define FATHOM_DATA_SHARD_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/shard.pb.h"

namespace fathom::data {

class ShardDataset {
 public:
  // Checks magic, version and that file sizes and offsets agree with the header; errors name
  // the file.
  static absl::StatusOr<std::unique_ptr<ShardDataset>> Open(const std::string& dir,
                                                            const std::string& split);
  ~ShardDataset();
  ShardDataset(const ShardDataset&) = delete;
  ShardDataset& operator=(const ShardDataset&) = delete;

  const proto::ShardHeader& header() const { return header_; }
  int64_t size() const { return header_.num_examples(); }
  int32_t source_length(int64_t i) const {
    return static_cast<int32_t>(offsets_[2 * i + 1] - offsets_[2 * i]);
  }
  int32_t target_length(int64_t i) const {
    return static_cast<int32_t>(offsets_[2 * i + 2] - offsets_[2 * i + 1]);
  }
  // Writes example i's source (target) ids to out[0 .. length).
  void CopySource(int64_t i, int32_t* out) const {
    Copy(offsets_[2 * i], offsets_[2 * i + 1], out);
  }
  void CopyTarget(int64_t i, int32_t* out) const {
    Copy(offsets_[2 * i + 1], offsets_[2 * i + 2], out);
  }
  std::vector<int> Source(int64_t i) const;
  std::vector<int> Target(int64_t i) const;
  // All lengths, for the batcher.
  std::vector<int32_t> SourceLengths() const;
  std::vector<int32_t> TargetLengths() const;

 private:
  ShardDataset() = default;
  void Copy(uint64_t begin, uint64_t end, int32_t* out) const;

  proto::ShardHeader header_;
  const uint64_t* offsets_ = nullptr;
  const uint8_t* tokens_ = nullptr;
  size_t offsets_bytes_ = 0;
  size_t tokens_bytes_ = 0;
};

}  // namespace fathom::data

#endif  // FATHOM_DATA_SHARD_DATASET_H_
