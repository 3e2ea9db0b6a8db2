// Label-smoothed cross-entropy over the vocabulary on the CUDA kernels: one read of each row of
// logits forward (an online log-sum-exp), one write of its gradient backward, nothing of size
// [N, V] kept but the logits themselves. trainer/loss.h chooses it on CUDA; its LibTorch version,
// with the same formulas, is the CPU path.
#ifndef FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_H_
#define FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_H_

#include <torch/types.h>

namespace fathom::kernels {

// Whether LabelSmoothedCrossEntropy takes these: a build with the kernels, logits [N, V] (V > 0)
// float32 or bfloat16 and targets [N] int64 on one CUDA device.
bool CrossEntropyKernelApplies(const torch::Tensor& logits, const torch::Tensor& targets);

// A [2] float32 tensor: the sum over rows whose target is not `pad` of
//   (1 - smoothing) * nll + smoothing / V * sum_j -log p_j   and the sum of nll = -log p_target,
// computed in float32. Differentiable in logits through the first element only (the second is
// for logging): the gradient, in the logits' dtype, is
//   upstream[0] * (softmax - (1 - smoothing) onehot(target) - smoothing / V), zero at pad rows.
// No host synchronisation. A target outside [0, V) that is not `pad` gives NaN sums (caught by
// the non-finite check) instead of reading out of bounds. Throws unless CrossEntropyKernelApplies.
torch::Tensor LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                        double smoothing, int64_t pad);

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_H_
