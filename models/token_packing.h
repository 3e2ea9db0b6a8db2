// The real (non-padding) positions of a padded [B, T] batch. Every sublayer but attention
// works on each position alone, so the stacks run them on the N real rows [N, d] and lay rows
// out as [B, T, d] only for the attention scores: padding costs no matrix multiply (on
// length-bucketed WMT/Multi30k batches 20-25% of positions are padding).
#ifndef FATHOM_MODELS_TOKEN_PACKING_H_
#define FATHOM_MODELS_TOKEN_PACKING_H_

#include <torch/torch.h>

namespace fathom::models {

class TokenPacking {
 public:
  // padding [B, T] bool, true at padding. Finding the real positions reads the mask on the host
  // once (one device synchronisation on CUDA).
  explicit TokenPacking(const torch::Tensor& padding);

  // [B, T, ...] -> [N, ...], the real positions in row-major order.
  torch::Tensor Pack(const torch::Tensor& x) const;
  // [N, ...] -> [B, T, ...], zeros at padding.
  torch::Tensor Unpack(const torch::Tensor& x) const;

  const torch::Tensor& padding() const { return padding_; }
  int64_t batch() const { return padding_.size(0); }
  int64_t length() const { return padding_.size(1); }
  int64_t real() const { return real_; }
  // Every row's padding comes after all its real positions. Then a causal real query never
  // sees a padding key, and causal self-attention needs no padding mask.
  bool right_aligned() const { return right_aligned_; }

 private:
  torch::Tensor padding_;
  torch::Tensor index_;  // [N] int64 flat positions; undefined when nothing is padding
  int64_t real_ = 0;
  bool right_aligned_ = true;
};

}  // namespace fathom::models

#endif  // FATHOM_MODELS_TOKEN_PACKING_H_
