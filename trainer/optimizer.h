// Adam, AdamW and RAdam over a fixed list of parameters. Written here rather than taken from
// LibTorch because 1.13 has no RAdam, and because the state (step, first and second moments)
// must go into Fathom's own checkpoint format, which holds named tensors, never pickles.
#ifndef FATHOM_TRAINER_OPTIMIZER_H_
#define FATHOM_TRAINER_OPTIMIZER_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "proto/config.pb.h"
#include "trainer/fused_adam_cpu.h"

namespace fathom::trainer {

// optim.* of proto/config.proto as the optimiser takes them.
struct OptimizerOptions {
  proto::OptimConfig::Optimizer kind = proto::OptimConfig::ADAM;
  double beta1 = 0.9;
  double beta2 = 0.98;
  double eps = 1e-8;
  // ADAMW: decoupled decay, p *= 1 - lr * weight_decay; ADAM and RADAM: L2, added to the gradient.
  double weight_decay = 0.0;

  static OptimizerOptions FromProto(const proto::OptimConfig& optim);
};

class Optimizer {
 public:
  Optimizer(std::vector<torch::Tensor> parameters, const OptimizerOptions& options);

  // One update with learning rate `lr` from the parameters' .grad (already reduced) multiplied by
  // `grad_scale` (normalisation by the token count, unscaling, clipping: folded into the update's
  // one pass instead of passes of their own). Parameters without a gradient are skipped.
  void Step(double lr, double grad_scale = 1.0);
  // The same update with the factor and the skip decision as tensors on the parameters' device:
  // `grad_scale` (one element, float64 or float32) multiplies the gradients, and the update is
  // skipped when `found_inf` (one element) is nonzero. On CUDA with `fused` in a build with the
  // kernels (kernels::CudaKernelsBuilt()), one multi-tensor kernel applies it without the host
  // reading either; the step count (bias corrections, RAdam's rectification) then advances on
  // the host even when the device skips, which is harmless because a skipped update there means
  // the run has diverged and stops at its next read, saving nothing. Otherwise (CPU; CUDA with
  // `fused` false, the comparison path) both are read on the host, and a skipped update leaves
  // everything, the step count included, as it was.
  void Step(double lr, const torch::Tensor& grad_scale, const torch::Tensor& found_inf, bool fused);
  // Whether that Step applies the update without the host reading found_inf and grad_scale.
  bool StepsOnDevice(bool fused) const;
  void ZeroGrad();
  int64_t steps() const { return steps_; }

  // State as named tensors: "exp_avg.K", "exp_avg_sq.K" for parameter K, and "steps".
  std::vector<std::pair<std::string, torch::Tensor>> State() const;
  // Restores what State() returned; errors when names or shapes do not match.
  void LoadState(const std::vector<std::pair<std::string, torch::Tensor>>& state);
  const std::vector<torch::Tensor>& parameters() const { return parameters_; }

 private:
  // Advances the step count and returns the update's coefficients for it.
  AdamCoefficients NextCoefficients(double lr, double grad_scale);
  // Whether MultiTensorAdam takes the parameters with gradients: CUDA, float32 or bfloat16
  // parameters and gradients of one dtype each, contiguous.
  bool MultiTensorAdamApplies() const;

  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  proto::OptimConfig::Optimizer kind_;
  double beta1_, beta2_, eps_, weight_decay_;  // OptimizerOptions' fields
  int64_t steps_ = 0;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_OPTIMIZER_H_
