// data.batch.prefetch (trainer/batch_prefetcher.h): batches built ahead on a background thread
// are exactly those built in the step's path, in the same order over epochs; the batcher that
// checkpoints save counts only consumed batches, so resuming (or any Restore) gives the same
// batches; an error on the thread comes out of Next()/Take() naming the batch; and destroying
// the data mid-epoch joins the thread.
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/batch.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"
#include "tests/test_util.h"
#include "trainer/batch_prefetcher.h"
#include "trainer/training_data.h"

namespace fathom::trainer {
namespace {

// 300 Multi30k pairs prepared once (fathom prepare): a few dozen batches of 512 tokens an epoch.
const proto::RunConfig& PreparedConfig() {
  static const proto::RunConfig* config = [] {
    auto* dir = new testing::TempDir;
    testing::TinyRun run;
    run.train = false;
    const std::string failed = testing::MakeTinyRun(*dir, run);
    if (!failed.empty()) {
      std::fprintf(stderr, "%s\n", failed.c_str());
      std::abort();
    }
    auto loaded = LoadRunConfig(dir->File("run.pbtxt"));
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
      std::abort();
    }
    return new proto::RunConfig(*loaded);
  }();
  return *config;
}

std::unique_ptr<TrainingData> Open(int prefetch, int rank = 0, int world_size = 1) {
  proto::RunConfig config = PreparedConfig();
  config.mutable_data()->mutable_batch()->set_prefetch(prefetch);
  auto data = TrainingData::Open(config, rank, world_size, torch::kCPU);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? std::move(*data) : nullptr;
}

void ExpectSameBatch(const DeviceBatch& a, const DeviceBatch& b, const std::string& where) {
  EXPECT_TRUE(torch::equal(a.source, b.source)) << where;
  EXPECT_TRUE(torch::equal(a.target_input, b.target_input)) << where;
  EXPECT_TRUE(torch::equal(a.target_output, b.target_output)) << where;
  EXPECT_EQ(a.relations.defined(), b.relations.defined()) << where;
  EXPECT_EQ(a.source.scalar_type(), b.source.scalar_type()) << where;
  EXPECT_EQ(a.target_tokens, b.target_tokens) << where;
  EXPECT_EQ(a.source_tokens, b.source_tokens) << where;
  EXPECT_EQ(a.lengths.ss, b.lengths.ss) << where;
  EXPECT_EQ(a.lengths.ts, b.lengths.ts) << where;
}

TEST(PrefetchTest, SameBatchesInTheSameOrderOverTwoEpochs) {
  for (int rank : {0, 1}) {
    auto plain = Open(0, rank, 2);
    auto ahead = Open(2, rank, 2);
    ASSERT_TRUE(plain && ahead);
    EXPECT_EQ(plain->prefetch(), 0);
    EXPECT_EQ(ahead->prefetch(), 2);
    const int64_t per_epoch = plain->batcher().batches_per_epoch();
    ASSERT_GE(per_epoch, 4);
    for (int64_t i = 0; i < 2 * per_epoch + 1; ++i) {
      const std::string where = "rank " + std::to_string(rank) + " batch " + std::to_string(i);
      ExpectSameBatch(ahead->Next(), plain->Next(), where);
      // The batcher counts consumed batches only, however far the thread has run ahead.
      EXPECT_EQ(ahead->batcher().position().epoch, plain->batcher().position().epoch) << where;
      EXPECT_EQ(ahead->batcher().position().index, plain->batcher().position().index) << where;
      EXPECT_DOUBLE_EQ(ahead->EpochsDone(), plain->EpochsDone()) << where;
    }
    EXPECT_EQ(ahead->batcher().position().epoch, 2);
  }
}

// What a checkpoint saves (batcher().position() after the step's batches) and what resuming
// does (a fresh TrainingData whose batcher is restored there) give the batches of a run without
// prefetch; so do the initialisation passes' look-ahead and Restore on a live one.
TEST(PrefetchTest, ResumingAndRestoringGiveTheSameBatches) {
  auto plain = Open(0);
  ASSERT_TRUE(plain);
  const int64_t per_epoch = plain->batcher().batches_per_epoch();
  std::vector<DeviceBatch> reference;
  for (int64_t i = 0; i < per_epoch + 5; ++i) reference.push_back(plain->Next());

  for (int64_t consumed : {int64_t{3}, per_epoch - 1, per_epoch + 1}) {
    auto first = Open(2);
    for (int64_t i = 0; i < consumed; ++i) first->Next();
    // Let the thread run ahead before "saving".
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const data::BatcherPosition saved = first->batcher().position();
    EXPECT_EQ(saved.epoch * per_epoch + saved.index, consumed);
    first.reset();
    auto resumed = Open(2);
    ASSERT_TRUE(resumed->batcher().Restore(saved).ok());
    for (int64_t i = consumed; i < static_cast<int64_t>(reference.size()); ++i) {
      ExpectSameBatch(resumed->Next(), reference[i],
                      "resumed after " + std::to_string(consumed) + ", batch " + std::to_string(i));
    }
  }

  // Admin's profiling and the initial-loss probe read ahead, then restore the start.
  auto live = Open(2);
  const data::BatcherPosition start = live->batcher().position();
  for (int i = 0; i < 3; ++i) live->Next();
  ASSERT_TRUE(live->batcher().Restore(start).ok());
  ExpectSameBatch(live->Next(), reference[0], "after restoring the start");
  ASSERT_TRUE(live->batcher().Restore({0, 7}).ok());
  ExpectSameBatch(live->Next(), reference[7], "after restoring batch 7");
  ExpectSameBatch(live->Next(), reference[8], "the batch after it");
}

// A builder over the real shard that fails on its `fail_at`-th call (0-based), as reading a
// damaged shard or allocating page-locked memory can, and counts its calls.
struct FailingBuilder {
  const TrainingData* data;
  int fail_at;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  data::Batch operator()(const data::BatchPlan& plan) const {
    if ((*calls)++ == fail_at) throw std::runtime_error("shard PREPARED/train.tokens is truncated");
    return data::MakeBatch(data->dataset(), plan, data->special());
  }
};

TEST(PrefetchTest, AnErrorOnTheThreadComesOutOfTakeNamingTheBatch) {
  auto plain = Open(0);
  ASSERT_TRUE(plain);
  std::vector<DeviceBatch> reference;
  for (int i = 0; i < 4; ++i) reference.push_back(plain->Next());

  FailingBuilder builder{plain.get(), /*fail_at=*/2};
  BatchPrefetcher prefetcher(plain->batcher(), 2, torch::kCPU, builder);
  data::BatcherPosition position{0, 0}, next;
  for (int i = 0; i < 2; ++i) {
    ExpectSameBatch(prefetcher.Take(position, &next), reference[i], "before the error");
    position = next;
  }
  try {
    prefetcher.Take(position, &next);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("batch 2 of epoch 0"), std::string::npos) << message;
    EXPECT_NE(message.find("prefetch thread"), std::string::npos) << message;
    EXPECT_NE(message.find("train.tokens is truncated"), std::string::npos) << message;
  }
  // Asking again restarts the thread at that batch (the builder no longer fails).
  ExpectSameBatch(prefetcher.Take(position, &next), reference[2], "after the error");
  EXPECT_EQ(prefetcher.starts(), 2);
}

