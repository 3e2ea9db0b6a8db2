#include "models/residual.h"

#include <cmath>

#include "kernels/residual_layer_norm.h"
#include "models/dropout.h"

namespace fathom::models {
namespace {

// Variance over real positions and all features from reduced (sum, sum of squares, count).
double Variance(double sum, double sum_sq, double count) {
  const double mean = sum / count;
  return std::max(0.0, sum_sq / count - mean * mean);
}

}  // namespace

ResidualImpl::ResidualImpl(int64_t d_model, NormScheme scheme, double dropout, bool fused_kernels)
    : scheme_(scheme), dropout_(dropout), fused_kernels_(fused_kernels) {
  if (scheme != NormScheme::kNone) {
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  }
  if (scheme == NormScheme::kAdmin) omega = register_parameter("omega", torch::ones({d_model}));
}

torch::Tensor ResidualImpl::forward(
    const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&)>& branch,
    AdminProfile* profile) {
  switch (scheme_) {
    case NormScheme::kPreLn:
      return x + Dropout(branch(norm(x)), dropout_, is_training());
    case NormScheme::kNone:
      return x + Dropout(branch(x), dropout_, is_training());
    case NormScheme::kPostLn:
      return kernels::ResidualLayerNorm(x, Dropout(branch(x), dropout_, is_training()),
                                        torch::Tensor(), norm->weight, norm->bias,
                                        norm->options.eps(), fused_kernels_);
    case NormScheme::kAdmin:
      break;
  }
  if (profile != nullptr) {
    torch::NoGradGuard no_grad;
    omega.fill_(profile->r);
    profile->omegas.push_back(profile->r);
  }
  torch::Tensor f = Dropout(branch(x), dropout_, is_training());
  if (profile == nullptr) {
    return kernels::ResidualLayerNorm(x, f, omega, norm->weight, norm->bias, norm->options.eps(),
                                      fused_kernels_);
  }
  // Admin's profiling pass: the variances of omega * x and f(x) need omega * x on its own.
  torch::Tensor scaled = x * omega;
  {
    torch::NoGradGuard no_grad;
    // The stacks pass only real positions (TokenPacking), so every element counts.
    const torch::Tensor a = scaled.detach().to(torch::kDouble);
    const torch::Tensor b = f.detach().to(torch::kDouble);
    const double count = static_cast<double>(a.numel());
    const torch::Tensor n = torch::scalar_tensor(count, a.options());
    torch::Tensor stats =
        torch::stack({a.sum(), a.square().sum(), n, b.sum(), b.square().sum(), n});
    if (profile->reduce)
      profile->reduce(stats);  // on the model's device: NCCL reduces CUDA tensors
    stats = stats.cpu();
    const auto s = stats.accessor<double, 1>();
    profile->r = std::sqrt(Variance(s[0], s[1], s[2]) + Variance(s[3], s[4], s[5]));
  }
  return norm(scaled + f);
}

}  // namespace fathom::models
