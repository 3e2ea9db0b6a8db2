#include "kernels/residual_layer_norm.h"

#include "kernels/kernels_built.h"

#if FATHOM_KERNELS_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include <algorithm>

#include "kernels/cuda_launch.h"
#endif

namespace fathom::kernels {
namespace {

bool KernelType(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16;
}

#if FATHOM_KERNELS_CUDA
static_assert(cuda::kMaxLayerNormWidth == kResidualLayerNormMaxWidth);

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

cuda::DType ToDType(const torch::Tensor& t) {
  return t.scalar_type() == torch::kBFloat16 ? cuda::DType::kBFloat16 : cuda::DType::kFloat32;
}

// Whether CUDA autocast is on (LibTorch 2.4 renamed the function; 1.13 has only the old one).
bool CudaAutocastEnabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

// A [d] parameter as contiguous float32 (a copy only for bfloat16 parameters).
torch::Tensor Float32(const torch::Tensor& t) { return t.to(torch::kFloat).contiguous(); }

// Forward and backward on the CUDA kernels. Saved for backward: x, f, omega, gamma (float32),
// and each row's mean and 1/std, so backward recomputes omega * x + f instead of storing it.
struct ResidualLayerNormFunction : public torch::autograd::Function<ResidualLayerNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& f,
                               const torch::Tensor& omega, const torch::Tensor& gamma,
                               const torch::Tensor& beta, double eps) {
    const c10::cuda::CUDAGuard guard(x.device());
    const torch::Tensor xc = x.contiguous(), fc = f.contiguous();
    const torch::Tensor wf = omega.defined() ? Float32(omega) : torch::Tensor();
    const torch::Tensor gf = Float32(gamma), bf = Float32(beta);
    torch::ScalarType out_type = torch::promote_types(x.scalar_type(), f.scalar_type());
    if (omega.defined()) out_type = torch::promote_types(out_type, omega.scalar_type());
    if (CudaAutocastEnabled()) out_type = torch::kFloat;
    const int64_t d = x.size(-1), rows = x.numel() / d;
    torch::Tensor y = torch::empty(x.sizes(), x.options().dtype(out_type));
    torch::Tensor mean = torch::empty({rows}, x.options().dtype(torch::kFloat));
    torch::Tensor rstd = torch::empty({rows}, x.options().dtype(torch::kFloat));
    cuda::ResidualLayerNormForwardArgs a;
    a.x = xc.data_ptr();
    a.x_type = ToDType(xc);
    a.f = fc.data_ptr();
    a.f_type = ToDType(fc);
    a.omega = wf.defined() ? wf.data_ptr<float>() : nullptr;
    a.gamma = gf.data_ptr<float>();
    a.beta = bf.data_ptr<float>();
    a.y = y.data_ptr();
    a.y_type = ToDType(y);
    a.mean = mean.data_ptr<float>();
    a.rstd = rstd.data_ptr<float>();
    a.rows = rows;
    a.d = d;
    a.eps = static_cast<float>(eps);
    C10_CUDA_CHECK(cuda::ResidualLayerNormForward(a, at::cuda::getCurrentCUDAStream()));
    ctx->save_for_backward({xc, fc, wf, gf, mean, rstd});
    ctx->saved_data["y_type"] = static_cast<int64_t>(out_type);
    ctx->saved_data["omega_type"] =
        static_cast<int64_t>(omega.defined() ? omega.scalar_type() : torch::kFloat);
    ctx->saved_data["gamma_type"] = static_cast<int64_t>(gamma.scalar_type());
    ctx->saved_data["beta_type"] = static_cast<int64_t>(beta.scalar_type());
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xc = saved[0], &fc = saved[1], &wf = saved[2], &gf = saved[3];
    const c10::cuda::CUDAGuard guard(xc.device());
    const auto type = [&](const char* key) {
      return static_cast<torch::ScalarType>(ctx->saved_data[key].toInt());
    };
    if (!grad_outputs[0].defined()) return tensor_list(6);
    const torch::Tensor dy = grad_outputs[0].to(type("y_type")).contiguous();
    const int64_t d = xc.size(-1), rows = xc.numel() / d;
    // Enough blocks to fill the GPU a few times over; each writes one [3, d] row of sums.
    const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const int blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(rows, 4 * sms)));
    const torch::TensorOptions float_options = xc.options().dtype(torch::kFloat);
    torch::Tensor dx = torch::empty_like(xc), df = torch::empty_like(fc);
    torch::Tensor partials = torch::empty({blocks, 3, d}, float_options);
    torch::Tensor dgamma = torch::empty({d}, float_options);
    torch::Tensor dbeta = torch::empty({d}, float_options);
    torch::Tensor domega = wf.defined() ? torch::empty({d}, float_options) : torch::Tensor();
    cuda::ResidualLayerNormBackwardArgs a;
    a.dy = dy.data_ptr();
    a.dy_type = ToDType(dy);
    a.x = xc.data_ptr();
    a.x_type = ToDType(xc);
    a.f = fc.data_ptr();
    a.f_type = ToDType(fc);
    a.omega = wf.defined() ? wf.data_ptr<float>() : nullptr;
    a.gamma = gf.data_ptr<float>();
    a.mean = saved[4].data_ptr<float>();
    a.rstd = saved[5].data_ptr<float>();
    a.dx = dx.data_ptr();
    a.df = df.data_ptr();
    a.partials = partials.data_ptr<float>();
    a.domega = domega.defined() ? domega.data_ptr<float>() : nullptr;
    a.dgamma = dgamma.data_ptr<float>();
    a.dbeta = dbeta.data_ptr<float>();
    a.rows = rows;
    a.d = d;
    a.blocks = blocks;
    C10_CUDA_CHECK(cuda::ResidualLayerNormBackward(a, at::cuda::getCurrentCUDAStream()));
    return {dx,
            df,
            domega.defined() ? domega.to(type("omega_type")) : torch::Tensor(),
            dgamma.to(type("gamma_type")),
            dbeta.to(type("beta_type")),
            torch::Tensor()};
  }
};
#endif  // FATHOM_KERNELS_CUDA

}  // namespace

