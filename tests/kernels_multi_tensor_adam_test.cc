// kernels/multi_tensor_adam.h: the CPU reference against Adam, AdamW and RAdam written as LibTorch
// ops in trainer/fused_adam_cpu.cc's order, and on CUDA the kernel against the reference, bit for
// bit, over enough tensors and elements to need several launches and split a tensor across two.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/kernels_built.h"
#include "kernels/multi_tensor_adam.h"

namespace fathom::kernels {
namespace {

// The optimiser state of a list of parameters.
struct State {
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;

  State Clone(const torch::Device& device) const {
    State s;
    for (size_t i = 0; i < params.size(); ++i) {
      s.params.push_back(params[i].to(device, /*non_blocking=*/false, /*copy=*/true));
      s.grads.push_back(grads[i].to(device, false, true));
      s.exp_avg.push_back(exp_avg[i].to(device, false, true));
      s.exp_avg_sq.push_back(exp_avg_sq[i].to(device, false, true));
    }
    return s;
  }
};

// Parameters of the given sizes and dtypes with gradients and moments from some earlier steps
// (v > 0).
State MakeState(const std::vector<int64_t>& sizes, const std::vector<torch::ScalarType>& types,
                uint64_t seed) {
  torch::manual_seed(seed);
  State s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const torch::ScalarType type = types[i % types.size()];
    s.params.push_back((torch::randn({sizes[i]}) * 0.1).to(type));
    s.grads.push_back((torch::randn({sizes[i]}) * 3).to(type));
    s.exp_avg.push_back(torch::randn({sizes[i]}) * 0.01);
    s.exp_avg_sq.push_back(torch::rand({sizes[i]}) * 1e-4);
  }
  return s;
}

// The three optimisers' coefficients at step 7, lr 5e-4 (RAdam's rectification term folded into
// step, as the trainer does).
AdamHyper Hyper(const std::string& kind) {
  AdamHyper h;
  const float lr = 5e-4f;
  h.bias2 = 1 - std::pow(h.beta2, 7.0f);
  h.step = lr / (1 - std::pow(h.beta1, 7.0f));
  if (kind == "adam") h.l2 = 0.01f;
  if (kind == "adamw") h.decay = 1 - lr * 0.1f;
  if (kind == "radam") h.step *= 0.3f;
  if (kind == "radam_early") h.adaptive = false;
  return h;
}

// The update as LibTorch ops, one rounding per op as in trainer/fused_adam_cpu.cc: each
// multiply, add and divide of float32 tensors is correctly rounded, so this equals the loop bit
// for bit. Scalars are passed as the float32 values the loop uses. The square root goes through
// float64 (exact to float32 after rounding): LibTorch 2.x's vectorised float32 sqrt on AVX-512
// is off by one ulp in about one result in five.
torch::Tensor Sqrt(const torch::Tensor& x) { return x.to(torch::kDouble).sqrt().to(torch::kFloat); }

void Composition(State& s, float grad_scale, const AdamHyper& h) {
  const double one_minus_beta1 = 1 - h.beta1, one_minus_beta2 = 1 - h.beta2;
  const double inv_bias2 = 1 / h.bias2;
  for (size_t i = 0; i < s.params.size(); ++i) {
    const torch::Tensor p = s.params[i].to(torch::kFloat) * double{h.decay};
    const torch::Tensor g = s.grads[i].to(torch::kFloat) * double{grad_scale} + p * double{h.l2};
    const torch::Tensor m = s.exp_avg[i] * double{h.beta1} + g * one_minus_beta1;
    const torch::Tensor v = s.exp_avg_sq[i] * double{h.beta2} + (g * one_minus_beta2) * g;
    const torch::Tensor update = h.adaptive
                                     ? (m * double{h.step}) / (Sqrt(v * inv_bias2) + double{h.eps})
                                     : m * double{h.step};
    s.exp_avg[i].copy_(m);
    s.exp_avg_sq[i].copy_(v);
    s.params[i].copy_(p - update);  // rounds to nearest even into bfloat16 params
  }
}

void Update(bool reference, State& s, const torch::Tensor& scale, const torch::Tensor& found_inf,
            const AdamHyper& h) {
  (reference ? MultiTensorAdamReference : MultiTensorAdam)(s.params, s.grads, s.exp_avg,
                                                           s.exp_avg_sq, scale, found_inf, h);
}

void ExpectEqual(const State& actual, const State& expected) {
  for (size_t i = 0; i < actual.params.size(); ++i) {
    const std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs = {
        {actual.params[i], expected.params[i]},
        {actual.exp_avg[i], expected.exp_avg[i]},
        {actual.exp_avg_sq[i], expected.exp_avg_sq[i]},
        {actual.grads[i], expected.grads[i]}};
    const char* names[] = {"param", "exp_avg", "exp_avg_sq", "grad"};
    for (size_t k = 0; k < pairs.size(); ++k) {
      const torch::Tensor a = pairs[k].first.cpu(), b = pairs[k].second.cpu();
      ASSERT_EQ(a.scalar_type(), b.scalar_type());
      if (!torch::equal(a, b)) {
        const int64_t at = a.ne(b).nonzero()[0][0].item<int64_t>();
        ADD_FAILURE() << names[k] << " of tensor " << i << " differs first at " << at << ": "
                      << a[at].item<double>() << " vs " << b[at].item<double>() << " ("
                      << a.ne(b).sum().item<int64_t>() << " of " << a.numel() << ")";
      }
    }
  }
}

torch::Tensor Scalar(float v, const torch::Device& device) {
  return torch::full({1}, v, torch::TensorOptions().dtype(torch::kFloat).device(device));
}

class MultiTensorAdamTest
    : public ::testing::TestWithParam<std::tuple<std::string, torch::ScalarType>> {};

// Bitwise: any change to the order or rounding of an operation shows up in some of the 10,000
// elements.
TEST_P(MultiTensorAdamTest, ReferenceMatchesComposition) {
  const auto [kind, type] = GetParam();
  const State start = MakeState({1, 37, 4096, 5000}, {type}, 1);
  const AdamHyper h = Hyper(kind);
  for (const float scale : {1.0f, 0.37f}) {
    State reference = start.Clone(torch::kCPU), composition = start.Clone(torch::kCPU);
    Update(true, reference, Scalar(scale, torch::kCPU), Scalar(0, torch::kCPU), h);
    Composition(composition, scale, h);
    SCOPED_TRACE("grad_scale " + std::to_string(scale));
    ExpectEqual(reference, composition);
    EXPECT_FALSE(torch::equal(reference.params[3], start.params[3])) << "nothing was updated";
  }
}

TEST_P(MultiTensorAdamTest, ReferenceSkipsEverythingOnFoundInf) {
  const auto [kind, type] = GetParam();
  const State start = MakeState({37, 4096}, {type}, 2);
  State s = start.Clone(torch::kCPU);
  Update(true, s, Scalar(0.5f, torch::kCPU), Scalar(1, torch::kCPU), Hyper(kind));
  ExpectEqual(s, start);
}

// The kernel against the reference, bit for bit: 60 tensors (more than one launch's table)
// of float32 and bfloat16, sizes from 1 to over 320 chunks of 65,536 (one launch's blocks, so
// that tensor is split across launches), some empty.
TEST_P(MultiTensorAdamTest, CudaMatchesReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ASSERT_TRUE(CudaKernelsBuilt());
  const auto [kind, other_type] = GetParam();
  std::vector<int64_t> sizes;
  for (int i = 0; i < 58; ++i) sizes.push_back(i % 7 == 3 ? 0 : 1 + (i * 7919) % 70000);
  sizes.push_back(320 * 65536 + 1234);
  sizes.push_back(65536);
  const State start = MakeState(sizes, {torch::kFloat, other_type}, 3);
  const AdamHyper h = Hyper(kind);
  for (const float scale : {1.0f, 0.37f}) {
    State reference = start.Clone(torch::kCPU), cuda = start.Clone(torch::kCUDA);
    Update(true, reference, Scalar(scale, torch::kCPU), Scalar(0, torch::kCPU), h);
    Update(false, cuda, Scalar(scale, torch::kCUDA), Scalar(0, torch::kCUDA), h);
    SCOPED_TRACE("grad_scale " + std::to_string(scale));
    ExpectEqual(cuda, reference);
  }
  // found_inf != 0 on the device: nothing written.
  State cuda = start.Clone(torch::kCUDA);
  Update(false, cuda, Scalar(0.37f, torch::kCUDA), Scalar(1, torch::kCUDA), h);
  ExpectEqual(cuda, start);
}

INSTANTIATE_TEST_SUITE_P(Optimisers, MultiTensorAdamTest,
                         ::testing::Combine(::testing::Values("adam", "adamw", "radam",
                                                              "radam_early"),
                                            ::testing::Values(torch::kFloat, torch::kBFloat16)));

TEST(MultiTensorAdam, RefusesWhatItCannotUpdate) {
  State s = MakeState({8}, {torch::kFloat}, 4);
  // CPU tensors (and, in a build without the kernels, anything).
  EXPECT_THROW(MultiTensorAdam(s.params, s.grads, s.exp_avg, s.exp_avg_sq, Scalar(1, torch::kCPU),
                               Scalar(0, torch::kCPU), AdamHyper{}),
               c10::Error);
  if (!torch::cuda::is_available()) return;
  State cuda = s.Clone(torch::kCUDA);
  cuda.exp_avg[0] = cuda.exp_avg[0].to(torch::kBFloat16);  // moments must be float32
  EXPECT_THROW(MultiTensorAdam(cuda.params, cuda.grads, cuda.exp_avg, cuda.exp_avg_sq,
                               Scalar(1, torch::kCUDA), Scalar(0, torch::kCUDA), AdamHyper{}),
               c10::Error);
}

}  // namespace
}  // namespace fathom::kernels
