// The raw references of a prepared split (SPLIT.ref.txt): the target text of each kept example,
// one line per shard example in shard order. Filters drop examples, so line i of the original
// target file is not example i of the shard; this file is. BLEU during training is scored
// against these strings, never against text rebuilt from token ids.
#ifndef FATHOM_DATA_SHARD_REFERENCES_H_
#define FATHOM_DATA_SHARD_REFERENCES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/shard_dataset.h"

namespace fathom::data {

// Whether `fathom prepare` keeps raw references for a split: every split but "train", whose
// text may run to gigabytes and is never scored.
bool KeepsReferences(absl::string_view split);

// Collects a split's references and writes them in one go (the caller writes into a StagingDir,
// so the file appears only with the rest of the prepared directory).
class ShardReferenceWriter {
 public:
  explicit ShardReferenceWriter(std::string path) : path_(std::move(path)) {}
  // A tab, CR or LF inside `text` (Spider has queries with tabs) becomes a space, so that one
  // example stays one line and the file can be handed to `fathom score` as it is.
  void Add(absl::string_view text);
  int64_t size() const { return count_; }
  absl::Status Finish();

 private:
  std::string path_;
  std::string contents_;
  int64_t count_ = 0;
};

// Reads the references of `dataset`, a split opened from `dir`. Errors name the file: missing
// (prepared by an older build: run `fathom prepare --overwrite`), invalid UTF-8 (file:line), or
// a line count other than the header's example count.
absl::StatusOr<std::vector<std::string>> ReadShardReferences(const std::string& dir,
                                                             const ShardDataset& dataset);

}  // namespace fathom::data

#endif  // FATHOM_DATA_SHARD_REFERENCES_H_
