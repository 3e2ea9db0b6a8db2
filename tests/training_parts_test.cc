// Optimiser and loss against independent references (LibTorch's own Adam and AdamW,
// the RAdam and label-smoothing formulas written out here).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "models/dropout.h"
#include "proto/config_io.h"
#include "trainer/device_batch.h"
#include "trainer/generator_state.h"
#include "trainer/loss.h"
#include "trainer/optimizer.h"

namespace fathom::trainer {
namespace {

OptimizerOptions Optim(proto::OptimConfig::Optimizer kind, double weight_decay) {
  proto::OptimConfig config;
  ResolveDefaults(&config);
  config.set_optimizer(kind);
  config.set_weight_decay(weight_decay);
  return OptimizerOptions::FromProto(config);
}

// Runs `steps` updates on a quadratic with both optimisers and compares parameters.
void CompareWithLibTorch(proto::OptimConfig::Optimizer kind, double weight_decay) {
  torch::manual_seed(1);
  torch::Tensor target = torch::randn({5, 3});
  torch::Tensor a = torch::randn({5, 3}).requires_grad_(true);
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  Optimizer ours({a}, Optim(kind, weight_decay));
  std::unique_ptr<torch::optim::Optimizer> reference;
  if (kind == proto::OptimConfig::ADAMW) {
    reference = std::make_unique<torch::optim::AdamW>(
        std::vector<torch::Tensor>{b},
        torch::optim::AdamWOptions(1e-2).betas({0.9, 0.98}).eps(1e-8).weight_decay(weight_decay));
  } else {
    reference = std::make_unique<torch::optim::Adam>(
        std::vector<torch::Tensor>{b},
        torch::optim::AdamOptions(1e-2).betas({0.9, 0.98}).eps(1e-8).weight_decay(weight_decay));
  }
  for (int step = 0; step < 25; ++step) {
    ours.ZeroGrad();
    reference->zero_grad();
    ((a - target).pow(3).abs().sum()).backward();
    ((b - target).pow(3).abs().sum()).backward();
    ours.Step(1e-2);
    reference->step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << (a - b).abs().max().item<double>();
}

TEST(OptimizerTest, AdamMatchesLibTorch) { CompareWithLibTorch(proto::OptimConfig::ADAM, 0.0); }
TEST(OptimizerTest, AdamWithL2MatchesLibTorch) {
  CompareWithLibTorch(proto::OptimConfig::ADAM, 0.01);
}
TEST(OptimizerTest, AdamWMatchesLibTorch) { CompareWithLibTorch(proto::OptimConfig::ADAMW, 0.1); }

TEST(OptimizerTest, RAdamFollowsItsRectification) {
  // One parameter, constant gradient g: the first 5 steps (rho_t <= 5 for beta2 0.98... ) are
  // SGD with momentum; later steps use the rectified adaptive term.
  const double b1 = 0.9, b2 = 0.98, lr = 0.1, g = 2.0;
  torch::Tensor p = torch::zeros({1}).requires_grad_(true);
  Optimizer radam({p}, Optim(proto::OptimConfig::RADAM, 0.0));
  double expected = 0, m = 0, v = 0;
  const double rho_inf = 2 / (1 - b2) - 1;
  for (int t = 1; t <= 12; ++t) {
    p.mutable_grad() = torch::full({1}, g);
    radam.Step(lr);
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double m_hat = m / (1 - std::pow(b1, t));
    const double rho = rho_inf - 2 * t * std::pow(b2, t) / (1 - std::pow(b2, t));
    if (rho > 5) {
      const double r =
          std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
      expected -= lr * r * m_hat / (std::sqrt(v / (1 - std::pow(b2, t))) + 1e-8);
    } else {
      expected -= lr * m_hat;
    }
    EXPECT_NEAR(p.item<double>(), expected, 1e-5) << "step " << t;
  }
}

TEST(OptimizerTest, StateRoundTripsThroughNamedTensors) {
  torch::Tensor p = torch::ones({4}).requires_grad_(true);
  Optimizer first({p}, Optim(proto::OptimConfig::ADAM, 0.0));
  p.mutable_grad() = torch::full({4}, 0.5);
  first.Step(0.1);
  torch::Tensor q = p.detach().clone().requires_grad_(true);
  Optimizer second({q}, Optim(proto::OptimConfig::ADAM, 0.0));
  second.LoadState(first.State());
  EXPECT_EQ(second.steps(), 1);
  p.mutable_grad() = torch::full({4}, -0.3);
  q.mutable_grad() = torch::full({4}, -0.3);
  first.Step(0.1);
  second.Step(0.1);
  EXPECT_TRUE(torch::equal(p, q));
}

// The update with its factor and skip decision as tensors (what StepRunner passes) is the
// host-scalar update on the CPU, bit for bit, and a nonzero found_inf changes nothing, the step
// count included.
TEST(OptimizerTest, TensorFactorAndFoundInfStepLikeTheHostStep) {
  torch::manual_seed(4);
  torch::Tensor a = torch::randn({6, 5}).requires_grad_(true);
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  Optimizer host({a}, Optim(proto::OptimConfig::RADAM, 0.01));
  Optimizer device({b}, Optim(proto::OptimConfig::RADAM, 0.01));
  const torch::Tensor finite = torch::zeros({1}), not_finite = torch::ones({1});
  for (int step = 0; step < 8; ++step) {
    const torch::Tensor g = torch::randn({6, 5});
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    const double scale = 1.0 / (3 + step);
    host.Step(1e-2, scale);
    device.Step(1e-2, torch::full({1}, scale, torch::kDouble), finite, /*fused=*/true);
    ASSERT_TRUE(torch::equal(a, b)) << "step " << step;
    const torch::Tensor before = b.detach().clone();
    device.Step(1e-2, torch::full({1}, scale, torch::kDouble), not_finite, /*fused=*/true);
    EXPECT_TRUE(torch::equal(b, before));
    EXPECT_EQ(device.steps(), host.steps());
  }
}

TEST(LossTest, LabelSmoothingMatchesTheFormula) {
  torch::manual_seed(3);
  torch::Tensor logits = torch::randn({2, 3, 7});
  torch::Tensor targets = torch::tensor({{4, 5, 0}, {6, 0, 0}}, torch::kLong);
  const double eps = 0.1;
  LossSums sums = LabelSmoothedCrossEntropy(logits, targets, eps, 0);
  double loss = 0, nll = 0;
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 3; ++t) {
      const int64_t y = targets[b][t].item<int64_t>();
      if (y == 0) continue;
      torch::Tensor logp = torch::log_softmax(logits[b][t], 0);
      nll += -logp[y].item<double>();
      loss += (1 - eps) * -logp[y].item<double>() + eps / 7.0 * -logp.sum().item<double>();
    }
  }
  EXPECT_NEAR(sums.loss.item<double>(), loss, 1e-5);
  EXPECT_NEAR(sums.nll.item<double>(), nll, 1e-5);
}

TEST(LossTest, FusedGradientEqualsAutogradThroughLogSoftmax) {
  torch::manual_seed(4);
  const double eps = 0.1;
  torch::Tensor base = torch::randn({6, 11});
  torch::Tensor targets = torch::tensor({3, 0, 7, 10, 0, 1}, torch::kLong);
  torch::Tensor a = base.clone().requires_grad_(true);
  torch::Tensor b = base.clone().requires_grad_(true);
  (LabelSmoothedCrossEntropy(a, targets, eps, 0).loss * 0.7).backward();
  torch::Tensor logp = torch::log_softmax(b, 1);
  torch::Tensor keep = targets.ne(0).to(torch::kFloat);
  torch::Tensor per =
      (1 - eps) * -logp.gather(1, targets.unsqueeze(1)).squeeze(1) + eps / 11.0 * -logp.sum(1);
  ((per * keep).sum() * 0.7).backward();
  EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), 1e-5, 1e-6))
      << (a.grad() - b.grad()).abs().max().item<double>();
  EXPECT_EQ(a.grad()[1].abs().sum().item<double>(), 0.0);  // a pad row gets no gradient
}

