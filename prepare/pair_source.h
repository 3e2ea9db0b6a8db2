// Sources of raw (source, target) text pairs for `fathom prepare`, read in chunks so that a
// corpus of any size streams through bounded memory.
#ifndef FATHOM_PREPARE_PAIR_SOURCE_H_
#define FATHOM_PREPARE_PAIR_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/line_reader.h"

namespace fathom::prepare {

struct TextPair {
  std::string source;
  std::string target;
};

class PairSource {
 public:
  virtual ~PairSource() = default;
  // Replaces `out` with up to `max_pairs` pairs. Returns false when the source is exhausted
  // (`out` is then empty) and an error on bad input.
  virtual absl::StatusOr<bool> NextChunk(int max_pairs, std::vector<TextPair>* out) = 0;
};

// Two line-aligned files. A line-count mismatch is an error naming both files and both counts.
class ParallelTextSource : public PairSource {
 public:
  static absl::StatusOr<std::unique_ptr<ParallelTextSource>> Open(const std::string& source_path,
                                                                  const std::string& target_path);
  absl::StatusOr<bool> NextChunk(int max_pairs, std::vector<TextPair>* out) override;

 private:
  ParallelTextSource(std::unique_ptr<data::LineReader> source,
                     std::unique_ptr<data::LineReader> target)
      : source_(std::move(source)), target_(std::move(target)) {}
  absl::Status MismatchError(data::LineReader& longer, data::LineReader& shorter);
  std::unique_ptr<data::LineReader> source_;
  std::unique_ptr<data::LineReader> target_;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_PAIR_SOURCE_H_
