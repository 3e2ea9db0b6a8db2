// How the stacks lay out the positions of a padded [B, T] batch (model.token_layout).
//
// Packed: every sublayer but attention works on each position alone, so the stacks run them on
// the N real rows [N, d] and lay rows out as [B, T, d] only for the attention scores: padding
// costs no matrix multiply (on length-bucketed WMT/Multi30k batches 20-25% of positions are
// padding), but finding the real positions reads the mask on the host.
//
// Padded: every position runs through every sublayer ([B * T, d] rows, a free reshape) and
// attention masks padding keys. No host read, so a CUDA step never waits on the host here; the
// outputs at padding positions are finite but meaningless (the loss and attention ignore them).
#ifndef FATHOM_MODELS_TOKEN_PACKING_H_
#define FATHOM_MODELS_TOKEN_PACKING_H_

#include <torch/torch.h>

#include <memory>

#include "proto/config.pb.h"

namespace fathom::models {

class TokenPacking {
 public:
  // The packed layout. padding [B, T] bool, true at padding. Finding the real positions reads
  // the mask on the host once (one device synchronisation on CUDA).
  explicit TokenPacking(const torch::Tensor& padding);
  // The padded layout over the same mask: reads nothing on the host. `right_aligned`: the
  // caller guarantees every row's padding follows all its real positions (data::MakeBatch's
  // batches), which lets causal self-attention drop the padding mask (see right_aligned()).
  static TokenPacking Padded(const torch::Tensor& padding, bool right_aligned = false);

  // [B, T, ...] -> [N, ...], the real positions in row-major order (padded layout: all B * T).
  torch::Tensor Pack(const torch::Tensor& x) const;
  // [N, ...] -> [B, T, ...], zeros at padding (padded layout: a reshape, padding rows as given).
  torch::Tensor Unpack(const torch::Tensor& x) const;

  const torch::Tensor& padding() const { return padding_; }
  int64_t batch() const { return padding_.size(0); }
  int64_t length() const { return padding_.size(1); }
  // The real positions (packed layout; -1 in the padded one, which never counts them).
  int64_t real() const { return real_; }
  // Every row's padding comes after all its real positions. Then a causal real query never
  // sees a padding key, and causal self-attention needs no padding mask. In the padded layout,
  // which cannot find out without reading the mask, only what the caller guaranteed.
  bool right_aligned() const { return right_aligned_; }
  // Made by Padded(): every position is a row.
  bool padded() const { return padded_; }
  // Padded layout only: what each self-attention query of [B, T] may not see (or, `visible`,
  // may see), [B, 1, T, T] bool: padding keys and, when `causal`, later positions; never the
  // query's own position, so no row of scores is fully masked and no padding row turns NaN
  // (a real query sees itself anyway). Made once per layout and kind, shared by its copies.
  const torch::Tensor& SelfAttentionMask(bool causal, bool visible) const;

 private:
  TokenPacking() = default;

  struct Masks {
    torch::Tensor blocked[2], visible[2];  // by causal
  };

  torch::Tensor padding_;
  torch::Tensor index_;  // [N] int64 flat positions; undefined when nothing is dropped
  int64_t real_ = 0;
  bool right_aligned_ = true;
  bool padded_ = false;
  std::shared_ptr<Masks> masks_;  // padded layout: filled as SelfAttentionMask asks
};

// The layout `layout` asks for over `padding`: TOKEN_LAYOUT_AUTO packs CPU tensors and pads CUDA
// ones (by padding's device, so per batch). `profiling` (Admin's profiling pass, whose variances
// must count real positions only) always packs. `right_aligned` as for Padded().
TokenPacking LayoutFor(proto::ModelConfig::TokenLayout layout, const torch::Tensor& padding,
                       bool profiling, bool right_aligned = false);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_TOKEN_PACKING_H_
