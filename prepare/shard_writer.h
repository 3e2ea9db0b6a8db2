// Appends encoded examples to one split's shard files and writes its header last. The caller
// writes into a StagingDir, so an unfinished shard is never seen under its final name.
#ifndef FATHOM_PREPARE_SHARD_WRITER_H_
#define FATHOM_PREPARE_SHARD_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/shard.pb.h"

namespace fathom::prepare {

class ShardWriter {
 public:
  // token_bytes: 2 when every id fits in uint16, else 4.
  static absl::StatusOr<std::unique_ptr<ShardWriter>> Create(const std::string& dir,
                                                             const std::string& split,
                                                             int token_bytes);
  ~ShardWriter();

  absl::Status Add(const std::vector<int>& source, const std::vector<int>& target);
  // Completes `header` (counts, sizes, histograms, magic) and writes it. `header` carries the
  // caller's part: vocabularies, filter counts, input files, db_ids.
  absl::Status Finish(proto::ShardHeader header);
  int64_t source_tokens() const { return source_tokens_; }
  int64_t target_tokens() const { return target_tokens_; }
  int64_t num_examples() const { return (static_cast<int64_t>(offsets_written_) - 1) / 2; }

 private:
  ShardWriter(std::string dir, std::string split, int token_bytes, std::FILE* tokens,
              std::FILE* index);
  absl::Status WriteTokens(const std::vector<int>& ids);
  absl::Status WriteOffset();

  std::string dir_;
  std::string split_;
  int token_bytes_;
  std::FILE* tokens_;
  std::FILE* index_;
  uint64_t position_ = 0;  // tokens written so far
  uint64_t offsets_written_ = 0;
  int64_t source_tokens_ = 0;
  int64_t target_tokens_ = 0;
  std::vector<int64_t> source_histogram_;
  std::vector<int64_t> target_histogram_;
  std::vector<uint8_t> scratch_;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SHARD_WRITER_H_
