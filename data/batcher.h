// Token-budget batching of a sequence-to-sequence training set, split across data-parallel
// ranks. Every rank computes the same global plan for an epoch from (lengths, options, seed,
// epoch) and keeps its own share, so ranks agree without talking to each other.
//
// Per epoch:
//  1. Examples are ordered by length bucket (max(src, tgt) + 1) / bucket_width, shuffled inside
//     each bucket (with shuffle=false: by bucket, then index).
//  2. Batches are cut greedily in that order under max_tokens. Sizes of >= size_multiple are
//     rounded down to a multiple of it; the remainder starts the next batch. The budget is
//     checked against each bucket's longest example, so the batch sizes do not depend on the
//     shuffle and every epoch has the same number of batches (the actual padded cost can only
//     be lower).
//  3. The largest batches are split in two until the count is a multiple of world_size.
//  4. Batches of similar cost form steps of world_size; steps are shuffled, and within a step
//     the costliest batch goes to the rank with the fewest padded tokens so far.
// No example is dropped or duplicated.
//
// Size rule, including split batches: a batch with >= size_multiple examples always holds a
// multiple of size_multiple. (A split of n >= 2 * size_multiple keeps both parts multiples; a
// split of a smaller batch gives parts of at most size_multiple examples.)
#ifndef FATHOM_DATA_BATCHER_H_
#define FATHOM_DATA_BATCHER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace fathom::data {

// The batcher's options: BatchConfig of proto/config.proto (data.batch.*) and the run's seed.
struct BatchingOptions {
  // Budget of one batch in tokens, padding included:
  // batch_size * (max(longest source, longest target) + 1) <= max_tokens (+1: EOS/BOS).
  int64_t max_tokens = 4096;
  // Examples are grouped by (max(src, tgt) + 1) / bucket_width before batching.
  int32_t bucket_width = 8;
  // Batch sizes are rounded down to a multiple of this where the batch has at least this many
  // examples. 1 disables rounding.
  int32_t size_multiple = 8;
  // Shuffle within buckets and the order of batches, per (seed, epoch). Off: length-sorted.
  bool shuffle = true;
  uint64_t seed = 1;

  // `seed` is the run's (RunConfig.seed); validation passes batch.shuffle = false.
  static BatchingOptions FromProto(const proto::BatchConfig& batch, uint64_t seed);
};

// One batch: which examples, and its cost.
struct BatchPlan {
  std::vector<int64_t> examples;  // example indices
  int32_t max_source_length = 0;  // pieces, without EOS
  int32_t max_target_length = 0;
  // examples.size() * (max(max_source_length, max_target_length) + 1)
  int64_t padded_tokens() const;

  bool operator==(const BatchPlan& other) const;
  bool operator!=(const BatchPlan& other) const { return !(*this == other); }
};

// The next batch Next() yields: `index` within epoch `epoch`'s list for this rank.
struct BatcherPosition {
  int64_t epoch = 0;
  int64_t index = 0;
};

// One rank's totals over an epoch, for logging padding efficiency (real / padded).
struct EpochStats {
  int64_t batches = 0;
  int64_t examples = 0;
  // Sum over examples of max(src, tgt) + 1: the measure padded_tokens() uses, so
  // real_tokens <= padded_tokens.
  int64_t real_tokens = 0;
  int64_t padded_tokens = 0;
};

class Batcher {
 public:
  // Lengths are per example in SentencePiece pieces, without BOS/EOS. Errors
  // (InvalidArgument) name the offending input: mismatched sizes, bad rank/world_size or
  // options, no data, an example longer than the budget, or too few examples for the ranks.
  static absl::StatusOr<Batcher> Create(std::vector<int32_t> source_lengths,
                                        std::vector<int32_t> target_lengths,
                                        BatchingOptions options, int rank, int world_size);

  // This rank's batches for `epoch`, in training order. A pure function of the inputs of
  // Create() and `epoch`; the same on every platform.
  std::vector<BatchPlan> EpochBatches(int64_t epoch) const;
  EpochStats Stats(int64_t epoch) const;

  // Yields the next batch, moving on to the next epoch when one is exhausted, forever: callers
  // stop by steps or epochs. Always returns true.
  bool Next(BatchPlan* out);
  // The position of the batch the next Next() yields; after an epoch's last batch that is
  // {epoch + 1, 0}.
  BatcherPosition position() const;
  // Makes `position` the next batch. Error when it is negative or its index is beyond the
  // epoch's batch count (index == count is accepted and means the start of the next epoch).
  absl::Status Restore(BatcherPosition position);

  // The same for every epoch and every rank.
  int64_t batches_per_epoch() const { return global_batches_ / world_size_; }
  int64_t num_examples() const { return static_cast<int64_t>(source_lengths_.size()); }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const BatchingOptions& options() const { return options_; }

 private:
  Batcher() = default;

  std::vector<int32_t> source_lengths_;
  std::vector<int32_t> target_lengths_;
  BatchingOptions options_;
  int rank_ = 0;
  int world_size_ = 1;

  // Epoch-independent parts of the plan, computed once in Create().
  std::vector<int64_t> bucket_order_;  // examples stable-sorted by bucket
  std::vector<int64_t> bucket_begin_;  // bucket b is bucket_order_[bucket_begin_[b], [b + 1])
  std::vector<int64_t> cut_sizes_;     // step 2's batch sizes, in bucket order
  int64_t global_batches_ = 0;         // after step 3; a multiple of world_size_

  // Iteration state and the current epoch's batches, so Next() is O(1) amortised.
  int64_t epoch_ = 0;
  int64_t index_ = 0;
  bool cache_valid_ = false;
  int64_t cached_epoch_ = 0;
  std::vector<BatchPlan> cache_;
};

}  // namespace fathom::data

#endif  // FATHOM_DATA_BATCHER_H_
