// kernels/residual_layer_norm.h: the CPU reference against LibTorch's composition (forward, and
// backward through torch::autograd::grad), the entry point's CPU path, and on CUDA the kernels
// against the reference and, through autograd, against the composition. Also that nvcc compiled
// the kernels wherever this build's LibTorch has CUDA.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <tuple>
#include <vector>

#include "kernels/kernels_built.h"
#include "kernels/residual_layer_norm.h"
#include "kernels/residual_layer_norm_reference.h"
#include "tests/kernels_test_util.h"

namespace fathom::kernels {
namespace {

using ::fathom::testing::ExpectClose;

constexpr double kEps = 1e-5;

// Inputs for rows of width d: gamma near 1 and beta near 0 as after some training, omega near
// Admin's profiled scales, x and f of different scales so the two terms both matter.
struct Inputs {
  torch::Tensor x, f, omega, gamma, beta, dy;
};

Inputs MakeInputs(std::vector<int64_t> shape, bool with_omega, torch::ScalarType x_type,
                  torch::ScalarType f_type, torch::ScalarType param_type, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t d = shape.back();
  Inputs in;
  in.x = (torch::randn(shape) * 1.5 + 0.3).to(x_type);
  in.f = (torch::randn(shape) * 0.7 - 0.1).to(f_type);
  if (with_omega) in.omega = (torch::rand({d}) + 0.5).to(param_type);
  in.gamma = (torch::randn({d}) * 0.1 + 1).to(param_type);
  in.beta = (torch::randn({d}) * 0.1).to(param_type);
  in.dy = torch::randn(shape);
  return in;
}

// LibTorch's composition, what the models computed before the kernels and still do on the CPU.
torch::Tensor Composition(const Inputs& in) {
  const torch::Tensor sum = in.omega.defined() ? in.x * in.omega + in.f : in.x + in.f;
  return torch::layer_norm(sum, {in.x.size(-1)}, in.gamma, in.beta, kEps);
}

Inputs To(const Inputs& in, const torch::TensorOptions& options, bool keep_dtype) {
  auto move = [&](const torch::Tensor& t) {
    if (!t.defined()) return t;
    return keep_dtype ? t.to(options.device()) : t.to(options);
  };
  return {move(in.x), move(in.f), move(in.omega), move(in.gamma), move(in.beta), move(in.dy)};
}

// The parameters' dtype for an input combination: float32, except bfloat16 for a Post-LN sum
// of two bfloat16 tensors (x + f stays bfloat16, and LibTorch 1.13's CPU LayerNorm takes no
// float32 parameters with a bfloat16 input): then the whole composition is bfloat16.
torch::ScalarType ParamDtype(bool with_omega, torch::ScalarType x_type, torch::ScalarType f_type) {
  return !with_omega && x_type == torch::kBFloat16 && f_type == torch::kBFloat16 ? torch::kBFloat16
                                                                                 : torch::kFloat;
}

// y's dtype: that of omega * x + f (x + f) under type promotion.
torch::ScalarType OutType(const Inputs& in) {
  torch::ScalarType type = torch::promote_types(in.x.scalar_type(), in.f.scalar_type());
  return in.omega.defined() ? torch::promote_types(type, in.omega.scalar_type()) : type;
}

// Tolerance for a value rounded to `type`: bfloat16 keeps 8 significant bits (2^-8 relative per
// rounding, and the composition rounds after each of its ops), float32 24.
double RelTol(torch::ScalarType type, double float_tol) {
  return type == torch::kBFloat16 ? 2e-2 : float_tol;
}

class ResidualLayerNormCpuTest
    : public ::testing::TestWithParam<
          std::tuple<int64_t, bool, torch::ScalarType, torch::ScalarType>> {};

// The reference (double) against the composition: where the composition computes in float32
// (float32 x or f, or omega: bfloat16 inputs are promoted) they agree to float32 rounding
// (|y| <= ~4: 2e-5 absolute is a few float32 ulps after d additions), where it computes in
// bfloat16 (Post-LN of two bfloat16 tensors) to a few bfloat16 ulps. A reference with the wrong
// variance (d - 1), mean or affine is off by more than 1e-3 (the float32 cases catch it).
TEST_P(ResidualLayerNormCpuTest, ReferenceForwardMatchesComposition) {
  const auto [d, with_omega, x_type, f_type] = GetParam();
  const torch::ScalarType param_type = ParamDtype(with_omega, x_type, f_type);
  const Inputs in = MakeInputs({3, 7, d}, with_omega, x_type, f_type, param_type, 1);
  const torch::Tensor expected = Composition(in);
  ASSERT_EQ(expected.scalar_type(), OutType(in));
  const torch::Tensor y =
      ResidualLayerNormReference(in.x, in.f, in.omega, in.gamma, in.beta, kEps, OutType(in));
  EXPECT_EQ(y.scalar_type(), expected.scalar_type());
  ExpectClose(y, expected, RelTol(param_type, 1e-5), RelTol(param_type, 2e-5), "y");
}

// The reference's gradients against autograd through the composition in float64 on the same
// input values: equal up to rounding each gradient to its input's dtype.
TEST_P(ResidualLayerNormCpuTest, ReferenceBackwardMatchesAutograd) {
  const auto [d, with_omega, x_type, f_type] = GetParam();
  const torch::ScalarType param_type = ParamDtype(with_omega, x_type, f_type);
  const Inputs in = MakeInputs({3, 7, d}, with_omega, x_type, f_type, param_type, 2);
  Inputs exact = To(in, torch::TensorOptions().dtype(torch::kDouble), false);
  std::vector<torch::Tensor> wrt = {exact.x, exact.f, exact.gamma, exact.beta};
  if (with_omega) wrt.push_back(exact.omega);
  for (torch::Tensor& t : wrt) t.requires_grad_(true);
  const torch::Tensor y = Composition(exact);
  const std::vector<torch::Tensor> grads = torch::autograd::grad({y}, wrt, {exact.dy});
  const ResidualLayerNormGrads ref =
      ResidualLayerNormBackwardReference(in.dy, in.x, in.f, in.omega, in.gamma, in.beta, kEps);
  EXPECT_EQ(ref.x.scalar_type(), x_type);
  EXPECT_EQ(ref.f.scalar_type(), f_type);
  // Sums over 21 rows of terms up to ~10: 1e-5 absolute is a few float32 ulps.
  ExpectClose(ref.x, grads[0], RelTol(x_type, 1e-5), 1e-5, "dx");
  ExpectClose(ref.f, grads[1], RelTol(f_type, 1e-5), 1e-5, "df");
  ExpectClose(ref.gamma, grads[2], RelTol(param_type, 1e-5), 1e-5, "dgamma");
  ExpectClose(ref.beta, grads[3], RelTol(param_type, 1e-5), 1e-5, "dbeta");
  if (with_omega) {
    ASSERT_TRUE(ref.omega.defined());
    ExpectClose(ref.omega, grads[4], 1e-5, 1e-5, "domega");
  } else {
    EXPECT_FALSE(ref.omega.defined());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ResidualLayerNormCpuTest,
                         ::testing::Combine(::testing::Values(37, 512, 1000), ::testing::Bool(),
                                            ::testing::Values(torch::kFloat, torch::kBFloat16),
                                            ::testing::Values(torch::kFloat, torch::kBFloat16)));

// All-bfloat16 inputs and parameters (a model kept in bfloat16): the composition rounds after
// each op, so the two agree to a few bfloat16 ulps only.
TEST(ResidualLayerNormCpu, ReferenceForwardMatchesBfloat16Composition) {
  const Inputs in =
      MakeInputs({5, 512}, true, torch::kBFloat16, torch::kBFloat16, torch::kBFloat16, 3);
  const torch::Tensor expected = Composition(in);
  ASSERT_EQ(expected.scalar_type(), torch::kBFloat16);
  const torch::Tensor y =
      ResidualLayerNormReference(in.x, in.f, in.omega, in.gamma, in.beta, kEps, torch::kBFloat16);
  ExpectClose(y, expected, 3e-2, 3e-2, "y");
}

// On the CPU, fused or not, the entry point is the composition, bit for bit (what the models
// computed before the kernels existed).
TEST(ResidualLayerNormCpu, EntryPointOnCpuIsTheComposition) {
  for (const bool with_omega : {false, true}) {
    const Inputs in =
        MakeInputs({4, 6, 37}, with_omega, torch::kFloat, torch::kFloat, torch::kFloat, 4);
    EXPECT_FALSE(ResidualLayerNormKernelApplies(in.x, in.f, in.omega, in.gamma, in.beta));
    const torch::Tensor expected = Composition(in);
    for (const bool fused : {false, true}) {
      EXPECT_TRUE(torch::equal(
          ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, fused), expected))
          << "with_omega " << with_omega << " fused " << fused;
    }
  }
}

// CI builds build-torch2 (LibTorch with CUDA) with nvcc: there the kernels must be in.
TEST(KernelsBuild, CudaKernelsBuiltWhereLibTorchHasCuda) {
  EXPECT_EQ(CudaKernelsBuilt(), FATHOM_EXPECT_CUDA_KERNELS != 0)
      << "FATHOM_EXPECT_CUDA_KERNELS=" << FATHOM_EXPECT_CUDA_KERNELS
      << ": LibTorch has CUDA exactly when nvcc must have compiled kernels/*.cu "
         "(cmake/FathomCuda.cmake, CMAKE_CUDA_COMPILER)";
}

// ---- CUDA ----------------------------------------------------------------------------------

// CUDA autocast to bfloat16 for the scope (the functions were renamed in LibTorch 2.4).
class CudaAutocast {
 public:
  CudaAutocast() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~CudaAutocast() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
};

class ResidualLayerNormCudaTest
    : public ::testing::TestWithParam<
          std::tuple<int64_t, bool, torch::ScalarType, torch::ScalarType>> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// The kernels against the reference, forward and backward, on 1,500 rows (more than the
// backward grid, so its blocks stride over rows). The kernels sum in float32 (a tree over the
// row, a fixed-order sum over blocks): 1e-4 relative covers that, while any wrong term is off by
// more than 1e-3.
TEST_P(ResidualLayerNormCudaTest, KernelsMatchReference) {
  const auto [d, with_omega, x_type, f_type] = GetParam();
  const torch::ScalarType param_type = ParamDtype(with_omega, x_type, f_type);
  const Inputs cpu = MakeInputs({1500, d}, with_omega, x_type, f_type, param_type, 5);
  Inputs in = To(cpu, torch::TensorOptions().device(torch::kCUDA), true);
  ASSERT_TRUE(ResidualLayerNormKernelApplies(in.x, in.f, in.omega, in.gamma, in.beta));
  std::vector<torch::Tensor> wrt = {in.x, in.f, in.gamma, in.beta};
  if (with_omega) wrt.push_back(in.omega);
  for (torch::Tensor& t : wrt) t.requires_grad_(true);
  const torch::Tensor y = ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, true);
  const torch::ScalarType out_type = OutType(cpu);
  ASSERT_EQ(y.scalar_type(), out_type);
  ExpectClose(
      y, ResidualLayerNormReference(cpu.x, cpu.f, cpu.omega, cpu.gamma, cpu.beta, kEps, out_type),
      RelTol(out_type, 1e-4), RelTol(out_type, 1e-4), "y");
  const std::vector<torch::Tensor> grads = torch::autograd::grad({y}, wrt, {in.dy.to(out_type)});
  const ResidualLayerNormGrads ref = ResidualLayerNormBackwardReference(
      cpu.dy.to(out_type), cpu.x, cpu.f, cpu.omega, cpu.gamma, cpu.beta, kEps);
  EXPECT_EQ(grads[0].scalar_type(), x_type);
  EXPECT_EQ(grads[1].scalar_type(), f_type);
  ExpectClose(grads[0], ref.x, RelTol(x_type, 1e-4), 1e-4, "dx");
  ExpectClose(grads[1], ref.f, RelTol(f_type, 1e-4), 1e-4, "df");
  // Column sums over 1,500 rows of magnitude ~40: 1e-3 absolute.
  ExpectClose(grads[2], ref.gamma, RelTol(param_type, 1e-4), 1e-3, "dgamma");
  ExpectClose(grads[3], ref.beta, RelTol(param_type, 1e-4), 1e-3, "dbeta");
  if (with_omega) ExpectClose(grads[4], ref.omega, 1e-4, 1e-3, "domega");
}

// Through autograd against the composition on the same device, as the models use it: values,
// dtypes and gradients.
TEST_P(ResidualLayerNormCudaTest, FusedMatchesCompositionThroughAutograd) {
  const auto [d, with_omega, x_type, f_type] = GetParam();
  const Inputs cpu =
      MakeInputs({4, 33, d}, with_omega, x_type, f_type, ParamDtype(with_omega, x_type, f_type), 6);
  std::vector<torch::Tensor> outs[2];
  for (const bool fused : {false, true}) {
    Inputs in = To(cpu, torch::TensorOptions().device(torch::kCUDA), true);
    std::vector<torch::Tensor> wrt = {in.x, in.f, in.gamma, in.beta};
    if (with_omega) wrt.push_back(in.omega);
    for (torch::Tensor& t : wrt) t.requires_grad_(true);
    const torch::Tensor y = ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, fused);
    outs[fused] = torch::autograd::grad({y}, wrt, {in.dy.to(y.scalar_type())});
    outs[fused].insert(outs[fused].begin(), y);
  }
  const char* names[] = {"y", "dx", "df", "dgamma", "dbeta", "domega"};
  for (size_t i = 0; i < outs[0].size(); ++i) {
    EXPECT_EQ(outs[1][i].scalar_type(), outs[0][i].scalar_type()) << names[i];
    const double tol = RelTol(outs[0][i].scalar_type(), 1e-4);
    ExpectClose(outs[1][i], outs[0][i], tol, i >= 3 ? 1e-3 : tol, names[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ResidualLayerNormCudaTest,
    ::testing::Combine(::testing::Values(37, 512, 1000, kResidualLayerNormMaxWidth),
                       ::testing::Bool(), ::testing::Values(torch::kFloat, torch::kBFloat16),
                       ::testing::Values(torch::kFloat, torch::kBFloat16)));

// Under bfloat16 autocast (float32 x, bfloat16 f from a matrix multiply) the composition's
// LayerNorm runs in float32, and so does the kernel's output; an all-bfloat16 model gets
// bfloat16 out of both.
TEST(ResidualLayerNormCuda, OutputDtypeFollowsTheComposition) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  {
    const Inputs in = To(
        MakeInputs({64, 512}, true, torch::kFloat, torch::kBFloat16, torch::kFloat, 7), cuda, true);
    const CudaAutocast autocast;
    const torch::Tensor fused =
        ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, true);
    const torch::Tensor plain = Composition(in);
    EXPECT_EQ(fused.scalar_type(), torch::kFloat);
    EXPECT_EQ(plain.scalar_type(), torch::kFloat);
    ExpectClose(fused, plain, 1e-4, 1e-4, "y under autocast");
  }
  const Inputs in =
      To(MakeInputs({64, 512}, true, torch::kBFloat16, torch::kBFloat16, torch::kBFloat16, 8), cuda,
         true);
  const torch::Tensor fused =
      ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, true);
  EXPECT_EQ(fused.scalar_type(), torch::kBFloat16);
  ExpectClose(fused, Composition(in), 3e-2, 3e-2, "y all bfloat16");
}

// Rows wider than the kernels take, and fused = false, fall back to the composition.
TEST(ResidualLayerNormCuda, FallsBackWhereTheKernelsDoNotApply) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  const Inputs wide = To(MakeInputs({8, kResidualLayerNormMaxWidth + 1}, true, torch::kFloat,
                                    torch::kFloat, torch::kFloat, 9),
                         cuda, true);
  EXPECT_FALSE(ResidualLayerNormKernelApplies(wide.x, wide.f, wide.omega, wide.gamma, wide.beta));
  EXPECT_TRUE(
      torch::equal(ResidualLayerNorm(wide.x, wide.f, wide.omega, wide.gamma, wide.beta, kEps, true),
                   Composition(wide)));
  const Inputs in =
      To(MakeInputs({8, 512}, true, torch::kFloat, torch::kFloat, torch::kFloat, 10), cuda, true);
  EXPECT_TRUE(torch::equal(ResidualLayerNorm(in.x, in.f, in.omega, in.gamma, in.beta, kEps, false),
                           Composition(in)));
}

}  // namespace
}  // namespace fathom::kernels
