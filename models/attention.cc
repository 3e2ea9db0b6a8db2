#include "models/attention.h"

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "models/dropout.h"

namespace fathom::models {

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t d_model, int64_t heads, double dropout,
                                               int64_t num_relations)
    : heads_(heads), d_head_(d_model / heads), dropout_(dropout) {
  q_proj = register_module("q_proj", torch::nn::Linear(d_model, d_model));
  // No key bias: it adds q.b to every score of a query alike, which softmax ignores, so its
  // gradient is exactly zero and Adam would only amplify rounding noise into it.
  k_proj = register_module(
      "k_proj", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_model).bias(false)));
  v_proj = register_module("v_proj", torch::nn::Linear(d_model, d_model));
  out_proj = register_module("out_proj", torch::nn::Linear(d_model, d_model));
  if (num_relations > 0) {
    relation_k = register_parameter("relation_k", torch::zeros({num_relations, d_head_}));
    relation_v = register_parameter("relation_v", torch::zeros({num_relations, d_head_}));
  }
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& query,
                                              const torch::Tensor& memory,
                                              const torch::Tensor& key_padding, bool causal,
                                              const torch::Tensor& relations) {
  auto [k, v] = ProjectKeyValue(memory);
  return Attend(query, k, v, key_padding, causal, relations);
}

std::pair<torch::Tensor, torch::Tensor> MultiHeadAttentionImpl::ProjectKeyValue(
    const torch::Tensor& memory) {
  return {SplitHeads(k_proj(memory)), SplitHeads(v_proj(memory))};
}

torch::Tensor MultiHeadAttentionImpl::Attend(const torch::Tensor& query, const torch::Tensor& k,
                                             const torch::Tensor& v,
                                             const torch::Tensor& key_padding, bool causal,
                                             const torch::Tensor& relations) {
  return out_proj(Context(SplitHeads(q_proj(query)), k, v, key_padding, causal, relations));
}

torch::Tensor MultiHeadAttentionImpl::SelfAttend(const torch::Tensor& x,
                                                 const TokenPacking& packing, bool causal,
                                                 const torch::Tensor& relations) {
  const int64_t d = heads_ * d_head_;
  torch::Tensor qkv = packing.Unpack(ProjectTogether(x, {q_proj, k_proj, v_proj}));  // [B, T, 3d]
  // Rows padded on the right need no padding mask under a causal one (padding rows' outputs
  // are dropped by Pack, or ignored in the padded layout), which lets LibTorch 2.x pick its
  // causal flash kernel. Otherwise the padded layout brings its own masks (made once a stack).
  const bool unmasked = causal && packing.right_aligned();
  const torch::Tensor key_padding = unmasked ? torch::Tensor() : packing.padding();
  torch::Tensor context =
      Context(SplitHeads(qkv.narrow(-1, 0, d)), SplitHeads(qkv.narrow(-1, d, d)),
              SplitHeads(qkv.narrow(-1, 2 * d, d)), key_padding, causal, relations,
              packing.padded() && !unmasked ? &packing : nullptr);
  return out_proj(packing.Pack(context));
}

torch::Tensor MultiHeadAttentionImpl::CrossAttend(const torch::Tensor& query,
                                                  const TokenPacking& query_packing,
                                                  const torch::Tensor& memory,
                                                  const TokenPacking& memory_packing) {
  const int64_t d = heads_ * d_head_;
  torch::Tensor kv =
      memory_packing.Unpack(ProjectTogether(memory, {k_proj, v_proj}));  // [B, S, 2d]
  torch::Tensor context =
      Context(SplitHeads(query_packing.Unpack(q_proj(query))), SplitHeads(kv.narrow(-1, 0, d)),
              SplitHeads(kv.narrow(-1, d, d)), memory_packing.padding(), false, {});
  return out_proj(query_packing.Pack(context));
}

torch::Tensor MultiHeadAttentionImpl::ProjectTogether(
    const torch::Tensor& x, std::initializer_list<torch::nn::Linear> projections) {
  // Concatenating the (small) weights costs far less than the separate, narrower matrix
  // multiplies it saves; autograd splits the gradient back into each parameter.
  std::vector<torch::Tensor> weights, biases;
  for (const auto& projection : projections) {
    weights.push_back(projection->weight);
    biases.push_back(projection->bias.defined() ? projection->bias
                                                : torch::zeros({projection->weight.size(0)},
                                                               projection->weight.options()));
  }
  return torch::linear(x, torch::cat(weights), torch::cat(biases));
}

torch::Tensor MultiHeadAttentionImpl::SplitHeads(const torch::Tensor& x) const {
  return x.view({x.size(0), x.size(1), heads_, d_head_}).transpose(1, 2);
}

