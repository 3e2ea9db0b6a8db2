#include "trainer/fused_adam_cpu.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace fathom::trainer {

bool FusedAdamApplies(const torch::Tensor& param, const torch::Tensor& grad,
                      const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq) {
  for (const torch::Tensor* t : {&param, &grad, &exp_avg, &exp_avg_sq}) {
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat || !t->is_contiguous())
      return false;
    if (t->numel() != param.numel()) return false;
  }
  return true;
}

void FusedAdamCpu(torch::Tensor& param, const torch::Tensor& grad, torch::Tensor& exp_avg,
                  torch::Tensor& exp_avg_sq, const AdamCoefficients& c) {
  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  const float one_minus_beta1 = 1 - c.beta1, one_minus_beta2 = 1 - c.beta2;
  const float inv_bias2 = 1 / c.bias2;
  // Chunks of 16k elements: enough work per task to amortise the thread hand-off.
  at::parallel_for(0, param.numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float pi = p[i] * c.decay;
      const float gi = g[i] * c.grad_scale + c.l2 * pi;
      const float mi = c.beta1 * m[i] + one_minus_beta1 * gi;
      const float vi = c.beta2 * v[i] + one_minus_beta2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      pi -= c.adaptive ? c.step * mi / (std::sqrt(vi * inv_bias2) + c.eps) : c.step * mi;
      p[i] = pi;
    }
  });
}

}  // namespace fathom::trainer
