// kernels/label_smoothed_cross_entropy.h: the CPU reference against LibTorch's composition
// (log_softmax, forward and backward through torch::autograd::grad), and on CUDA the kernels
// against the reference and, through autograd, against the composition.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <tuple>

#include "kernels/label_smoothed_cross_entropy.h"
#include "kernels/label_smoothed_cross_entropy_reference.h"
#include "tests/kernels_test_util.h"

namespace fathom::kernels {
namespace {

using ::fathom::testing::ExpectClose;

constexpr int64_t kPad = 0;

// logits [rows, vocab] spread like a model's (std 3), targets in [1, vocab) with about one row
// in five padding.
std::pair<torch::Tensor, torch::Tensor> MakeBatch(int64_t rows, int64_t vocab,
                                                  torch::ScalarType type, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor logits = (torch::randn({rows, vocab}) * 3).to(type);
  torch::Tensor targets = torch::randint(1, vocab, {rows}, torch::kLong);
  targets.masked_fill_(torch::rand({rows}) < 0.2, kPad);
  targets[0] = kPad;  // at least one padding row
  return {logits, targets};
}

// LibTorch's composition: [2] = (sum of the smoothed loss, sum of nll) over non-pad rows.
torch::Tensor Composition(const torch::Tensor& logits, const torch::Tensor& targets,
                          double smoothing) {
  const torch::Tensor lp = torch::log_softmax(logits, 1);
  const torch::Tensor keep = targets.ne(kPad).to(lp.scalar_type());
  const torch::Tensor nll = -lp.gather(1, targets.unsqueeze(1)).squeeze(1) * keep;
  const torch::Tensor smooth = -lp.sum(1) * keep;
  const torch::Tensor loss = (1 - smoothing) * nll + smoothing / logits.size(1) * smooth;
  return torch::stack({loss.sum(), nll.sum()});
}

class CrossEntropyCpuTest
    : public ::testing::TestWithParam<std::tuple<int64_t, double, torch::ScalarType>> {};

// Against the composition in float64 on the same values: the reference rounds its double sums to
// float32 once (1e-6 relative); a missing or misplaced smoothing term, or a pad row counted, is
// off by far more.
TEST_P(CrossEntropyCpuTest, ReferenceMatchesComposition) {
  const auto [vocab, smoothing, type] = GetParam();
  const auto [logits, targets] = MakeBatch(48, vocab, type, 1);
  const torch::Tensor exact = logits.to(torch::kDouble).requires_grad_(true);
  const torch::Tensor expected = Composition(exact, targets, smoothing);
  const torch::Tensor sums = LabelSmoothedCrossEntropyReference(logits, targets, smoothing, kPad);
  EXPECT_EQ(sums.scalar_type(), torch::kFloat);
  ExpectClose(sums, expected, 1e-6, 1e-6, "sums");
  // Backward of the smoothed loss with an upstream gradient of 0.7, rounded to the logits' type
  // once: float32 1e-6 relative, bfloat16 2^-8.
  const double upstream = 0.7;
  const torch::Tensor grad =
      torch::autograd::grad({expected[0]}, {exact}, {torch::tensor(upstream, torch::kDouble)})[0];
  const torch::Tensor ref =
      LabelSmoothedCrossEntropyBackwardReference(logits, targets, smoothing, kPad, upstream);
  EXPECT_EQ(ref.scalar_type(), type);
  ExpectClose(ref, grad, type == torch::kBFloat16 ? 8e-3 : 1e-6, 1e-9, "grad");
  EXPECT_EQ(ref[0].abs().max().item<double>(), 0.0) << "a padding row has a gradient";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossEntropyCpuTest,
                         ::testing::Combine(::testing::Values(37, 1000, 32000),
                                            ::testing::Values(0.0, 0.1),
                                            ::testing::Values(torch::kFloat, torch::kBFloat16)));

TEST(CrossEntropyCpu, KernelDoesNotApplyOnTheCpu) {
  const auto [logits, targets] = MakeBatch(4, 37, torch::kFloat, 2);
  EXPECT_FALSE(CrossEntropyKernelApplies(logits, targets));
  EXPECT_THROW(LabelSmoothedCrossEntropy(logits, targets, 0.1, kPad), c10::Error);
}

// ---- CUDA ----------------------------------------------------------------------------------

class CrossEntropyCudaTest : public CrossEntropyCpuTest {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// The kernels against the reference on 300 rows: sums accumulated in float32 (1e-5 relative),
// the gradient from expf in float32 (1e-5 relative, or 2^-7 after rounding to bfloat16).
TEST_P(CrossEntropyCudaTest, KernelsMatchReference) {
  const auto [vocab, smoothing, type] = GetParam();
  const auto [logits, targets] = MakeBatch(300, vocab, type, 3);
  const torch::Tensor z = logits.cuda().requires_grad_(true);
  const torch::Tensor t = targets.cuda();
  ASSERT_TRUE(CrossEntropyKernelApplies(z, t));
  const torch::Tensor sums = LabelSmoothedCrossEntropy(z, t, smoothing, kPad);
  ASSERT_EQ(sums.scalar_type(), torch::kFloat);
  ASSERT_TRUE(sums.is_cuda());
  ExpectClose(sums, LabelSmoothedCrossEntropyReference(logits, targets, smoothing, kPad), 1e-5,
              1e-4, "sums");
  const torch::Tensor upstream = torch::tensor({0.7f, 123.0f}, z.options().requires_grad(false));
  const torch::Tensor grad = torch::autograd::grad({sums}, {z}, {upstream})[0];
  EXPECT_EQ(grad.scalar_type(), type);
  // The second element (nll, for logging) gets no gradient: only 0.7 scales it.
  ExpectClose(grad,
              LabelSmoothedCrossEntropyBackwardReference(logits, targets, smoothing, kPad, 0.7),
              type == torch::kBFloat16 ? 1.6e-2 : 1e-5, 1e-8, "grad");
}

// Through autograd against the composition on the same device (in float32, as trainer/loss.cc
// computes it).
TEST_P(CrossEntropyCudaTest, FusedMatchesCompositionThroughAutograd) {
  const auto [vocab, smoothing, type] = GetParam();
  const auto [logits, targets] = MakeBatch(200, vocab, type, 4);
  const torch::Tensor t = targets.cuda();
  const torch::Tensor z_fused = logits.cuda().requires_grad_(true);
  const torch::Tensor z_plain = logits.cuda().requires_grad_(true);
  const torch::Tensor fused = LabelSmoothedCrossEntropy(z_fused, t, smoothing, kPad);
  const torch::Tensor plain = Composition(z_plain.to(torch::kFloat), t, smoothing);
  ExpectClose(fused, plain, 1e-5, 1e-4, "sums");
  const torch::Tensor g_fused = torch::autograd::grad({fused[0]}, {z_fused})[0];
  const torch::Tensor g_plain = torch::autograd::grad({plain[0]}, {z_plain})[0];
  EXPECT_EQ(g_fused.scalar_type(), g_plain.scalar_type());
  ExpectClose(g_fused, g_plain, type == torch::kBFloat16 ? 1.6e-2 : 1e-5, 1e-8, "grad");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossEntropyCudaTest,
                         ::testing::Combine(::testing::Values(37, 1000, 32000),
                                            ::testing::Values(0.0, 0.1),
                                            ::testing::Values(torch::kFloat, torch::kBFloat16)));

// A target outside the vocabulary that is not padding makes the sums NaN (the step's non-finite
// check catches it) instead of reading past the row.
TEST(CrossEntropyCuda, OutOfRangeTargetGivesNaN) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto [logits, targets] = MakeBatch(8, 37, torch::kFloat, 5);
  targets[3] = 37;
  const torch::Tensor sums = LabelSmoothedCrossEntropy(logits.cuda(), targets.cuda(), 0.1, kPad);
  EXPECT_TRUE(sums.cpu().isnan().all().item<bool>());
}

// No rows: zero sums and an empty gradient.
TEST(CrossEntropyCuda, EmptyBatch) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Tensor z = torch::zeros({0, 37}, torch::kCUDA).requires_grad_(true);
  const torch::Tensor sums = LabelSmoothedCrossEntropy(
      z, torch::zeros({0}, torch::dtype(torch::kLong).device(torch::kCUDA)), 0.1, kPad);
  EXPECT_EQ(sums.cpu().abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(torch::autograd::grad({sums[0]}, {z})[0].numel(), 0);
}

}  // namespace
}  // namespace fathom::kernels