torch::Tensor MultiHeadAttentionImpl::Blocked(const torch::Tensor& key_padding, bool causal,
                                              int64_t B, int64_t T, int64_t S,
                                              const torch::Device& device) {
  torch::Tensor blocked;
  if (key_padding.defined()) blocked = key_padding.view({B, 1, 1, S});
  if (!causal) return blocked;
  const torch::Tensor ones = torch::ones({T, S}, torch::TensorOptions(torch::kBool).device(device));
  const torch::Tensor future = ones.triu(S - T + 1);
  if (!blocked.defined()) return future;
  // A padding query before any real key (left-padded rows) would see no key at all: its softmax
  // is NaN, and NaN times its (zero) output gradient is NaN in V's gradient. Each query may see
  // its own position, which a real query does anyway.
  const torch::Tensor own = ones.tril(S - T).triu(S - T);
  return blocked.logical_or(future).logical_and(own.logical_not());
}

torch::Tensor MultiHeadAttentionImpl::Context(torch::Tensor q, const torch::Tensor& k,
                                              const torch::Tensor& v,
                                              const torch::Tensor& key_padding, bool causal,
                                              const torch::Tensor& relations,
                                              const TokenPacking* padded_self) {
  const int64_t B = q.size(0), T = q.size(2), S = k.size(2);
  const bool relational = relation_k.defined() && relations.defined();
  const double p = is_training() ? dropout_ : 0.0;

  torch::Tensor context;
#if TORCH_VERSION_MAJOR >= 2
  if (!relational) {
    // Fused (flash / memory-efficient) kernels where LibTorch has them.
    if (causal && T == S && !key_padding.defined()) {
      context = at::scaled_dot_product_attention(q, k, v, {}, p, /*is_causal=*/true);
    } else {
      // No mask is an empty optional: an undefined tensor in it is an error in LibTorch 2.x.
      std::optional<torch::Tensor> visible;
      if (padded_self != nullptr) {
        visible = padded_self->SelfAttentionMask(causal, /*visible=*/true);
      } else if (const torch::Tensor blocked = Blocked(key_padding, causal, B, T, S, q.device());
                 blocked.defined()) {
        visible = blocked.logical_not();
      }
      context = at::scaled_dot_product_attention(q, k, v, visible, p, false);
    }
  }
#endif
  if (!context.defined() && T == 1 && !relational && padded_self == nullptr) {
    // One query per row (incremental decoding): broadcast products instead of a batched matrix
    // multiply, whose CPU kernel dispatches one tiny GEMM per (row, head) pair.
    torch::Tensor scores =
        (q * (1.0 / std::sqrt(static_cast<double>(d_head_))) * k).sum(-1);  // [B, H, S]
    if (key_padding.defined()) {
      scores.masked_fill_(key_padding.view({B, 1, S}), -std::numeric_limits<float>::infinity());
    }
    torch::Tensor weights = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
    weights = Dropout(weights, p, true);
    context = (weights.unsqueeze(-1) * v).sum(2, /*keepdim=*/true);  // [B, H, 1, d_head]
  }
  if (!context.defined()) {
    // Scale q (B*T*d values) rather than the scores (B*H*T*S values).
    q = q * (1.0 / std::sqrt(static_cast<double>(d_head_)));
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1));  // [B, H, T, S]
    torch::Tensor rel;
    if (relational) {
      // q_i . r^K_ij without materialising [B, T, S, d_head]: score q against every relation
      // embedding once, then pick each pair's relation.
      rel = relations.unsqueeze(1).expand({B, heads_, T, S});
      torch::Tensor q_rel = torch::matmul(q, relation_k.t());  // [B, H, T, R]
      scores = scores + q_rel.gather(3, rel);
    }
    const torch::Tensor blocked = padded_self != nullptr
                                      ? padded_self->SelfAttentionMask(causal, /*visible=*/false)
                                      : Blocked(key_padding, causal, B, T, S, q.device());
    if (blocked.defined()) scores.masked_fill_(blocked, -std::numeric_limits<float>::infinity());
    torch::Tensor weights = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
    weights = Dropout(weights, p, true);
    context = torch::matmul(weights, v);
    if (relational) {
      // sum_j a_ij r^V_ij = sum_r (sum over j with relation r of a_ij) r^V_r
      const int64_t R = relation_v.size(0);
      torch::Tensor per_relation = torch::zeros({B, heads_, T, R}, weights.options());
      per_relation.scatter_add_(3, rel, weights);
      context = context + torch::matmul(per_relation, relation_v);
    }
  }
  return context.transpose(1, 2).reshape({B, T, heads_ * d_head_});
}

}  // namespace fathom::models