// Destroying a prefetcher (or the TrainingData holding it) joins its thread: before it started,
// while it waits for room, after an error. A deadlock fails the test instead of hanging it.
TEST(PrefetchTest, DestructionMidEpochJoinsTheThread) {
  auto plain = Open(0);
  ASSERT_TRUE(plain);
  auto destroy_within = [](std::function<void()> destroy, const char* what) {
    std::packaged_task<void()> task(std::move(destroy));
    std::future<void> done = task.get_future();
    std::thread worker(std::move(task));
    if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      std::fprintf(stderr, "destruction %s did not return: deadlock\n", what);
      std::_Exit(1);
    }
    worker.join();
  };
  {
    auto data = Open(2);
    destroy_within([&] { data.reset(); }, "before the first batch");
  }
  {
    auto data = Open(2);
    data->Next();
    data->Next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the thread fills its queue
    destroy_within([&] { data.reset(); }, "mid-epoch");
  }
  FailingBuilder builder{plain.get(), /*fail_at=*/1000};
  auto prefetcher = std::make_unique<BatchPrefetcher>(plain->batcher(), 3, torch::kCPU, builder);
  data::BatcherPosition next;
  prefetcher->Take({0, 0}, &next);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(builder.calls->load(), 1 + 3);  // the batch taken and three ahead, then it waits
  destroy_within([&] { prefetcher.reset(); }, "of a waiting prefetcher");
  const int after = builder.calls->load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(builder.calls->load(), after) << "the thread still runs after destruction";

  FailingBuilder failing{plain.get(), /*fail_at=*/0};
  auto failed = std::make_unique<BatchPrefetcher>(plain->batcher(), 2, torch::kCPU, failing);
  EXPECT_THROW(failed->Take({0, 0}, &next), std::runtime_error);
  destroy_within([&] { failed.reset(); }, "after an error");
}

TEST(PrefetchTest, NegativePrefetchIsRefused) {
  proto::RunConfig config = PreparedConfig();
  config.mutable_data()->mutable_batch()->set_prefetch(-1);
  auto data = TrainingData::Open(config, 0, 1, torch::kCPU);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(std::string(data.status().message()).find("data.batch.prefetch"), std::string::npos);
}

// On CUDA: page-locked host batches copied on the prefetcher's stream, waited for by the
// consumer's stream, equal to the batches copied in the step's path.
TEST(PrefetchTest, CudaBatchesEqualThoseCopiedInTheStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  proto::RunConfig config = PreparedConfig();
  config.mutable_data()->mutable_batch()->set_prefetch(0);
  auto plain = TrainingData::Open(config, 0, 1, torch::kCUDA);
  config.mutable_data()->mutable_batch()->set_prefetch(2);
  auto ahead = TrainingData::Open(config, 0, 1, torch::kCUDA);
  ASSERT_TRUE(plain.ok() && ahead.ok());
  for (int64_t i = 0; i < (*plain)->batcher().batches_per_epoch() + 2; ++i) {
    const DeviceBatch a = (*ahead)->Next();
    const DeviceBatch b = (*plain)->Next();
    ASSERT_TRUE(a.source.is_cuda());
    // Consume on the current stream, as the step would, before anything is compared.
    const DeviceBatch a_step{a.source + 0, a.target_input + 0, a.target_output + 0,
                             {},           a.target_tokens,    a.source_tokens,
                             a.lengths};
    ExpectSameBatch(a_step, b, "batch " + std::to_string(i));
  }
}

}  // namespace
}  // namespace fathom::trainer