bool ResidualLayerNormKernelApplies(const torch::Tensor& x, const torch::Tensor& f,
                                    const torch::Tensor& omega, const torch::Tensor& gamma,
                                    const torch::Tensor& beta) {
  if (!CudaKernelsBuilt() || !x.defined() || !f.defined() || !gamma.defined() || !beta.defined())
    return false;
  if (!x.is_cuda() || x.dim() == 0 || x.sizes() != f.sizes() || !KernelType(x) || !KernelType(f))
    return false;
  const int64_t d = x.size(-1);
  if (d <= 0 || d > kResidualLayerNormMaxWidth) return false;
  for (const torch::Tensor* p : {&omega, &gamma, &beta}) {
    if (p == &omega && !omega.defined()) continue;
    if (p->device() != x.device() || p->numel() != d || !KernelType(*p)) return false;
  }
  return f.device() == x.device();
}

torch::Tensor ResidualLayerNorm(const torch::Tensor& x, const torch::Tensor& f,
                                const torch::Tensor& omega, const torch::Tensor& gamma,
                                const torch::Tensor& beta, double eps, bool fused) {
#if FATHOM_KERNELS_CUDA
  if (fused && ResidualLayerNormKernelApplies(x, f, omega, gamma, beta))
    return ResidualLayerNormFunction::apply(x, f, omega, gamma, beta, eps);
#else
  (void)fused;
#endif
  const torch::Tensor sum = omega.defined() ? x * omega + f : x + f;
  return torch::layer_norm(sum, {x.size(-1)}, gamma, beta, eps);
}

}  // namespace fathom::kernels
