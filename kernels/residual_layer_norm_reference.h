// Plain-loop CPU references of kernels/residual_layer_norm.h's forward and backward passes
// (double accumulation), which the tests check against LibTorch and the CUDA kernels against.
#ifndef FATHOM_KERNELS_RESIDUAL_LAYER_NORM_REFERENCE_H_
#define FATHOM_KERNELS_RESIDUAL_LAYER_NORM_REFERENCE_H_

#include <torch/types.h>

namespace fathom::kernels {

// y = LayerNorm(omega * x + f) * gamma + beta over rows of d (x + f when omega is undefined),
// computed in double from the inputs' values and rounded once to `out_type`. Any device and
// float dtype in; CPU tensors out.
torch::Tensor ResidualLayerNormReference(const torch::Tensor& x, const torch::Tensor& f,
                                         const torch::Tensor& omega, const torch::Tensor& gamma,
                                         const torch::Tensor& beta, double eps,
                                         torch::ScalarType out_type);

// The gradients for upstream gradient dy, each in its input's dtype on the CPU (omega undefined
// when omega is).
struct ResidualLayerNormGrads {
  torch::Tensor x, f, omega, gamma, beta;
};
ResidualLayerNormGrads ResidualLayerNormBackwardReference(
    const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& f,
    const torch::Tensor& omega, const torch::Tensor& gamma, const torch::Tensor& beta, double eps);

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_RESIDUAL_LAYER_NORM_REFERENCE_H_
