// Encoder and decoder stacks of residual sublayers. Encoder layers have two sublayers
// (self-attention, FFN), decoder layers three (self-attention, cross-attention, FFN).
#ifndef FATHOM_MODELS_TRANSFORMER_STACK_H_
#define FATHOM_MODELS_TRANSFORMER_STACK_H_

#include <torch/torch.h>

#include "models/attention.h"
#include "models/feed_forward.h"
#include "models/model_options.h"
#include "models/residual.h"
#include "models/token_packing.h"

namespace fathom::models {

class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const ModelOptions& o);
  // x: the rows [N, d] of `packing`'s layout (TokenPacking); relations [B, S, S] or undefined.
  torch::Tensor forward(const torch::Tensor& x, const TokenPacking& packing,
                        const torch::Tensor& relations, AdminProfile* profile);
  MultiHeadAttention self_attention{nullptr};
  FeedForward ffn{nullptr};
  Residual attention_residual{nullptr}, ffn_residual{nullptr};
};
TORCH_MODULE(EncoderLayer);

// Incremental decoding state: per decoder layer, the self-attention keys and values of the
// positions decoded so far and the cross-attention keys and values of the source, all
// [N, H, len, d_head]. Rows follow the hypotheses; Reorder() follows beam search's choices.
struct DecoderCache {
  std::vector<torch::Tensor> self_k, self_v, cross_k, cross_v;
  torch::Tensor memory_padding;  // [N, S]
  int64_t length = 0;            // positions decoded
  void Reorder(const torch::Tensor& rows);
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelOptions& o);
  // y, memory: rows [N, d] of the target and the source in their packings' layouts.
  torch::Tensor forward(const torch::Tensor& y, const TokenPacking& target_packing,
                        const torch::Tensor& memory, const TokenPacking& memory_packing,
                        AdminProfile* profile);
  // One new position y [N, 1, d] against layer `index` of `cache` (which it extends).
  torch::Tensor Step(const torch::Tensor& y, DecoderCache& cache, size_t index);
  MultiHeadAttention self_attention{nullptr}, cross_attention{nullptr};
  FeedForward ffn{nullptr};
  Residual self_residual{nullptr}, cross_residual{nullptr}, ffn_residual{nullptr};
};
TORCH_MODULE(DecoderLayer);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const ModelOptions& o);
  // x: embedded source [B, S, d]; padding [B, S] true at padding; relations [B, S, S] or undefined.
  // Runs in the layout of ModelOptions::token_layout (packed whenever `profile` is given); the
  // output at padding positions is zero (packed) or finite and meaningless (padded).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding,
                        const torch::Tensor& relations = {}, AdminProfile* profile = nullptr);
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};  // Pre-LN only
  int64_t sublayers() const { return 2 * static_cast<int64_t>(layers->size()); }

 private:
  bool checkpointing_;  // ModelOptions::activation_checkpointing
  proto::ModelConfig::TokenLayout layout_;
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelOptions& o);
  // y: embedded target [B, T, d]; memory [B, S, d] from the encoder. Layout as the encoder's;
  // the output at target padding is zero (packed) or finite and meaningless (padded).
  // right_aligned_targets: the caller guarantees every target row is padded on the right only
  // (as data::MakeBatch pads), so that the padded layout's causal self-attention can go without
  // a padding mask (LibTorch 2.x's causal flash kernel); the packed layout finds out itself.
  torch::Tensor forward(const torch::Tensor& y, const torch::Tensor& target_padding,
                        const torch::Tensor& memory, const torch::Tensor& memory_padding,
                        AdminProfile* profile = nullptr, bool right_aligned_targets = false);
  // Incremental decoding: a cache holding the source's cross-attention keys and values, then
  // one embedded position [N, 1, d] at a time; equals forward() on the whole prefix.
  DecoderCache StartCache(const torch::Tensor& memory, const torch::Tensor& memory_padding);
  torch::Tensor Step(const torch::Tensor& y, DecoderCache& cache);
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};  // Pre-LN only
  int64_t sublayers() const { return 3 * static_cast<int64_t>(layers->size()); }

 private:
  bool checkpointing_;  // ModelOptions::activation_checkpointing
  proto::ModelConfig::TokenLayout layout_;
};
TORCH_MODULE(Decoder);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_TRANSFORMER_STACK_H_
