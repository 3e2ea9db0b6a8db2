// Label-smoothed cross-entropy (Szegedy et al.; fairseq's form), summed over real target
// tokens so the trainer can normalise by the global token count across ranks.
#ifndef FATHOM_TRAINER_LOSS_H_
#define FATHOM_TRAINER_LOSS_H_

#include <torch/torch.h>

namespace fathom::trainer {

struct LossSums {
  torch::Tensor loss;  // scalar: sum of (1 - eps) * nll + eps / V * sum_j -log p_j
  torch::Tensor nll;   // scalar, detached: sum of -log p(target)
};

// logits [B, T, V] (any float type; computed in float32), targets [B, T] with `pad` ignored.
// No host synchronisation: the token count comes from the batch, not from here. With `fused`,
// CUDA logits of float32 or bfloat16 in a build with the CUDA kernels go through
// kernels/label_smoothed_cross_entropy.h (the same sums to float32 rounding, one read of the
// logits, the gradient in the logits' dtype); otherwise, and on the CPU, LibTorch ops.
LossSums LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                   double smoothing, int64_t pad, bool fused = false);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_LOSS_H_
