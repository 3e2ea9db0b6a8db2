// Plain-loop CPU references of kernels/label_smoothed_cross_entropy.h (double accumulation),
// which the tests check against LibTorch and the CUDA kernels against.
#ifndef FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_REFERENCE_H_
#define FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_REFERENCE_H_

#include <torch/types.h>

namespace fathom::kernels {

// [2] float32 on the CPU: the sums of the smoothed loss and of the nll over non-pad rows of
// logits [N, V] (any float dtype and device) and targets [N].
torch::Tensor LabelSmoothedCrossEntropyReference(const torch::Tensor& logits,
                                                 const torch::Tensor& targets, double smoothing,
                                                 int64_t pad);

// d(sum of the smoothed loss)/d logits times `upstream`, [N, V] in the logits' dtype on the CPU.
torch::Tensor LabelSmoothedCrossEntropyBackwardReference(const torch::Tensor& logits,
                                                         const torch::Tensor& targets,
                                                         double smoothing, int64_t pad,
                                                         double upstream);

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_LABEL_SMOOTHED_CROSS_ENTROPY_REFERENCE_H_
