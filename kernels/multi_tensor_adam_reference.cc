// MultiTensorAdamReference (kernels/multi_tensor_adam.h). Compiled with -ffp-contract=off (see
// kernels/CMakeLists.txt): every multiply and add rounds to float32 on its own, as in
// trainer/fused_adam_cpu.cc and in the CUDA kernel.
#include <c10/util/BFloat16.h>

#include <cmath>

#include "kernels/multi_tensor_adam.h"

namespace fathom::kernels {
namespace {

float Load(const float* p, int64_t i) { return p[i]; }
float Load(const c10::BFloat16* p, int64_t i) { return static_cast<float>(p[i]); }
void Store(float* p, int64_t i, float v) { p[i] = v; }
void Store(c10::BFloat16* p, int64_t i, float v) { p[i] = c10::BFloat16(v); }  // nearest even

template <typename T>
void Update(T* p, const T* g, float* m, float* v, int64_t n, float scale, const AdamHyper& h) {
  const float one_minus_beta1 = 1 - h.beta1, one_minus_beta2 = 1 - h.beta2;
  const float inv_bias2 = 1 / h.bias2;
  for (int64_t i = 0; i < n; ++i) {
    float pi = Load(p, i) * h.decay;
    const float gi = Load(g, i) * scale + h.l2 * pi;
    const float mi = h.beta1 * m[i] + one_minus_beta1 * gi;
    const float vi = h.beta2 * v[i] + one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    pi -= h.adaptive ? h.step * mi / (std::sqrt(vi * inv_bias2) + h.eps) : h.step * mi;
    Store(p, i, pi);
  }
}

}  // namespace

void MultiTensorAdamReference(at::TensorList params, at::TensorList grads, at::TensorList exp_avg,
                              at::TensorList exp_avg_sq, const at::Tensor& grad_scale,
                              const at::Tensor& found_inf, const AdamHyper& hyper) {
  const size_t n = params.size();
  TORCH_CHECK(grads.size() == n && exp_avg.size() == n && exp_avg_sq.size() == n,
              "MultiTensorAdamReference: lists of different lengths");
  TORCH_CHECK(grad_scale.is_cpu() && grad_scale.scalar_type() == at::kFloat &&
                  grad_scale.numel() == 1 && found_inf.is_cpu() &&
                  found_inf.scalar_type() == at::kFloat && found_inf.numel() == 1,
              "MultiTensorAdamReference: grad_scale and found_inf: 1-element float32 CPU tensors");
  if (found_inf.data_ptr<float>()[0] != 0) return;
  const float scale = grad_scale.data_ptr<float>()[0];
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& p = params[i];
    for (const at::Tensor* t : {&p, &grads[i], &exp_avg[i], &exp_avg_sq[i]}) {
      TORCH_CHECK(t->is_cpu() && t->is_contiguous() && t->numel() == p.numel(),
                  "MultiTensorAdamReference: tensors of param ", i,
                  " must be contiguous CPU tensors of its size");
    }
    TORCH_CHECK(
        grads[i].scalar_type() == p.scalar_type() && exp_avg[i].scalar_type() == at::kFloat &&
            exp_avg_sq[i].scalar_type() == at::kFloat,
        "MultiTensorAdamReference: grad ", i, " must have its param's dtype, moments float32");
    float* m = exp_avg[i].data_ptr<float>();
    float* v = exp_avg_sq[i].data_ptr<float>();
    if (p.scalar_type() == at::kFloat) {
      Update(p.data_ptr<float>(), grads[i].data_ptr<float>(), m, v, p.numel(), scale, hyper);
    } else {
      TORCH_CHECK(p.scalar_type() == at::kBFloat16, "MultiTensorAdamReference: param ", i, " is ",
                  p.dtype());
      Update(p.data_ptr<c10::BFloat16>(), grads[i].data_ptr<c10::BFloat16>(), m, v, p.numel(),
             scale, hyper);
    }
  }
}

}  // namespace fathom::kernels
