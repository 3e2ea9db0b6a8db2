// Multi-head attention, optionally relation-aware (Shaw et al. 2018; RAT-SQL): learned
// embeddings of the relation between positions i and j are added to the key and the value.
#ifndef FATHOM_MODELS_ATTENTION_H_
#define FATHOM_MODELS_ATTENTION_H_

#include <torch/torch.h>

#include "models/token_packing.h"

namespace fathom::models {

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  // num_relations > 0 adds relation key/value embeddings of width d_model / heads.
  MultiHeadAttentionImpl(int64_t d_model, int64_t heads, double dropout, int64_t num_relations = 0);

  // Padded layout. query [B, T, d], memory [B, S, d]. key_padding [B, S] bool, true at padding
  // (may be undefined). causal: position i sees j <= i. relations [B, T, S] int64 ids
  // (relation-aware only).
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& memory,
                        const torch::Tensor& key_padding, bool causal,
                        const torch::Tensor& relations = {});

  // The two halves of forward(), for incremental decoding: keys and values of `memory` as
  // [B, H, S, d_head] (cached by the caller), and attention of `query` over them.
  std::pair<torch::Tensor, torch::Tensor> ProjectKeyValue(const torch::Tensor& memory);
  torch::Tensor Attend(const torch::Tensor& query, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& key_padding, bool causal,
                       const torch::Tensor& relations = {});

  // Rows laid out by a TokenPacking: rows [N, d] in, rows [N, d] out (packed: the real
  // positions, whose projections see only real rows; padded: all B * T positions, padding keys
  // masked). Self-attention projects Q, K and V in one matrix multiply, cross-attention K and V.
  torch::Tensor SelfAttend(const torch::Tensor& x, const TokenPacking& packing, bool causal,
                           const torch::Tensor& relations = {});
  torch::Tensor CrossAttend(const torch::Tensor& query, const TokenPacking& query_packing,
                            const torch::Tensor& memory, const TokenPacking& memory_packing);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  torch::Tensor relation_k, relation_v;  // [R, d_head]; undefined when not relation-aware
  int64_t heads() const { return heads_; }

 private:
  // [B, T, d] -> [B, H, T, d_head]
  torch::Tensor SplitHeads(const torch::Tensor& x) const;
  // q, k, v [B, H, *, d_head], q not yet scaled. Returns the heads' context merged, [B, T, d],
  // before out_proj.
  // padded_self: self-attention in the padded layout, whose masks (TokenPacking::
  // SelfAttentionMask) replace key_padding's.
  torch::Tensor Context(torch::Tensor q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& key_padding, bool causal,
                        const torch::Tensor& relations, const TokenPacking* padded_self = nullptr);
  // The keys each query may not see, true where blocked, broadcastable to [B, H, T, S]; undefined
  // when nothing is.
  static torch::Tensor Blocked(const torch::Tensor& key_padding, bool causal, int64_t B, int64_t T,
                               int64_t S, const torch::Device& device);
  // x [N, d] through the given projections at once: [N, d * projections.size()].
  torch::Tensor ProjectTogether(const torch::Tensor& x,
                                std::initializer_list<torch::nn::Linear> projections);

  int64_t heads_;
  int64_t d_head_;
  double dropout_;
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_ATTENTION_H_
