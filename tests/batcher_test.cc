// Tests of data/batcher: budget, size rounding, rank partitioning and balance, determinism,
// and exact resume.
#include "data/batcher.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::data {
namespace {

using ::testing::HasSubstr;

struct Lengths {
  std::vector<int32_t> source;
  std::vector<int32_t> target;
};

// A translation-like distribution: mostly 5-60 pieces with a long tail up to 250, targets
// within about +-25% of sources. Only properties are asserted, so the exact draws may differ
// between standard libraries.
Lengths MakeLengths(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Lengths lengths;
  for (int64_t i = 0; i < n; ++i) {
    const double u = unit(gen);
    int32_t src = 1 + static_cast<int32_t>(u * u * 80.0 + unit(gen) * 10.0);
    if (unit(gen) < 0.02) src = 80 + static_cast<int32_t>(unit(gen) * 170.0);
    int32_t tgt = std::max(1, static_cast<int32_t>(src * (0.75 + 0.5 * unit(gen))));
    lengths.source.push_back(std::min(src, 250));
    lengths.target.push_back(std::min(tgt, 250));
  }
  return lengths;
}

Batcher MakeBatcher(const Lengths& lengths, const BatchingOptions& options, int rank,
                    int world_size) {
  absl::StatusOr<Batcher> batcher =
      Batcher::Create(lengths.source, lengths.target, options, rank, world_size);
  EXPECT_TRUE(batcher.ok()) << batcher.status();
  return *std::move(batcher);
}

// All ranks' batches of one epoch, indexed by rank.
std::vector<std::vector<BatchPlan>> AllRanks(const Lengths& lengths, const BatchingOptions& options,
                                             int world_size, int64_t epoch) {
  std::vector<std::vector<BatchPlan>> out;
  for (int rank = 0; rank < world_size; ++rank) {
    out.push_back(MakeBatcher(lengths, options, rank, world_size).EpochBatches(epoch));
  }
  return out;
}

int64_t Cost(const Lengths& lengths, int64_t example) {
  return std::max(lengths.source[example], lengths.target[example]) + 1;
}

TEST(BatcherTest, OptionsComeFromDataBatchAndTheRunSeed) {
  proto::BatchConfig batch;
  // The .proto's defaults are the struct's defaults.
  const BatchingOptions defaults = BatchingOptions::FromProto(batch, 1);
  const BatchingOptions plain;
  EXPECT_EQ(defaults.max_tokens, plain.max_tokens);
  EXPECT_EQ(defaults.bucket_width, plain.bucket_width);
  EXPECT_EQ(defaults.size_multiple, plain.size_multiple);
  EXPECT_EQ(defaults.shuffle, plain.shuffle);
  batch.set_max_tokens(1234);
  batch.set_bucket_width(3);
  batch.set_size_multiple(2);
  batch.set_shuffle(false);
  const BatchingOptions options = BatchingOptions::FromProto(batch, 77);
  EXPECT_EQ(options.max_tokens, 1234);
  EXPECT_EQ(options.bucket_width, 3);
  EXPECT_EQ(options.size_multiple, 2);
  EXPECT_FALSE(options.shuffle);
  EXPECT_EQ(options.seed, 77u);
}

TEST(BatcherTest, EveryBatchFitsTheBudgetAndReportsItsLengths) {
  const Lengths lengths = MakeLengths(20000, 1);
  for (int64_t max_tokens : {300, 1000, 4096}) {
    BatchingOptions options;
    options.max_tokens = max_tokens;
    for (int world : {1, 3}) {
      for (const auto& rank_batches : AllRanks(lengths, options, world, /*epoch=*/1)) {
        for (const BatchPlan& plan : rank_batches) {
          ASSERT_FALSE(plan.examples.empty());
          int32_t max_src = 0, max_tgt = 0;
          for (int64_t e : plan.examples) {
            max_src = std::max(max_src, lengths.source[e]);
            max_tgt = std::max(max_tgt, lengths.target[e]);
          }
          EXPECT_EQ(plan.max_source_length, max_src);
          EXPECT_EQ(plan.max_target_length, max_tgt);
          EXPECT_LE(plan.padded_tokens(), max_tokens);
        }
      }
    }
  }
}

// The rule, split batches included: >= size_multiple examples means a multiple of it.
TEST(BatcherTest, SizesAreMultiplesOfSizeMultiple) {
  const Lengths lengths = MakeLengths(20000, 2);
  BatchingOptions options;
  int64_t batches_of_eight_or_more = 0;
  for (int world : {1, 2, 3, 4}) {
    for (const auto& rank_batches : AllRanks(lengths, options, world, /*epoch=*/0)) {
      for (const BatchPlan& plan : rank_batches) {
        const int64_t size = static_cast<int64_t>(plan.examples.size());
        if (size >= 8) {
          ++batches_of_eight_or_more;
          EXPECT_EQ(size % 8, 0) << "size " << size << " world " << world;
        }
      }
    }
  }
  EXPECT_GT(batches_of_eight_or_more, 100);
}

TEST(BatcherTest, SplitsMakeTheBatchCountDivisibleByWorldSize) {
  // 16 examples of cost 10 under a budget of 160: one batch of 16.
  const Lengths sixteen{std::vector<int32_t>(16, 9), std::vector<int32_t>(16, 9)};
  BatchingOptions options;
  options.max_tokens = 160;
  auto sizes = [&](int world, const Lengths& lengths) {
    std::vector<int64_t> out;
    for (const auto& rank_batches : AllRanks(lengths, options, world, 0)) {
      EXPECT_EQ(rank_batches.size(), 1u);
      for (const BatchPlan& plan : rank_batches) out.push_back(plan.examples.size());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(sizes(1, sixteen), (std::vector<int64_t>{16}));
  EXPECT_EQ(sizes(2, sixteen), (std::vector<int64_t>{8, 8}));     // halves keep the multiple
  EXPECT_EQ(sizes(3, sixteen), (std::vector<int64_t>{4, 4, 8}));  // 8 halves to 4 + 4
  // 24 splits into 16 + 8, not 12 + 12, to keep the multiple.
  const Lengths twenty_four{std::vector<int32_t>(24, 9), std::vector<int32_t>(24, 9)};
  options.max_tokens = 240;
  EXPECT_EQ(sizes(2, twenty_four), (std::vector<int64_t>{8, 16}));

  // 9 examples of cost 100 under 300: three batches of 3; world 2 splits one into 2 + 1.
  const Lengths nine{std::vector<int32_t>(9, 99), std::vector<int32_t>(9, 50)};
  options.max_tokens = 300;
  std::vector<int64_t> nine_sizes;
  for (const auto& rank_batches : AllRanks(nine, options, 2, 0)) {
    ASSERT_EQ(rank_batches.size(), 2u);
    for (const BatchPlan& plan : rank_batches) nine_sizes.push_back(plan.examples.size());
  }
  std::sort(nine_sizes.begin(), nine_sizes.end());
  EXPECT_EQ(nine_sizes, (std::vector<int64_t>{1, 2, 3, 3}));

  // Batches {0, 1} (100 tokens), {2, 3} (300) and {4} (150): world 2 splits the costliest.
  const Lengths mixed{{49, 49, 149, 149, 149}, {1, 1, 1, 1, 1}};
  std::vector<std::vector<int64_t>> groups;
  for (const auto& rank_batches : AllRanks(mixed, options, 2, 0)) {
    for (BatchPlan plan : rank_batches) {
      std::sort(plan.examples.begin(), plan.examples.end());
      groups.push_back(plan.examples);
    }
  }
  std::sort(groups.begin(), groups.end());
  EXPECT_EQ(groups, (std::vector<std::vector<int64_t>>{{0, 1}, {2}, {3}, {4}}));
}

TEST(BatcherTest, SplitPutsTheShorterExamplesTogether) {
  // Lengths 1..16 in one bucket, one batch of 16 under a budget of 16 * 17.
  Lengths lengths;
  for (int32_t i = 0; i < 16; ++i) {
    lengths.source.push_back(i * 5 % 16 + 1);  // 1..16, neither sorted nor by index halves
    lengths.target.push_back(1);
  }
  BatchingOptions options;
  options.bucket_width = 100;
  options.max_tokens = 16 * 17;
  std::vector<int32_t> longest;
  for (const auto& rank_batches : AllRanks(lengths, options, 2, 0)) {
    ASSERT_EQ(rank_batches.size(), 1u);
    EXPECT_EQ(rank_batches[0].examples.size(), 8u);
    longest.push_back(rank_batches[0].max_source_length);
  }
  std::sort(longest.begin(), longest.end());
  EXPECT_EQ(longest, (std::vector<int32_t>{8, 16}));
}

TEST(BatcherTest, ShuffleRegroupsExamplesEachEpoch) {
  const Lengths lengths = MakeLengths(8000, 12);
  const Batcher batcher = MakeBatcher(lengths, {}, 0, 1);
  auto groups = [&](int64_t epoch) {
    std::vector<std::vector<int64_t>> out;
    for (BatchPlan& plan : batcher.EpochBatches(epoch)) {
      std::sort(plan.examples.begin(), plan.examples.end());
      out.push_back(std::move(plan.examples));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto epoch0 = groups(0);
  const auto epoch1 = groups(1);
  std::vector<std::vector<int64_t>> common;
  std::set_intersection(epoch0.begin(), epoch0.end(), epoch1.begin(), epoch1.end(),
                        std::back_inserter(common));
  // Only batches that hold a whole bucket (rare long ones) may repeat.
  EXPECT_LT(common.size(), epoch0.size() / 10);

  // And the batch order is shuffled, not left sorted by cost.
  const std::vector<BatchPlan> batches = batcher.EpochBatches(0);
  int64_t descents = 0;
  for (size_t i = 1; i < batches.size(); ++i) {
    descents += batches[i].padded_tokens() < batches[i - 1].padded_tokens();
  }
  EXPECT_GT(descents, static_cast<int64_t>(batches.size()) / 5);
}

TEST(BatcherTest, CostliestBatchOfAStepGoesToTheRankWithTheLeastSoFar) {
  // Each example is its own batch (costs 1000, 900, 600, 550 under 1000). Steps by cost:
  // {550, 600} then {900, 1000}, in length order with shuffle off. Step 1: rank 0 gets 600,
  // rank 1 gets 550; step 2: rank 1 (550 so far) gets 1000, rank 0 gets 900.
  const Lengths lengths{{999, 899, 599, 549}, {1, 1, 1, 1}};
  BatchingOptions options;
  options.max_tokens = 1000;
  options.shuffle = false;
  const auto all = AllRanks(lengths, options, 2, 0);
  auto examples = [](const std::vector<BatchPlan>& batches) {
    std::vector<int64_t> out;
    for (const BatchPlan& plan : batches)
      out.insert(out.end(), plan.examples.begin(), plan.examples.end());
    return out;
  };
  EXPECT_EQ(examples(all[0]), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(examples(all[1]), (std::vector<int64_t>{3, 0}));
}

TEST(BatcherTest, RanksPartitionEveryExampleExactlyOncePerEpoch) {
  const Lengths lengths = MakeLengths(10007, 3);
  for (bool shuffle : {true, false}) {
    BatchingOptions options;
    options.shuffle = shuffle;
    for (int world : {1, 2, 3, 4}) {
      for (int64_t epoch : {0, 1, 5}) {
        std::vector<int> seen(lengths.source.size(), 0);
        const auto all = AllRanks(lengths, options, world, epoch);
        for (const auto& rank_batches : all) {
          EXPECT_EQ(rank_batches.size(), all[0].size()) << "world " << world;
          for (const BatchPlan& plan : rank_batches) {
            for (int64_t e : plan.examples) ++seen[e];
          }
        }
        EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<int64_t>(seen.size()))
            << "world " << world << " epoch " << epoch << " shuffle " << shuffle;
      }
    }
  }
}

TEST(BatcherTest, BatchCountIsTheSameForEveryRankAndEpoch) {
  const Lengths lengths = MakeLengths(5000, 4);
  for (int world : {1, 2, 3, 4}) {
    const int64_t expected = MakeBatcher(lengths, {}, 0, world).batches_per_epoch();
    EXPECT_GT(expected, 0);
    for (int rank = 0; rank < world; ++rank) {
      const Batcher batcher = MakeBatcher(lengths, {}, rank, world);
      EXPECT_EQ(batcher.batches_per_epoch(), expected);
      for (int64_t epoch : {0, 1, 2}) {
        EXPECT_EQ(static_cast<int64_t>(batcher.EpochBatches(epoch).size()), expected);
      }
    }
  }
}

TEST(BatcherTest, RankPaddedTokensAreBalanced) {
  const Lengths lengths = MakeLengths(100000, 5);
  for (int world : {2, 3, 4}) {
    std::vector<int64_t> totals;
    for (int rank = 0; rank < world; ++rank) {
      totals.push_back(MakeBatcher(lengths, {}, rank, world).Stats(/*epoch=*/3).padded_tokens);
    }
    const auto [lo, hi] = std::minmax_element(totals.begin(), totals.end());
    const double mean = std::accumulate(totals.begin(), totals.end(), 0.0) / world;
    EXPECT_LT((*hi - *lo) / mean, 0.02) << "world " << world;
    // Giving the costliest batch of each step to the rank with the least so far keeps the
    // spread within one batch's cost, however many steps there are.
    EXPECT_LE(*hi - *lo, 4096) << "world " << world;
  }
}

TEST(BatcherTest, BucketingKeepsPaddingLow) {
  const Lengths lengths = MakeLengths(50000, 6);
  const EpochStats stats = MakeBatcher(lengths, {}, 0, 1).Stats(0);
  // Without length bucketing this distribution pads to well under 50%.
  EXPECT_GT(static_cast<double>(stats.real_tokens) / stats.padded_tokens, 0.85);
  // Full batches: the budget is mostly used.
  EXPECT_GT(static_cast<double>(stats.padded_tokens) / (stats.batches * 4096), 0.9);
}

TEST(BatcherTest, StatsAgreeWithEpochBatches) {
  const Lengths lengths = MakeLengths(7000, 7);
  int64_t examples_over_ranks = 0;
  for (int rank = 0; rank < 3; ++rank) {
    const Batcher batcher = MakeBatcher(lengths, {}, rank, 3);
    const EpochStats stats = batcher.Stats(2);
    EpochStats expected;
    for (const BatchPlan& plan : batcher.EpochBatches(2)) {
      ++expected.batches;
      expected.examples += plan.examples.size();
      expected.padded_tokens += plan.padded_tokens();
      for (int64_t e : plan.examples) expected.real_tokens += Cost(lengths, e);
    }
    EXPECT_EQ(stats.batches, expected.batches);
    EXPECT_EQ(stats.examples, expected.examples);
    EXPECT_EQ(stats.real_tokens, expected.real_tokens);
    EXPECT_EQ(stats.padded_tokens, expected.padded_tokens);
    EXPECT_LE(stats.real_tokens, stats.padded_tokens);
    examples_over_ranks += stats.examples;
  }
  EXPECT_EQ(examples_over_ranks, 7000);
}

TEST(BatcherTest, SameSeedAndEpochGiveIdenticalBatchesOthersDiffer) {
  const Lengths lengths = MakeLengths(8000, 8);
  BatchingOptions options;
  options.seed = 42;
  const Batcher a = MakeBatcher(lengths, options, 1, 2);
  const Batcher b = MakeBatcher(lengths, options, 1, 2);
  EXPECT_EQ(a.EpochBatches(4), b.EpochBatches(4));
  EXPECT_NE(a.EpochBatches(4), a.EpochBatches(5));
  // A different epoch reorders batches and regroups examples, not only permutes batches.
  std::vector<int64_t> first_a = a.EpochBatches(4)[0].examples;
  std::vector<int64_t> first_b = a.EpochBatches(5)[0].examples;
  EXPECT_NE(first_a, first_b);
  options.seed = 43;
  EXPECT_NE(MakeBatcher(lengths, options, 1, 2).EpochBatches(4), a.EpochBatches(4));
}

TEST(BatcherTest, ShuffleOffIsLengthSortedAndTheSameEveryEpoch) {
  const Lengths lengths = MakeLengths(6000, 9);
  BatchingOptions options;
  options.shuffle = false;
  const Batcher batcher = MakeBatcher(lengths, options, 0, 1);
  const std::vector<BatchPlan> epoch0 = batcher.EpochBatches(0);
  EXPECT_EQ(epoch0, batcher.EpochBatches(7));

  std::vector<int64_t> expected(lengths.source.size());
  std::iota(expected.begin(), expected.end(), 0);
  std::stable_sort(expected.begin(), expected.end(), [&](int64_t a, int64_t b) {
    return Cost(lengths, a) / 8 < Cost(lengths, b) / 8;
  });
  std::vector<int64_t> concatenated;
  for (const BatchPlan& plan : epoch0) {
    concatenated.insert(concatenated.end(), plan.examples.begin(), plan.examples.end());
  }
  EXPECT_EQ(concatenated, expected);
}

TEST(BatcherTest, NextMatchesEpochBatchesAndResumesExactly) {
  const Lengths lengths = MakeLengths(3000, 10);
  BatchingOptions options;
  options.max_tokens = 1024;
  Batcher batcher = MakeBatcher(lengths, options, 1, 3);
  const int64_t per_epoch = batcher.batches_per_epoch();
  ASSERT_GT(per_epoch, 4);

  std::vector<BatchPlan> expected;
  for (int64_t epoch = 0; epoch < 5; ++epoch) {
    const std::vector<BatchPlan> batches = batcher.EpochBatches(epoch);
    expected.insert(expected.end(), batches.begin(), batches.end());
  }
  const int64_t stop = per_epoch * 5 / 2;  // 2.5 epochs
  BatchPlan plan;
  for (int64_t i = 0; i < stop; ++i) {
    ASSERT_TRUE(batcher.Next(&plan));
    ASSERT_EQ(plan, expected[i]) << "batch " << i;
  }
  const BatcherPosition saved = batcher.position();
  EXPECT_EQ(saved.epoch, 2);
  EXPECT_EQ(saved.index, stop - 2 * per_epoch);

  Batcher resumed = MakeBatcher(lengths, options, 1, 3);
  ASSERT_TRUE(resumed.Restore(saved).ok());
  EXPECT_EQ(resumed.position().epoch, saved.epoch);
  EXPECT_EQ(resumed.position().index, saved.index);
  BatchPlan original, again;
  for (int64_t i = stop; i < static_cast<int64_t>(expected.size()); ++i) {
    ASSERT_TRUE(batcher.Next(&original));
    ASSERT_TRUE(resumed.Next(&again));
    ASSERT_EQ(again, original) << "batch " << i;
    ASSERT_EQ(again, expected[i]) << "batch " << i;
  }
}

TEST(BatcherTest, PositionAtAnEpochEndIsTheNextEpochsStart) {
  const Lengths lengths = MakeLengths(2000, 11);
  Batcher batcher = MakeBatcher(lengths, {}, 0, 2);
  const int64_t per_epoch = batcher.batches_per_epoch();
  BatchPlan plan;
  for (int64_t i = 0; i < per_epoch; ++i) batcher.Next(&plan);
  EXPECT_EQ(batcher.position().epoch, 1);
  EXPECT_EQ(batcher.position().index, 0);

  ASSERT_TRUE(batcher.Restore({3, per_epoch}).ok());  // end of epoch 3 = start of epoch 4
  EXPECT_EQ(batcher.position().epoch, 4);
  ASSERT_TRUE(batcher.Next(&plan));
  EXPECT_EQ(plan, batcher.EpochBatches(4)[0]);

  const absl::Status beyond = batcher.Restore({3, per_epoch + 1});
  EXPECT_EQ(beyond.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(beyond.message(), HasSubstr(absl::StrCat("batch index ", per_epoch + 1)));
  EXPECT_THAT(beyond.message(), HasSubstr(absl::StrCat("only ", per_epoch, " batches")));
  EXPECT_FALSE(batcher.Restore({-1, 0}).ok());
  // A failed Restore leaves the position alone.
  EXPECT_EQ(batcher.position().epoch, 4);
  EXPECT_EQ(batcher.position().index, 1);
}

absl::Status CreateError(std::vector<int32_t> source, std::vector<int32_t> target,
                         BatchingOptions options, int rank, int world_size) {
  absl::StatusOr<Batcher> batcher =
      Batcher::Create(std::move(source), std::move(target), options, rank, world_size);
  EXPECT_FALSE(batcher.ok());
  EXPECT_EQ(batcher.status().code(), absl::StatusCode::kInvalidArgument);
  return batcher.status();
}

TEST(BatcherTest, CreateRejectsBadInputsNamingTheProblem) {
  const std::vector<int32_t> three = {5, 6, 7};
  EXPECT_THAT(CreateError(three, {5, 6}, {}, 0, 1).message(),
              HasSubstr("source_lengths has 3 entries but target_lengths has 2"));
  EXPECT_THAT(CreateError(three, three, {}, 0, 0).message(),
              HasSubstr("world_size must be >= 1, got 0"));
  EXPECT_THAT(CreateError(three, three, {}, 2, 2).message(),
              HasSubstr("rank 2 is out of range for world_size 2"));
  EXPECT_THAT(CreateError(three, three, {}, -1, 2).message(), HasSubstr("rank -1 is out of range"));
  EXPECT_THAT(CreateError({}, {}, {}, 0, 1).message(), HasSubstr("empty"));
  EXPECT_THAT(CreateError({5, -1}, {5, 5}, {}, 0, 1).message(),
              HasSubstr("example 1 has a negative length"));
  BatchingOptions bad;
  bad.bucket_width = 0;
  EXPECT_THAT(CreateError(three, three, bad, 0, 1).message(),
              HasSubstr("data.batch.bucket_width must be >= 1"));
  bad = {};
  bad.size_multiple = 0;
  EXPECT_THAT(CreateError(three, three, bad, 0, 1).message(),
              HasSubstr("data.batch.size_multiple must be >= 1"));
  bad = {};
  bad.max_tokens = 0;
  EXPECT_THAT(CreateError(three, three, bad, 0, 1).message(),
              HasSubstr("data.batch.max_tokens must be >= 1"));
}

TEST(BatcherTest, CreateRejectsAnExampleOverTheBudget) {
  BatchingOptions options;
  options.max_tokens = 256;
  const std::string message =
      std::string(CreateError({10, 20, 100, 30}, {10, 20, 300, 30}, options, 0, 1).message());
  EXPECT_THAT(message, HasSubstr("example 2 has length 300"));
  EXPECT_THAT(message, HasSubstr("costs 301 tokens"));
  EXPECT_THAT(message, HasSubstr("data.batch.max_tokens=256"));
  EXPECT_THAT(message, HasSubstr("raise data.batch.max_tokens or lower data.filter.max_length"));
  // Exactly at the budget is fine: cost 256 = 255 pieces + 1.
  EXPECT_TRUE(Batcher::Create({255}, {3}, options, 0, 1).ok());
}

TEST(BatcherTest, CreateRejectsFewerBatchesThanRanks) {
  BatchingOptions options;
  options.max_tokens = 100;
  // Three examples that each fill a batch: three batches cannot be shared by two ranks.
  EXPECT_THAT(CreateError({99, 99, 99}, {1, 1, 1}, options, 0, 2).message(),
              HasSubstr("fewer batches per epoch than ranks"));
  // Three small examples in one batch cannot feed four ranks either.
  EXPECT_THAT(CreateError({5, 5, 5}, {5, 5, 5}, options, 3, 4).message(),
              HasSubstr("fewer batches per epoch than ranks"));
  // But one batch of four small examples is split to feed four ranks.
  absl::StatusOr<Batcher> four = Batcher::Create({5, 5, 5, 5}, {5, 5, 5, 5}, options, 3, 4);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->batches_per_epoch(), 1);
  EXPECT_EQ(four->EpochBatches(0)[0].examples.size(), 1u);
}

}  // namespace
}  // namespace fathom::data