// What a checkpoint holds of the generators brings back the dropout masks the run would have drawn.
void ExpectRestoredGeneratorsRepeatTheMasks(const torch::Device& device) {
  torch::manual_seed(5);
  const torch::Tensor ones = torch::ones({64, 64}, torch::TensorOptions().device(device));
  models::Dropout(ones, 0.3, true);  // move the generators off their seeded state
  absl::StatusOr<GeneratorBytes> saved = SaveGenerators(device);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->device.empty(), !device.is_cuda());
  const torch::Tensor first = models::Dropout(ones, 0.3, true);
  ASSERT_TRUE(RestoreGenerators(device, *saved, "test").ok());
  EXPECT_TRUE(torch::equal(models::Dropout(ones, 0.3, true), first));
  EXPECT_FALSE(torch::equal(models::Dropout(ones, 0.3, true), first));
}

TEST(GeneratorStateTest, RestoringRepeatsTheCpuMasks) {
  ExpectRestoredGeneratorsRepeatTheMasks(torch::kCPU);
}

TEST(GeneratorStateTest, RestoringRepeatsTheCudaMasks) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ExpectRestoredGeneratorsRepeatTheMasks(torch::Device(torch::kCUDA, 0));
}

TEST(GeneratorStateTest, TruncatedBytesAreAnErrorNamingTheSource) {
  absl::StatusOr<GeneratorBytes> saved = SaveGenerators(torch::kCPU);
  ASSERT_TRUE(saved.ok());
  saved->cpu.resize(saved->cpu.size() / 2);
  const absl::Status status =
      RestoreGenerators(torch::kCPU, *saved, "run/checkpoints/step_00000040");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("run/checkpoints/step_00000040: CPU generator state"),
            std::string::npos)
      << status;
}

