// Adam, AdamW and RAdam over every parameter of a model in a few CUDA launches, with the
// arithmetic of trainer/fused_adam_cpu.cc (same float32 operations in the same order), so a step
// on CUDA computes what the CPU step computes. The update reads the gradient's scale and the
// non-finite flag from the device: a step never waits for the host.
#ifndef FATHOM_KERNELS_MULTI_TENSOR_ADAM_H_
#define FATHOM_KERNELS_MULTI_TENSOR_ADAM_H_

#include <torch/types.h>

namespace fathom::kernels {

struct AdamHyper {
  float beta1 = 0.9f, beta2 = 0.98f, eps = 1e-8f;
  float l2 = 0.0f;       // Adam, RAdam: grad += l2 * p (after grad_scale)
  float decay = 1.0f;    // AdamW: p *= decay (1 - lr * weight_decay) before the update
  float bias2 = 1.0f;    // 1 - beta2^t
  float step = 0.0f;     // lr * (RAdam rectification when adaptive) / (1 - beta1^t)
  bool adaptive = true;  // false: RAdam's early steps, p -= step * m (no denominator)
};

// Updates every i in place from g = grads[i] * grad_scale[0]:
//   m = beta1 m + (1-beta1) g;  v = beta2 v + (1-beta2) g^2;
//   p -= step * m / (sqrt(v / bias2) + eps)  (adaptive)   or   p -= step * m.
// params and grads float32 or bfloat16 (same dtype per i), moments float32, all contiguous on
// one CUDA device. grad_scale and found_inf: 1-element float32 tensors on that device; when
// found_inf[0] != 0 nothing is written (the update is skipped without the host reading it).
// Runs on the current CUDA stream without synchronising; a bfloat16 parameter is updated in
// float32 and rounded to nearest even once. Needs CudaKernelsBuilt() (kernels/kernels_built.h);
// otherwise, or on arguments outside the above, it throws (c10::Error) before launching anything.
void MultiTensorAdam(at::TensorList params, at::TensorList grads, at::TensorList exp_avg,
                     at::TensorList exp_avg_sq, const at::Tensor& grad_scale,
                     const at::Tensor& found_inf, const AdamHyper& hyper);

// The same update as plain loops over CPU tensors (same dtypes and shapes, contiguous; found_inf
// read on the host): the reference the CUDA kernel is tested against, bitwise.
void MultiTensorAdamReference(at::TensorList params, at::TensorList grads, at::TensorList exp_avg,
                              at::TensorList exp_avg_sq, const at::Tensor& grad_scale,
                              const at::Tensor& found_inf, const AdamHyper& hyper);

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_MULTI_TENSOR_ADAM_H_
