#include "data/batcher.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/mix64.h"

namespace fathom::data {

BatchingOptions BatchingOptions::FromProto(const proto::BatchConfig& batch, uint64_t seed) {
  BatchingOptions options;
  options.max_tokens = batch.max_tokens();
  options.bucket_width = batch.bucket_width();
  options.size_multiple = batch.size_multiple();
  options.shuffle = batch.shuffle();
  options.seed = seed;
  return options;
}
namespace {

// Separate random streams per epoch, so the bucket shuffle and the step shuffle are
// independent.
constexpr uint64_t kBucketStream = 1;
constexpr uint64_t kStepStream = 2;

// SplitMix64 with rejection-sampled bounded draws. std::shuffle and the std distributions
// differ between standard libraries; this code fixes the order on every platform and rank.
class Rng {
 public:
  Rng(uint64_t seed, int64_t epoch, uint64_t stream)
      : state_(Mix64(seed) ^ Mix64(Mix64(static_cast<uint64_t>(epoch)) + stream)) {}

  uint64_t Next() {
    state_ += kGoldenGamma;
    return Mix64(state_);
  }

  // Uniform in [0, n), n >= 1, without modulo bias.
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    uint64_t r = Next();
    while (r < threshold) r = Next();
    return r % n;
  }

 private:
  uint64_t state_;
};

template <typename T>
void FisherYates(T* begin, T* end, Rng& rng) {
  for (int64_t i = (end - begin) - 1; i > 0; --i) {
    std::swap(begin[i], begin[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
}

// A batch as a contiguous range of the epoch's example order.
struct Span {
  int64_t begin = 0;
  int64_t size = 0;
  int64_t padded = 0;  // size * (longest side + 1)
};

// The split of step 3: how many examples the second (longer) part gets. Multiples stay
// multiples when there is room for two; otherwise the halves are ceil(n/2) and floor(n/2),
// both <= multiple.
int64_t SecondPartSize(int64_t n, int64_t multiple) {
  if (multiple > 1 && n >= 2 * multiple) return (n / 2) / multiple * multiple;
  return n / 2;
}

}  // namespace

int64_t BatchPlan::padded_tokens() const {
  return static_cast<int64_t>(examples.size()) *
         (static_cast<int64_t>(std::max(max_source_length, max_target_length)) + 1);
}

bool BatchPlan::operator==(const BatchPlan& other) const {
  return examples == other.examples && max_source_length == other.max_source_length &&
         max_target_length == other.max_target_length;
}

absl::StatusOr<Batcher> Batcher::Create(std::vector<int32_t> source_lengths,
                                        std::vector<int32_t> target_lengths,
                                        BatchingOptions options, int rank, int world_size) {
  if (source_lengths.size() != target_lengths.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batcher: source_lengths has ", source_lengths.size(), " entries but target_lengths has ",
        target_lengths.size(), "; both must hold one length per example"));
  }
  if (world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: world_size must be >= 1, got ", world_size));
  }
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("batcher: rank ", rank,
                                                   " is out of range for world_size ", world_size,
                                                   " (must be in [0, ", world_size - 1, "])"));
  }
  if (options.max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: data.batch.max_tokens must be >= 1, got ", options.max_tokens));
  }
  if (options.bucket_width < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: data.batch.bucket_width must be >= 1, got ", options.bucket_width));
  }
  if (options.size_multiple < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batcher: data.batch.size_multiple must be >= 1, got ", options.size_multiple));
  }
  const int64_t n = static_cast<int64_t>(source_lengths.size());
  if (n == 0) {
    return absl::InvalidArgumentError("batcher: the training set is empty (0 examples)");
  }

  // Costs and their maximum, checking every example fits a batch on its own.
  int64_t max_cost = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (source_lengths[i] < 0 || target_lengths[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("batcher: example ", i, " has a negative length (source ", source_lengths[i],
                       ", target ", target_lengths[i], ")"));
    }
    const int64_t cost = static_cast<int64_t>(std::max(source_lengths[i], target_lengths[i])) + 1;
    if (cost > options.max_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batcher: example ", i, " has length ", cost - 1, " pieces (source ", source_lengths[i],
          ", target ", target_lengths[i], "), which with EOS/BOS costs ", cost,
          " tokens, more than data.batch.max_tokens=", options.max_tokens,
          "; raise data.batch.max_tokens or lower data.filter.max_length"));
    }
    max_cost = std::max(max_cost, cost);
  }

  Batcher b;
  b.options_ = options;
  b.rank_ = rank;
  b.world_size_ = world_size;
  b.source_lengths_ = std::move(source_lengths);
  b.target_lengths_ = std::move(target_lengths);
  auto cost_of = [&b](int64_t i) {
    return static_cast<int64_t>(std::max(b.source_lengths_[i], b.target_lengths_[i])) + 1;
  };
  const int64_t width = options.bucket_width;

  // Step 1's stable order: counting sort by bucket, O(N + buckets).
  const int64_t num_buckets = max_cost / width + 1;
  b.bucket_begin_.assign(num_buckets + 1, 0);
  std::vector<int64_t> bucket_max(num_buckets, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t cost = cost_of(i);
    ++b.bucket_begin_[cost / width + 1];
    bucket_max[cost / width] = std::max(bucket_max[cost / width], cost);
  }
  std::partial_sum(b.bucket_begin_.begin(), b.bucket_begin_.end(), b.bucket_begin_.begin());
  b.bucket_order_.resize(n);
  {
    std::vector<int64_t> next(b.bucket_begin_.begin(), b.bucket_begin_.end() - 1);
    for (int64_t i = 0; i < n; ++i) b.bucket_order_[next[cost_of(i) / width]++] = i;
  }

  // Step 2 with every example costed at its bucket's maximum. Those costs rise along the order
  // whatever the shuffle inside buckets, so the cuts, and the batch count, are the same every
  // epoch; the real cost of a batch is at most its planned cost.
  const int64_t multiple = options.size_multiple;
  for (int64_t start = 0; start < n;) {
    int64_t size = 1;
    while (start + size < n) {
      const int64_t cost = bucket_max[cost_of(b.bucket_order_[start + size]) / width];
      if (cost > options.max_tokens / (size + 1)) break;  // (size + 1) * cost > max_tokens
      ++size;
    }
    if (size >= multiple) size -= size % multiple;
    b.cut_sizes_.push_back(size);
    start += size;
  }

  // Step 3 needs the next multiple of world_size batches; each split adds one, and a batch
  // of one example cannot be split, so there must be at least that many examples.
  const int64_t cut = static_cast<int64_t>(b.cut_sizes_.size());
  b.global_batches_ = (cut + world_size - 1) / world_size * world_size;
  if (b.global_batches_ > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: fewer batches per epoch than ranks: ", n, " examples form ", cut,
                     " batches under data.batch.max_tokens=", options.max_tokens,
                     ", and even split down to single examples they cannot give each of the ",
                     world_size, " ranks the same number of batches (", b.global_batches_,
                     " needed); use fewer ranks or more data"));
  }
  return b;
}