TEST(DeviceBatchTest, ConcatenatePadsEveryBatchToTheWidest) {
  DeviceBatch a, b;
  a.source = torch::tensor({5, 6, 7}, torch::kLong).view({1, 3});
  a.target_input = torch::tensor({2, 8}, torch::kLong).view({1, 2});
  a.target_output = torch::tensor({8, 3}, torch::kLong).view({1, 2});
  a.relations = torch::arange(1, 10, torch::kLong).view({1, 3, 3});
  a.source_tokens = 3;
  a.target_tokens = 2;
  b.source =
      torch::tensor({9, 9, 0, 0, 4, 0}, torch::kLong).view({2, 3}).narrow(1, 0, 2).contiguous();
  b.target_input = torch::tensor({2, 4, 5, 2, 6, 0}, torch::kLong).view({2, 3});
  b.target_output = torch::tensor({4, 5, 3, 6, 3, 0}, torch::kLong).view({2, 3});
  b.relations = torch::full({2, 2, 2}, 7, torch::kLong);
  b.source_tokens = 3;
  b.target_tokens = 5;
  const DeviceBatch both = Concatenate({a, b}, 0);
  EXPECT_TRUE(torch::equal(both.source,
                           torch::tensor({5, 6, 7, 9, 9, 0, 0, 4, 0}, torch::kLong).view({3, 3})));
  EXPECT_TRUE(torch::equal(both.target_input,
                           torch::tensor({2, 8, 0, 2, 4, 5, 2, 6, 0}, torch::kLong).view({3, 3})));
  EXPECT_TRUE(torch::equal(both.target_output,
                           torch::tensor({8, 3, 0, 4, 5, 3, 6, 3, 0}, torch::kLong).view({3, 3})));
  ASSERT_EQ(both.relations.sizes(), (std::vector<int64_t>{3, 3, 3}));
  EXPECT_TRUE(torch::equal(both.relations[0], a.relations[0]));
  // b's relations padded with 0 in both position dimensions.
  EXPECT_EQ(both.relations[1].sum().item<int64_t>(), 4 * 7);
  EXPECT_EQ(both.relations[1][2].sum().item<int64_t>(), 0);
  EXPECT_EQ(both.relations[1].select(1, 2).sum().item<int64_t>(), 0);
  EXPECT_EQ(both.source_tokens, 6);
  EXPECT_EQ(both.target_tokens, 7);
  // Another pad id pads the ids with it; relations still with 0.
  const DeviceBatch other = Concatenate({a, b}, 1);
  EXPECT_EQ(other.target_input[0][2].item<int64_t>(), 1);
  EXPECT_EQ(other.target_output[0][2].item<int64_t>(), 1);
  EXPECT_EQ(other.source[1][2].item<int64_t>(), 1);
  EXPECT_EQ(other.relations[1][2].sum().item<int64_t>(), 0);
}

}  // namespace
}  // namespace fathom::trainer
