// Dropout with a counter-based mask: LibTorch's CPU dropout draws each element from a
// sequential Mersenne Twister (about 5 ms for 0.5M values here, a tenth of a training step
// summed over a model's dropouts). Here one 64-bit seed is drawn from LibTorch's generator per
// call (so checkpointed RNG state still reproduces every mask) and the mask is a hash of
// (seed, element index), computed in parallel and identical for any thread count.
#ifndef FATHOM_MODELS_DROPOUT_H_
#define FATHOM_MODELS_DROPOUT_H_

#include <torch/torch.h>

namespace fathom::models {

// Zeroes each element with probability p (to 1/65536) and scales the rest by 1 / (1 - p).
// Identity when !training or p == 0.
torch::Tensor Dropout(const torch::Tensor& x, double p, bool training);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_DROPOUT_H_
