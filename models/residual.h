// One residual sublayer with its normalisation scheme: Post-LN, Pre-LN, Admin
// (LN(omega * x + f(x)), omega a learnable d-vector) or none (T-Fixup, DT-Fixup).
// Also the hook for Admin's profiling pass, which sets omega sublayer by sublayer.
#ifndef FATHOM_MODELS_RESIDUAL_H_
#define FATHOM_MODELS_RESIDUAL_H_

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "models/model_options.h"

namespace fathom::models {

// Sums statistics in place across whatever shares the profiling (ranks, threads); a no-op on one
// process. The tensor is float64 [6]: for omega*x and f(x), sum, sum of squares and count.
using StatsReducer = std::function<void(torch::Tensor&)>;

// State of one stack's Admin profiling pass (docs/algorithms.md, "Admin"): a running scale r,
// starting at 1.
struct AdminProfile {
  StatsReducer reduce;  // may be empty
  double r = 1.0;
  std::vector<double> omegas;  // the omega set for each sublayer, in forward order
};

class ResidualImpl : public torch::nn::Module {
 public:
  // With `fused_kernels`, Post-LN and Admin run LN(omega * x + f) as one CUDA kernel
  // (kernels/residual_layer_norm.h) on CUDA tensors in a build that has it; the result equals
  // LibTorch's to float32 rounding, and on the CPU nothing changes.
  ResidualImpl(int64_t d_model, NormScheme scheme, double dropout, bool fused_kernels = false);

  // Applies the sublayer around `branch`. With `profile`, first sets omega to profile->r, then
  // updates r from the reduced variances of omega * x and f(x) over every row of x, which the
  // stacks give as real positions only (TokenPacking); that pass never uses the fused kernel.
  torch::Tensor forward(const torch::Tensor& x,
                        const std::function<torch::Tensor(const torch::Tensor&)>& branch,
                        AdminProfile* profile = nullptr);

  NormScheme scheme() const { return scheme_; }
  torch::nn::LayerNorm norm{nullptr};  // null for kNone
  torch::Tensor omega;                 // [d], kAdmin only

 private:
  NormScheme scheme_;
  double dropout_;
  bool fused_kernels_;
};
TORCH_MODULE(Residual);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_RESIDUAL_H_