std::vector<BatchPlan> Batcher::EpochBatches(int64_t epoch) const {
  auto cost_of = [this](int64_t i) {
    return static_cast<int64_t>(std::max(source_lengths_[i], target_lengths_[i])) + 1;
  };

  // Step 1: shuffle inside buckets.
  std::vector<int64_t> order = bucket_order_;
  if (options_.shuffle) {
    Rng rng(options_.seed, epoch, kBucketStream);
    for (size_t bucket = 0; bucket + 1 < bucket_begin_.size(); ++bucket) {
      FisherYates(order.data() + bucket_begin_[bucket], order.data() + bucket_begin_[bucket + 1],
                  rng);
    }
  }
  auto padded_of = [&](int64_t begin, int64_t size) {
    int64_t longest = 0;
    for (int64_t k = begin; k < begin + size; ++k) longest = std::max(longest, cost_of(order[k]));
    return size * longest;
  };

  // Step 2: the precomputed cuts.
  std::vector<Span> spans;
  spans.reserve(global_batches_);
  int64_t begin = 0;
  for (int64_t size : cut_sizes_) {
    spans.push_back({begin, size, padded_of(begin, size)});
    begin += size;
  }

  // Step 3: split the costliest batch (ties: more examples, then earlier) until divisible.
  // Fewer than world_size splits, so a linear scan each is cheap. Sorting by length before
  // splitting puts the short examples together, which pads less; spans stay in order.
  while (static_cast<int64_t>(spans.size()) < global_batches_) {
    size_t best = spans.size();
    for (size_t s = 0; s < spans.size(); ++s) {
      if (spans[s].size < 2) continue;
      if (best == spans.size() || spans[s].padded > spans[best].padded ||
          (spans[s].padded == spans[best].padded && spans[s].size > spans[best].size)) {
        best = s;
      }
    }
    // Create() checked there are enough examples, so some batch has two or more.
    Span whole = spans[best];
    std::sort(order.begin() + whole.begin, order.begin() + whole.begin + whole.size,
              [&](int64_t a, int64_t b) {
                const int64_t ca = cost_of(a), cb = cost_of(b);
                return ca != cb ? ca < cb : a < b;
              });
    const int64_t second = SecondPartSize(whole.size, options_.size_multiple);
    const int64_t first = whole.size - second;
    spans[best] = {whole.begin, first, padded_of(whole.begin, first)};
    spans.insert(spans.begin() + best + 1,
                 Span{whole.begin + first, second, padded_of(whole.begin + first, second)});
  }

  // Step 4: steps of world_size batches of similar cost (ties in cost: earlier first).
  const int64_t num_batches = static_cast<int64_t>(spans.size());
  const int64_t world = world_size_;
  std::vector<int64_t> by_cost(num_batches);
  std::iota(by_cost.begin(), by_cost.end(), 0);
  std::stable_sort(by_cost.begin(), by_cost.end(),
                   [&](int64_t a, int64_t b) { return spans[a].padded < spans[b].padded; });
  const int64_t num_steps = num_batches / world;
  std::vector<int64_t> steps(num_steps);
  std::iota(steps.begin(), steps.end(), 0);
  if (options_.shuffle) {
    Rng rng(options_.seed, epoch, kStepStream);
    FisherYates(steps.data(), steps.data() + num_steps, rng);
  } else {
    // Length order: each step where its earliest batch lies in the bucket order.
    std::vector<int64_t> earliest(num_steps);
    for (int64_t s = 0; s < num_steps; ++s) {
      earliest[s] =
          *std::min_element(by_cost.begin() + s * world, by_cost.begin() + (s + 1) * world);
    }
    std::sort(steps.begin(), steps.end(),
              [&](int64_t a, int64_t b) { return earliest[a] < earliest[b]; });
  }

  // Within a step the costliest batch goes to the rank with the fewest padded tokens so far,
  // the next to the next (ties: lower rank id, earlier batch).
  std::vector<int64_t> totals(world, 0);
  std::vector<int64_t> ranks(world);
  std::vector<int64_t> step_batches(world);
  std::vector<int64_t> mine;
  mine.reserve(num_steps);
  for (int64_t step : steps) {
    std::copy(by_cost.begin() + step * world, by_cost.begin() + (step + 1) * world,
              step_batches.begin());
    std::sort(step_batches.begin(), step_batches.end(), [&](int64_t a, int64_t b) {
      return spans[a].padded != spans[b].padded ? spans[a].padded > spans[b].padded : a < b;
    });
    std::iota(ranks.begin(), ranks.end(), 0);
    std::sort(ranks.begin(), ranks.end(), [&](int64_t a, int64_t b) {
      return totals[a] != totals[b] ? totals[a] < totals[b] : a < b;
    });
    for (int64_t k = 0; k < world; ++k) {
      totals[ranks[k]] += spans[step_batches[k]].padded;
      if (ranks[k] == rank_) mine.push_back(step_batches[k]);
    }
  }

  std::vector<BatchPlan> plans(mine.size());
  for (size_t p = 0; p < mine.size(); ++p) {
    const Span& span = spans[mine[p]];
    BatchPlan& plan = plans[p];
    plan.examples.assign(order.begin() + span.begin, order.begin() + span.begin + span.size);
    for (int64_t example : plan.examples) {
      plan.max_source_length = std::max(plan.max_source_length, source_lengths_[example]);
      plan.max_target_length = std::max(plan.max_target_length, target_lengths_[example]);
    }
  }
  return plans;
}

