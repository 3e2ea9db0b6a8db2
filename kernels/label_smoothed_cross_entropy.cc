#include "kernels/label_smoothed_cross_entropy.h"

#include "kernels/kernels_built.h"

#if FATHOM_KERNELS_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include "kernels/cuda_launch.h"
#endif

namespace fathom::kernels {
namespace {

#if FATHOM_KERNELS_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

cuda::DType ToDType(const torch::Tensor& t) {
  return t.scalar_type() == torch::kBFloat16 ? cuda::DType::kBFloat16 : cuda::DType::kFloat32;
}

// Saves the logits, targets and each row's log-sum-exp; backward recomputes the softmax from them.
struct CrossEntropyFunction : public torch::autograd::Function<CrossEntropyFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& targets, double smoothing, int64_t pad) {
    const c10::cuda::CUDAGuard guard(logits.device());
    const torch::Tensor z = logits.contiguous(), t = targets.contiguous();
    const int64_t rows = z.size(0), vocab = z.size(1);
    const torch::TensorOptions float_options = z.options().dtype(torch::kFloat);
    torch::Tensor lse = torch::empty({rows}, float_options);
    torch::Tensor row_sums = torch::empty({2, rows}, float_options);
    torch::Tensor sums = torch::empty({2}, float_options);
    cuda::CrossEntropyForwardArgs a;
    a.logits = z.data_ptr();
    a.logits_type = ToDType(z);
    a.targets = t.data_ptr<int64_t>();
    a.lse = lse.data_ptr<float>();
    a.row_sums = row_sums.data_ptr<float>();
    a.sums = sums.data_ptr<float>();
    a.rows = rows;
    a.vocab = vocab;
    a.pad = pad;
    a.smoothing = static_cast<float>(smoothing);
    C10_CUDA_CHECK(cuda::CrossEntropyForward(a, at::cuda::getCurrentCUDAStream()));
    ctx->save_for_backward({z, t, lse});
    ctx->saved_data["smoothing"] = smoothing;
    ctx->saved_data["pad"] = pad;
    return sums;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    if (!grad_outputs[0].defined()) return tensor_list(4);
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &z = saved[0], &t = saved[1], &lse = saved[2];
    const c10::cuda::CUDAGuard guard(z.device());
    const torch::Tensor upstream = grad_outputs[0].to(torch::kFloat).contiguous();
    torch::Tensor grad = torch::empty_like(z);
    cuda::CrossEntropyBackwardArgs a;
    a.logits = z.data_ptr();
    a.logits_type = ToDType(z);
    a.targets = t.data_ptr<int64_t>();
    a.lse = lse.data_ptr<float>();
    a.upstream = upstream.data_ptr<float>();  // element 0: the smoothed loss's gradient
    a.grad_logits = grad.data_ptr();
    a.rows = z.size(0);
    a.vocab = z.size(1);
    a.pad = ctx->saved_data["pad"].toInt();
    a.smoothing = static_cast<float>(ctx->saved_data["smoothing"].toDouble());
    C10_CUDA_CHECK(cuda::CrossEntropyBackward(a, at::cuda::getCurrentCUDAStream()));
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
#endif  // FATHOM_KERNELS_CUDA

}  // namespace

bool CrossEntropyKernelApplies(const torch::Tensor& logits, const torch::Tensor& targets) {
  if (!CudaKernelsBuilt() || !logits.defined() || !targets.defined()) return false;
  if (!logits.is_cuda() || logits.dim() != 2 || logits.size(1) <= 0) return false;
  if (logits.scalar_type() != torch::kFloat && logits.scalar_type() != torch::kBFloat16)
    return false;
  return targets.dim() == 1 && targets.size(0) == logits.size(0) &&
         targets.scalar_type() == torch::kLong && targets.device() == logits.device();
}

torch::Tensor LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                        double smoothing, int64_t pad) {
  TORCH_CHECK(CrossEntropyKernelApplies(logits, targets),
              "kernels::LabelSmoothedCrossEntropy needs a build with the CUDA kernels, float32 or "
              "bfloat16 logits [N, V] and int64 targets [N] on one CUDA device; got logits ",
              logits.sizes(), " ", logits.dtype(), " on ", logits.device(), ", targets ",
              targets.sizes(), " ", targets.dtype(), " on ", targets.device());
#if FATHOM_KERNELS_CUDA
  return CrossEntropyFunction::apply(logits, targets, smoothing, pad);
#else
  (void)smoothing;
  (void)pad;
  return torch::Tensor();  // not reached: CrossEntropyKernelApplies is false without the kernels
#endif
}

}  // namespace fathom::kernels
