#include "kernels/multi_tensor_adam.h"

#include <vector>

#include "kernels/kernels_built.h"

#if FATHOM_KERNELS_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda_launch.h"
#endif

namespace fathom::kernels {

void MultiTensorAdam(at::TensorList params, at::TensorList grads, at::TensorList exp_avg,
                     at::TensorList exp_avg_sq, const at::Tensor& grad_scale,
                     const at::Tensor& found_inf, const AdamHyper& hyper) {
  TORCH_CHECK(CudaKernelsBuilt(),
              "MultiTensorAdam: this build has no CUDA kernels (see kernels/kernels_built.h)");
  const size_t n = params.size();
  TORCH_CHECK(grads.size() == n && exp_avg.size() == n && exp_avg_sq.size() == n,
              "MultiTensorAdam: ", n, " params but ", grads.size(), " grads, ", exp_avg.size(),
              " exp_avg and ", exp_avg_sq.size(), " exp_avg_sq");
  TORCH_CHECK(grad_scale.defined() && grad_scale.is_cuda() &&
                  grad_scale.scalar_type() == at::kFloat && grad_scale.numel() == 1,
              "MultiTensorAdam: grad_scale must be a 1-element float32 CUDA tensor");
  TORCH_CHECK(
      found_inf.defined() && found_inf.device() == grad_scale.device() &&
          found_inf.scalar_type() == at::kFloat && found_inf.numel() == 1,
      "MultiTensorAdam: found_inf must be a 1-element float32 tensor on grad_scale's device");
  const at::Device device = grad_scale.device();
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& p = params[i];
    TORCH_CHECK(
        p.defined() && grads[i].defined() && exp_avg[i].defined() && exp_avg_sq[i].defined(),
        "MultiTensorAdam: tensor ", i, " is undefined");
    TORCH_CHECK(p.scalar_type() == at::kFloat || p.scalar_type() == at::kBFloat16,
                "MultiTensorAdam: param ", i, " is ", p.dtype(), ", not float32 or bfloat16");
    TORCH_CHECK(grads[i].scalar_type() == p.scalar_type(), "MultiTensorAdam: grad ", i, " is ",
                grads[i].dtype(), ", its param ", p.dtype());
    TORCH_CHECK(exp_avg[i].scalar_type() == at::kFloat && exp_avg_sq[i].scalar_type() == at::kFloat,
                "MultiTensorAdam: the moments of param ", i, " must be float32");
    for (const at::Tensor* t : {&p, &grads[i], &exp_avg[i], &exp_avg_sq[i]}) {
      TORCH_CHECK(t->device() == device && t->is_contiguous() && t->numel() == p.numel(),
                  "MultiTensorAdam: the tensors of param ", i,
                  " must be contiguous, of its size, on ", device);
    }
  }
#if FATHOM_KERNELS_CUDA
  const c10::cuda::CUDAGuard guard(device);
  std::vector<cuda::AdamTensor> tensors(n);
  for (size_t i = 0; i < n; ++i) {
    tensors[i].param = params[i].data_ptr();
    tensors[i].grad = grads[i].data_ptr();
    tensors[i].exp_avg = exp_avg[i].data_ptr<float>();
    tensors[i].exp_avg_sq = exp_avg_sq[i].data_ptr<float>();
    tensors[i].n = params[i].numel();
    tensors[i].type =
        params[i].scalar_type() == at::kBFloat16 ? cuda::DType::kBFloat16 : cuda::DType::kFloat32;
  }
  // The derived coefficients as trainer/fused_adam_cpu.cc computes them, in float32.
  cuda::AdamCoefficients c;
  c.beta1 = hyper.beta1;
  c.beta2 = hyper.beta2;
  c.one_minus_beta1 = 1 - hyper.beta1;
  c.one_minus_beta2 = 1 - hyper.beta2;
  c.eps = hyper.eps;
  c.l2 = hyper.l2;
  c.decay = hyper.decay;
  c.inv_bias2 = 1 / hyper.bias2;
  c.step = hyper.step;
  c.adaptive = hyper.adaptive;
  C10_CUDA_CHECK(cuda::MultiTensorAdam(tensors.data(), static_cast<int64_t>(n), c,
                                       grad_scale.data_ptr<float>(), found_inf.data_ptr<float>(),
                                       at::cuda::getCurrentCUDAStream()));
#else
  (void)hyper;
#endif
}

}  // namespace fathom::kernels