EpochStats Batcher::Stats(int64_t epoch) const {
  EpochStats stats;
  for (const BatchPlan& plan : EpochBatches(epoch)) {
    ++stats.batches;
    stats.examples += static_cast<int64_t>(plan.examples.size());
    stats.padded_tokens += plan.padded_tokens();
    for (int64_t example : plan.examples) {
      stats.real_tokens +=
          static_cast<int64_t>(std::max(source_lengths_[example], target_lengths_[example])) + 1;
    }
  }
  return stats;
}

bool Batcher::Next(BatchPlan* out) {
  if (index_ >= batches_per_epoch()) {
    ++epoch_;
    index_ = 0;
  }
  if (!cache_valid_ || cached_epoch_ != epoch_) {
    cache_ = EpochBatches(epoch_);
    cached_epoch_ = epoch_;
    cache_valid_ = true;
  }
  *out = cache_[index_++];
  return true;
}

BatcherPosition Batcher::position() const {
  if (index_ >= batches_per_epoch()) return {epoch_ + 1, 0};
  return {epoch_, index_};
}

absl::Status Batcher::Restore(BatcherPosition position) {
  if (position.epoch < 0 || position.index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: cannot restore to negative position "
                     "(epoch ",
                     position.epoch, ", index ", position.index, ")"));
  }
  if (position.index > batches_per_epoch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batcher: cannot restore to batch index ", position.index, " of epoch ", position.epoch,
        ": rank ", rank_, " has only ", batches_per_epoch(),
        " batches per epoch (was the data, data.batch options or world size changed?)"));
  }
  epoch_ = position.epoch;
  index_ = position.index;
  return absl::OkStatus();
}

}  // namespace fathom::data
