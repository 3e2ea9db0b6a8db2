// Adam, AdamW and RAdam's update for one float32 CPU parameter in a single pass. Written as
// LibTorch ops the update reads and writes the parameter, the gradient and both moments about
// nine times (and allocates a temporary the size of the parameter); this loop touches each
// element once, which matters on CPU where the update is memory-bound. LibTorch 1.13 has no
// fused CPU Adam of its own.
#ifndef FATHOM_TRAINER_FUSED_ADAM_CPU_H_
#define FATHOM_TRAINER_FUSED_ADAM_CPU_H_

#include <torch/types.h>

namespace fathom::trainer {

struct AdamCoefficients {
  float grad_scale = 1;  // the gradient is multiplied by this first (normalisation, clipping)
  float beta1 = 0.9f, beta2 = 0.98f;
  float l2 = 0;     // Adam/RAdam weight decay: g += l2 * p
  float decay = 1;  // AdamW decoupled decay: p *= decay (1 - lr * weight_decay)
  float bias2 = 1;  // 1 - beta2^t
  float eps = 1e-8f;
  float step = 0;        // p -= step * m / (sqrt(v / bias2) + eps), step = lr * rect / bias1
  bool adaptive = true;  // false (RAdam's first steps): p -= step * m
};

// All four tensors float32, contiguous, on the CPU, with equal element counts.
bool FusedAdamApplies(const torch::Tensor& param, const torch::Tensor& grad,
                      const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq);

// Updates `param`, `exp_avg` and `exp_avg_sq` in place, in parallel over LibTorch's threads.
void FusedAdamCpu(torch::Tensor& param, const torch::Tensor& grad, torch::Tensor& exp_avg,
                  torch::Tensor& exp_avg_sq, const AdamCoefficients& c);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_FUSED_ADAM_CPU_H_
