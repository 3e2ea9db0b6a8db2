// Dynamic loss scaling in one process: the scaler's arithmetic and state, its options from the
// config, and StepRunner skipping overflowing updates until the scale fits, then training
// exactly as without scaling. Autocast scopes restore what they found.
#include <cmath>
#include <limits>
#include <vector>

#include "comm/single_process_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "tests/tiny_training.h"
#include "trainer/autocast_scope.h"
#include "trainer/loss_scaler.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"

namespace fathom::trainer {
namespace {

using ::testing::HasSubstr;

LossScalerOptions Options(double init, int64_t interval, double min) {
  LossScalerOptions options;
  options.init_scale = init;
  options.growth_interval = interval;
  options.min_scale = min;
  return options;
}

TEST(LossScalerTest, GrowsAfterTheIntervalAndBacksOffOnOverflow) {
  LossScaler scaler(Options(8, 3, 1));
  EXPECT_EQ(scaler.scale(), 8);
  ASSERT_TRUE(scaler.Update(false).ok());
  ASSERT_TRUE(scaler.Update(false).ok());
  EXPECT_EQ(scaler.scale(), 8);
  EXPECT_EQ(scaler.growth_tracker(), 2);
  ASSERT_TRUE(scaler.Update(false).ok());  // the third clean update in a row
  EXPECT_EQ(scaler.scale(), 16);
  EXPECT_EQ(scaler.growth_tracker(), 0);

  // An overflow halves the scale and restarts the count.
  ASSERT_TRUE(scaler.Update(false).ok());
  ASSERT_TRUE(scaler.Update(false).ok());
  ASSERT_TRUE(scaler.Update(true).ok());
  EXPECT_EQ(scaler.scale(), 8);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  ASSERT_TRUE(scaler.Update(false).ok());
  ASSERT_TRUE(scaler.Update(false).ok());
  EXPECT_EQ(scaler.scale(), 8);
  ASSERT_TRUE(scaler.Update(false).ok());
  EXPECT_EQ(scaler.scale(), 16);
}

TEST(LossScalerTest, StopsAtTheMinimumAndFailsOnAnOverflowThere) {
  LossScaler scaler(Options(8, 2000, 3));
  ASSERT_TRUE(scaler.Update(true).ok());
  EXPECT_EQ(scaler.scale(), 4);
  ASSERT_TRUE(scaler.Update(true).ok());
  EXPECT_EQ(scaler.scale(), 3);  // clamped, not 2
  const absl::Status at_minimum = scaler.Update(true);
  EXPECT_EQ(at_minimum.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(at_minimum.message(), HasSubstr("distributed.min_loss_scale"));
  EXPECT_EQ(scaler.scale(), 3);
  // Clean updates at the minimum are fine and grow it again.
  EXPECT_TRUE(scaler.Update(false).ok());
}

TEST(LossScalerTest, StateRoundTripsAndBadStatesAreRefused) {
  LossScaler a(Options(1024, 5, 1));
  for (bool overflow : {false, true, false, false, false}) ASSERT_TRUE(a.Update(overflow).ok());
  const LossScaler::State saved = a.state();
  EXPECT_EQ(saved.scale, 512);
  EXPECT_EQ(saved.growth_tracker, 3);

  LossScaler b(Options(1024, 5, 1));
  ASSERT_TRUE(b.Restore(saved).ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(a.Update(false).ok());
    ASSERT_TRUE(b.Update(false).ok());
    EXPECT_EQ(a.scale(), b.scale());
    EXPECT_EQ(a.growth_tracker(), b.growth_tracker());
  }
  EXPECT_EQ(b.scale(), 1024);  // grew after the fifth clean update

  for (LossScaler::State bad : {LossScaler::State{0, 0}, LossScaler::State{-2, 0},
                                LossScaler::State{std::numeric_limits<double>::infinity(), 0},
                                LossScaler::State{std::nan(""), 0}, LossScaler::State{8, -1}}) {
    EXPECT_EQ(b.Restore(bad).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(b.scale(), 1024);  // a refused state changes nothing
}

TEST(LossScalerTest, OptionsComeFromTheConfigWithTheProtoDefaults) {
  proto::DistributedConfig config;
  auto defaults = LossScalerOptions::FromProto(config);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->init_scale, 65536.0);
  EXPECT_EQ(defaults->growth_interval, 2000);
  EXPECT_FLOAT_EQ(defaults->min_scale, 1e-4);
  EXPECT_EQ(defaults->growth_factor, 2.0);
  EXPECT_EQ(defaults->backoff_factor, 0.5);

  proto::DistributedConfig bad = config;
  bad.set_init_loss_scale(0);
  EXPECT_THAT(LossScalerOptions::FromProto(bad).status().message(),
              HasSubstr("distributed.init_loss_scale: must be > 0"));
  bad = config;
  bad.set_loss_scale_window(0);
  EXPECT_THAT(LossScalerOptions::FromProto(bad).status().message(),
              HasSubstr("distributed.loss_scale_window: must be > 0 (got 0)"));
  bad = config;
  bad.set_min_loss_scale(-1);
  EXPECT_THAT(LossScalerOptions::FromProto(bad).status().message(),
              HasSubstr("distributed.min_loss_scale: must be > 0"));
  bad = config;
  bad.set_init_loss_scale(16);
  bad.set_min_loss_scale(32);
  EXPECT_THAT(LossScalerOptions::FromProto(bad).status().message(),
              HasSubstr("must be <= distributed.init_loss_scale"));
}

// float32 overflows past 2^128: a loss scaled by 2^127 overflows its gradients for sure. The
// runner skips, halving the scale each time without touching the weights, until the gradients
// fit; from then on it trains as an unscaled runner does, because scaling by a power of two and
// back changes no bits.
TEST(StepRunnerLossScalingTest, SkipsOverflowsThenTrainsLikeNoScaling) {
  models::Seq2Seq scaled(testing::TinyModelOptions()), plain(testing::TinyModelOptions());
  models::InitialiseDefault(*scaled, 3);
  models::InitialiseDefault(*plain, 3);
  Optimizer scaled_opt(scaled->parameters(), testing::DefaultAdam());
  Optimizer plain_opt(plain->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  LossScaler scaler(Options(std::ldexp(1.0, 127), 1000, 1));
  StepOptions options;
  options.clip_norm = 1.0;
  StepRunner scaled_runner(scaled, &scaled_opt, &alone, options, &scaler);
  StepRunner plain_runner(plain, &plain_opt, &alone, options);

  const std::vector<torch::Tensor> initial = testing::Snapshot(scaled->parameters());
  int skipped = 0;
  double expected_scale = std::ldexp(1.0, 127);
  for (;; ++skipped) {
    ASSERT_LT(skipped, 100) << "the scale never came down to fit";
    auto stats = testing::UpdateAndRead(scaled_runner, {testing::TinyBatch(0, 1)}, 1e-3);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->loss_scale, expected_scale);
    EXPECT_TRUE(stats->finite) << "a gradient overflow is not a diverged loss";
    EXPECT_TRUE(std::isfinite(stats->loss));
    if (!stats->skipped) break;
    EXPECT_FALSE(std::isfinite(stats->grad_norm));
    expected_scale /= 2;
    EXPECT_EQ(scaler.scale(), expected_scale);
    EXPECT_EQ(scaled_opt.steps(), 0);
    EXPECT_EQ(testing::MaxDifference(scaled->parameters(), initial), 0.0)
        << "a skipped update moved weights";
  }
  EXPECT_GT(skipped, 0);
  EXPECT_EQ(scaled_opt.steps(), 1);
  EXPECT_EQ(scaler.growth_tracker(), 1);

  auto first = testing::UpdateAndRead(plain_runner, {testing::TinyBatch(0, 1)}, 1e-3);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->skipped);
  EXPECT_EQ(first->loss_scale, 1.0);
  EXPECT_EQ(testing::MaxDifference(scaled->parameters(), plain->parameters()), 0.0);
  for (int step = 2; step <= 6; ++step) {
    auto a = testing::UpdateAndRead(scaled_runner, {testing::TinyBatch(0, step)}, 1e-3);
    auto b = testing::UpdateAndRead(plain_runner, {testing::TinyBatch(0, step)}, 1e-3);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_FALSE(a->skipped);
    EXPECT_EQ(a->loss, b->loss) << "step " << step;
    EXPECT_NEAR(a->grad_norm, b->grad_norm, 1e-12 * b->grad_norm) << "step " << step;
  }
  EXPECT_EQ(testing::MaxDifference(scaled->parameters(), plain->parameters()), 0.0);
}

TEST(StepRunnerLossScalingTest, ANonFiniteLossIsNotAnOverflow) {
  models::Seq2Seq model(testing::TinyModelOptions());
  models::InitialiseDefault(*model, 4);
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  LossScaler scaler(Options(65536, 1000, 1));
  StepRunner runner(model, &optimizer, &alone, StepOptions(), &scaler);
  {
    torch::NoGradGuard no_grad;
    model->parameters()[0].view(-1)[0].fill_(std::nan(""));
  }
  auto stats = testing::UpdateAndRead(runner, {testing::TinyBatch(0, 1)}, 1e-3);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->skipped);
  EXPECT_FALSE(stats->finite);
  EXPECT_EQ(scaler.scale(), 65536) << "the scale cannot fix a NaN forward pass";
}

TEST(StepRunnerLossScalingTest, Float16AutocastNeedsCudaBatches) {
  models::Seq2Seq model(testing::TinyModelOptions());
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.fp16_autocast = true;
  StepRunner runner(model, &optimizer, &alone, options);
  auto stats = testing::UpdateAndRead(runner, {testing::TinyBatch(0, 1)}, 1e-3);
  ASSERT_FALSE(stats.ok());
  EXPECT_THAT(stats.status().message(), HasSubstr("float16 autocast needs CUDA"));
}

TEST(AutocastScopeTest, CastsInsideAndRestoresAfter) {
  const torch::Tensor a = torch::randn({4, 4}), b = torch::randn({4, 4});
  EXPECT_FALSE(AutocastEnabled(torch::kCPU));
  {
    const AutocastScope scope(torch::kCPU, torch::kBFloat16);
    EXPECT_TRUE(AutocastEnabled(torch::kCPU));
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      const AutocastScope nothing(torch::kCPU, std::nullopt);
      EXPECT_TRUE(AutocastEnabled(torch::kCPU)) << "an inactive scope changes nothing";
    }
  }
  EXPECT_FALSE(AutocastEnabled(torch::kCPU));
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
}

}  // namespace
}  // namespace fathom::trainer
