// The residual connection and LayerNorm of Post-LN and Admin in one step:
//   y = LayerNorm(omega * x + f) * gamma + beta   (Admin, omega a [d] vector)
//   y = LayerNorm(x + f) * gamma + beta           (Post-LN, omega undefined)
// over the last dimension d of x and f. On CUDA, in a build with the kernels, one kernel reads x
// and f once and writes y (and one backward kernel all five gradients) instead of LibTorch's
// multiply, add and LayerNorm with their intermediate tensors.
#ifndef FATHOM_KERNELS_RESIDUAL_LAYER_NORM_H_
#define FATHOM_KERNELS_RESIDUAL_LAYER_NORM_H_

#include <torch/types.h>

namespace fathom::kernels {

// The widest d the CUDA kernels take (each row lives in the registers of one block).
inline constexpr int64_t kResidualLayerNormMaxWidth = 4096;

// y as above, differentiable in x, f, omega, gamma and beta. With `fused`, CUDA tensors and
// ResidualLayerNormKernelApplies, the CUDA kernels run (as a torch::autograd::Function, without
// host synchronisation); otherwise LibTorch's composition torch::layer_norm(x * omega + f, ...)
// (x + f without omega), which is what the CPU and fused = false compute, bit for bit as before.
// The kernels compute in float32 whatever the input types and give y the composition's dtype:
// float32 under CUDA autocast (LayerNorm autocasts to float32), else the promoted type of x, f
// and omega (float32 x with bfloat16 f: float32; all bfloat16: bfloat16). Gradients come in the
// dtype of their input.
torch::Tensor ResidualLayerNorm(const torch::Tensor& x, const torch::Tensor& f,
                                const torch::Tensor& omega, const torch::Tensor& gamma,
                                const torch::Tensor& beta, double eps, bool fused);

// Whether the CUDA kernels take these arguments: a build with them, x and f of one shape on one
// CUDA device, float32 or bfloat16, 0 < d <= kResidualLayerNormMaxWidth, omega (if defined), gamma
// and beta [d] there, float32 or bfloat16.
bool ResidualLayerNormKernelApplies(const torch::Tensor& x, const torch::Tensor& f,
                                    const torch::Tensor& omega, const torch::Tensor& gamma,
                                    const torch::Tensor& beta);

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_RESIDUAL_LAYER_NORM_H_
