// Dynamic loss scaling on 2 MPI ranks (CPU, float32; the scaler is device-agnostic): an inf
// gradient planted on one rank makes both ranks skip the same update, halve the same scale and
// keep identical weights; clean updates grow the scale after the interval; and a scaled run
// trains exactly as an unscaled one.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "comm/communicator_factory.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "tests/mpi_test_main.h"
#include "tests/test_util.h"
#include "tests/tiny_training.h"
#include "trainer/loss_scaler.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"

namespace fathom::trainer {
namespace {

comm::Communicator* g_comm = nullptr;

// The shared main (tests/mpi_test_main.cc) makes the communicator the tests use.
const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.before_tests = [] { g_comm = testing::MpiTestComm(); };
  return options;
}());

LossScalerOptions Options(double init, int64_t interval) {
  LossScalerOptions options;
  options.init_scale = init;
  options.growth_interval = interval;
  options.min_scale = 1;
  return options;
}

// Every rank's value of `x`, to check that the ranks agree.
std::vector<double> Gathered(double x) {
  auto all = g_comm->AllGather(x);
  EXPECT_TRUE(all.ok()) << all.status();
  return all.ok() ? *all : std::vector<double>();
}

double ParameterChecksum(const models::Seq2Seq& model) {
  double sum = 0;
  for (const auto& p : model->parameters())
    sum += p.detach().to(torch::kDouble).abs().sum().item<double>();
  return sum;
}

TEST(LossScalingMpiTest, AnInfGradientOnOneRankSkipsTheUpdateOnBoth) {
  ASSERT_EQ(g_comm->size(), 2) << "launch with mpirun -np 2";
  models::Seq2Seq model(testing::TinyModelOptions());
  models::InitialiseDefault(*model, 7);  // the same seed, so the same weights on both ranks
  // Registered before the runner's own hooks, so the gradient reducer sees what it returns.
  bool plant = false;
  model->parameters()[0].register_hook([&plant](const torch::Tensor& grad) {
    if (!plant || g_comm->rank() != 1) return grad;
    torch::Tensor poisoned = grad.clone();
    poisoned.view(-1)[3].fill_(std::numeric_limits<float>::infinity());
    return poisoned;
  });
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  LossScaler scaler(Options(65536, 3));
  StepOptions options;
  options.bucket_bytes = 16 << 10;  // several buckets: the inf travels in one of them
  StepRunner runner(model, &optimizer, g_comm, options, &scaler);
  EXPECT_GT(runner.reducer().num_buckets(), 2);

  // A clean update first, so the growth tracker has something to lose.
  auto clean = testing::UpdateAndRead(runner, {testing::TinyBatch(g_comm->rank(), 1)}, 1e-3);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_FALSE(clean->skipped);
  EXPECT_EQ(scaler.growth_tracker(), 1);

  const std::vector<torch::Tensor> before = testing::Snapshot(model->parameters());
  plant = true;
  auto poisoned = testing::UpdateAndRead(runner, {testing::TinyBatch(g_comm->rank(), 2)}, 1e-3);
  plant = false;
  ASSERT_TRUE(poisoned.ok()) << poisoned.status();
  // Both ranks: skipped, not a divergence, the loss itself finite, the scale halved.
  for (double skipped : Gathered(poisoned->skipped ? 1 : 0)) EXPECT_EQ(skipped, 1);
  for (double finite : Gathered(poisoned->finite ? 1 : 0)) EXPECT_EQ(finite, 1);
  EXPECT_TRUE(std::isfinite(poisoned->loss));
  EXPECT_EQ(poisoned->loss_scale, 65536);
  for (double scale : Gathered(scaler.scale())) EXPECT_EQ(scale, 32768);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  EXPECT_EQ(optimizer.steps(), 1);
  EXPECT_EQ(testing::MaxDifference(model->parameters(), before), 0.0) << "rank " << g_comm->rank();
  for (const auto& p : model->parameters()) {
    ASSERT_TRUE(!p.grad().defined() || p.grad().abs().sum().item<double>() == 0.0)
        << "the skipped update's gradients must not leak into the next";
  }

  // Three clean updates in a row grow the scale back; the ranks stay identical throughout.
  for (int step = 3; step <= 5; ++step) {
    auto stats = testing::UpdateAndRead(runner, {testing::TinyBatch(g_comm->rank(), step)}, 1e-3);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_FALSE(stats->skipped) << "step " << step;
    EXPECT_EQ(stats->loss_scale, 32768) << "step " << step;
  }
  EXPECT_EQ(optimizer.steps(), 4);
  for (double scale : Gathered(scaler.scale())) EXPECT_EQ(scale, 65536);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  const std::vector<double> checksums = Gathered(ParameterChecksum(model));
  ASSERT_EQ(checksums.size(), 2u);
  EXPECT_EQ(checksums[0], checksums[1]);
}

TEST(LossScalingMpiTest, ScaledTrainingEqualsUnscaledAcrossRanks) {
  models::Seq2Seq scaled(testing::TinyModelOptions()), plain(testing::TinyModelOptions());
  models::InitialiseDefault(*scaled, 8);
  models::InitialiseDefault(*plain, 8);
  Optimizer scaled_opt(scaled->parameters(), testing::DefaultAdam());
  Optimizer plain_opt(plain->parameters(), testing::DefaultAdam());
  LossScaler scaler(Options(1024, 2));
  StepOptions options;
  options.clip_norm = 0.5;
  options.bucket_bytes = 16 << 10;
  StepRunner scaled_runner(scaled, &scaled_opt, g_comm, options, &scaler);
  StepRunner plain_runner(plain, &plain_opt, g_comm, options);
  for (int step = 1; step <= 6; ++step) {
    // Two micro-batches: the scale also applies to the accumulated, uncommunicated one.
    std::vector<DeviceBatch> batches = {testing::TinyBatch(2 * g_comm->rank(), step),
                                        testing::TinyBatch(2 * g_comm->rank() + 1, step)};
    auto a = testing::UpdateAndRead(scaled_runner, batches, 1e-3);
    auto b = testing::UpdateAndRead(plain_runner, batches, 1e-3);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_FALSE(a->skipped);
    EXPECT_EQ(a->loss_scale, std::ldexp(1024.0, (step - 1) / 2)) << "step " << step;
    EXPECT_EQ(a->loss, b->loss) << "step " << step;
    EXPECT_NEAR(a->grad_norm, b->grad_norm, 1e-12 * b->grad_norm) << "step " << step;
  }
  EXPECT_EQ(scaler.scale(), 8192);
  EXPECT_EQ(testing::MaxDifference(scaled->parameters(), plain->parameters()), 0.0);
}

}  // namespace
}  // namespace fathom::trainer
