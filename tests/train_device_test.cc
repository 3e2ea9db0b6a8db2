// A training update on every device and precision of the test matrix (tests/device_matrix.h):
// float32, bfloat16 autocast and, on CUDA, float16 autocast with dynamic loss scaling. The tiny
// model trains on each, and its losses follow the CPU float32 run to the precision's tolerance.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "comm/single_process_communicator.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "tests/device_matrix.h"
#include "tests/tiny_training.h"
#include "trainer/loss_scaler.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"

namespace fathom::trainer {
namespace {

constexpr int kUpdates = 30;

trainer::DeviceBatch Moved(trainer::DeviceBatch batch, const torch::Device& device) {
  batch.source = batch.source.to(device);
  batch.target_input = batch.target_input.to(device);
  batch.target_output = batch.target_output.to(device);
  return batch;
}

struct TrainingRun {
  std::vector<double> losses;  // of every update, skipped ones too (computed before the update)
  int skipped = 0;             // float16 updates whose gradients overflowed
};

// kUpdates updates over four fixed batches, on `device` in `dtype` (autocast).
TrainingRun Train(const torch::Device& device, torch::ScalarType dtype) {
  models::Seq2Seq model(testing::TinyModelOptions());
  models::InitialiseDefault(*model, 5);
  model->to(device);
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.clip_norm = 1.0;
  options.bf16_autocast = dtype == torch::kBFloat16;
  options.fp16_autocast = dtype == torch::kHalf;
  std::optional<LossScaler> scaler;
  if (options.fp16_autocast) {
    LossScalerOptions scaling;
    scaling.init_scale = 65536;
    scaling.growth_interval = 2000;
    scaling.min_scale = 1;
    scaler.emplace(scaling);
  }
  StepRunner runner(model, &optimizer, &alone, options, scaler ? &*scaler : nullptr);
  TrainingRun run;
  for (int step = 0; step < kUpdates; ++step) {
    auto stats =
        testing::UpdateAndRead(runner, {Moved(testing::TinyBatch(0, step % 4), device)}, 3e-3);
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (!stats.ok()) break;
    EXPECT_TRUE(stats->finite) << "step " << step;
    run.losses.push_back(stats->loss);
    run.skipped += stats->skipped ? 1 : 0;
  }
  for (const auto& p : model->parameters()) EXPECT_EQ(p.device(), device);
  return run;
}

class DeviceTrainingTest : public ::testing::TestWithParam<testing::DeviceDtype> {};

TEST_P(DeviceTrainingTest, TrainsAndFollowsTheCpuFloat32Losses) {
  const TrainingRun reference = Train(torch::kCPU, torch::kFloat);
  const TrainingRun run = Train(GetParam().device, GetParam().dtype);
  ASSERT_EQ(reference.losses.size(), static_cast<size_t>(kUpdates));
  ASSERT_EQ(run.losses.size(), static_cast<size_t>(kUpdates));
  EXPECT_EQ(reference.skipped, 0);
  // float16 may skip a few updates while its scale comes down; the others apply every one.
  EXPECT_LE(run.skipped, GetParam().dtype == torch::kHalf ? 5 : 0);
  // It learns: the last pass over the four batches is well below the first.
  const auto mean = [](const std::vector<double>& v, size_t from) {
    return (v[from] + v[from + 1] + v[from + 2] + v[from + 3]) / 4;
  };
  EXPECT_LT(mean(run.losses, kUpdates - 4), 0.8 * mean(run.losses, 0));
  // And follows the float32 run: the first loss (same weights, same batch) to the dtype's
  // rounding, later ones within a few times that, as rounding compounds through the updates
  // (autocast keeps float32 weights, so it compounds slowly).
  const double tol = testing::Tolerance(GetParam().dtype);
  EXPECT_NEAR(run.losses[0], reference.losses[0], 2 * tol * reference.losses[0]);
  if (run.skipped > 0) return;  // a skipped update puts the runs a batch apart
  double max_difference = 0;
  for (int i = 0; i < kUpdates; ++i) {
    EXPECT_NEAR(run.losses[i], reference.losses[i], 4 * tol * reference.losses[i])
        << "update " << i;
    max_difference = std::max(max_difference, std::abs(run.losses[i] / reference.losses[i] - 1));
  }
  std::printf("largest relative loss difference from CPU float32 over %d updates: %.2e\n", kUpdates,
              max_difference);
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceTrainingTest,
                         ::testing::ValuesIn(testing::DeviceDtypes(/*fp16=*/true)),
                         testing::DeviceDtypeName);

}  // namespace
}  // namespace fathom::trainer
