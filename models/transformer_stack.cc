#include "models/transformer_stack.h"

#include <memory>

#include "models/checkpointing.h"

namespace fathom::models {
namespace {

// Whether a stack's forward checkpoints its layers: only when a backward will follow. Admin's
// profiling pass (profile set) sets omegas as it goes and runs once, so it never recomputes.
bool Checkpoints(bool enabled, bool training, const AdminProfile* profile,
                 std::initializer_list<torch::Tensor> inputs) {
  if (!enabled || !training || profile != nullptr || !torch::GradMode::is_enabled()) return false;
  for (const auto& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

}  // namespace

EncoderLayerImpl::EncoderLayerImpl(const ModelOptions& o) {
  self_attention =
      register_module("self_attention",
                      MultiHeadAttention(o.d_model, o.heads, o.attention_dropout, o.num_relations));
  ffn = register_module("ffn", FeedForward(o.d_model, o.ffn_dim, o.activation_dropout));
  attention_residual = register_module(
      "attention_residual", Residual(o.d_model, o.norm_scheme(), o.dropout, o.fused_kernels));
  ffn_residual = register_module("ffn_residual",
                                 Residual(o.d_model, o.norm_scheme(), o.dropout, o.fused_kernels));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const TokenPacking& packing,
                                        const torch::Tensor& relations, AdminProfile* profile) {
  torch::Tensor h = attention_residual(
      x,
      [&](const torch::Tensor& in) {
        return self_attention->SelfAttend(in, packing, false, relations);
      },
      profile);
  return ffn_residual(
      h, [&](const torch::Tensor& in) { return ffn(in); }, profile);
}

DecoderLayerImpl::DecoderLayerImpl(const ModelOptions& o) {
  self_attention = register_module("self_attention",
                                   MultiHeadAttention(o.d_model, o.heads, o.attention_dropout));
  cross_attention = register_module("cross_attention",
                                    MultiHeadAttention(o.d_model, o.heads, o.attention_dropout));
  ffn = register_module("ffn", FeedForward(o.d_model, o.ffn_dim, o.activation_dropout));
  self_residual = register_module("self_residual",
                                  Residual(o.d_model, o.norm_scheme(), o.dropout, o.fused_kernels));
  cross_residual = register_module(
      "cross_residual", Residual(o.d_model, o.norm_scheme(), o.dropout, o.fused_kernels));
  ffn_residual = register_module("ffn_residual",
                                 Residual(o.d_model, o.norm_scheme(), o.dropout, o.fused_kernels));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& y, const TokenPacking& target_packing,
                                        const torch::Tensor& memory,
                                        const TokenPacking& memory_packing, AdminProfile* profile) {
  torch::Tensor h = self_residual(
      y,
      [&](const torch::Tensor& in) { return self_attention->SelfAttend(in, target_packing, true); },
      profile);
  h = cross_residual(
      h,
      [&](const torch::Tensor& in) {
        return cross_attention->CrossAttend(in, target_packing, memory, memory_packing);
      },
      profile);
  return ffn_residual(
      h, [&](const torch::Tensor& in) { return ffn(in); }, profile);
}

void DecoderCache::Reorder(const torch::Tensor& rows) {
  for (auto* list : {&self_k, &self_v, &cross_k, &cross_v}) {
    for (auto& t : *list) t = t.index_select(0, rows);
  }
  memory_padding = memory_padding.index_select(0, rows);
}

torch::Tensor DecoderLayerImpl::Step(const torch::Tensor& y, DecoderCache& cache, size_t index) {
  torch::Tensor h = self_residual(y, [&](const torch::Tensor& in) {
    auto [k, v] = self_attention->ProjectKeyValue(in);
    torch::Tensor& keys = cache.self_k[index];
    torch::Tensor& values = cache.self_v[index];
    keys = keys.defined() ? torch::cat({keys, k}, 2) : k;
    values = values.defined() ? torch::cat({values, v}, 2) : v;
    // Everything cached is in the past: no causal mask needed.
    return self_attention->Attend(in, keys, values, {}, false);
  });
  h = cross_residual(h, [&](const torch::Tensor& in) {
    return cross_attention->Attend(in, cache.cross_k[index], cache.cross_v[index],
                                   cache.memory_padding, false);
  });
  return ffn_residual(h, [&](const torch::Tensor& in) { return ffn(in); });
}

EncoderImpl::EncoderImpl(const ModelOptions& o)
    : checkpointing_(o.activation_checkpointing), layout_(o.token_layout) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.encoder_layers; ++i) layers->push_back(EncoderLayer(o));
  if (o.norm_scheme() == NormScheme::kPreLn) {
    final_norm = register_module("final_norm",
                                 torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
  }
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& padding,
                                   const torch::Tensor& relations, AdminProfile* profile) {
  const TokenPacking packing = LayoutFor(layout_, padding, profile != nullptr);
  torch::Tensor h = packing.Pack(x);
  const bool checkpoint = Checkpoints(checkpointing_, is_training(), profile, {h});
  for (const auto& layer : *layers) {
    auto* encoder_layer = layer->as<EncoderLayerImpl>();
    if (!checkpoint) {
      h = encoder_layer->forward(h, packing, relations, profile);
      continue;
    }
    // The closure owns what backward's recomputation needs: the layer, a copy of the packing
    // (a few tensor handles) and the relation ids.
    h = CheckpointedLayer(
        [owner = std::shared_ptr<torch::nn::Module>(layer), encoder_layer, packing, relations](
            const torch::Tensor& x, const torch::Tensor&) {
          return encoder_layer->forward(x, packing, relations, nullptr);
        },
        h);
  }
  if (final_norm) h = final_norm(h);
  return packing.Unpack(h);
}

DecoderImpl::DecoderImpl(const ModelOptions& o)
    : checkpointing_(o.activation_checkpointing), layout_(o.token_layout) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.decoder_layers; ++i) layers->push_back(DecoderLayer(o));
  if (o.norm_scheme() == NormScheme::kPreLn) {
    final_norm = register_module("final_norm",
                                 torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
  }
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& y, const torch::Tensor& target_padding,
                                   const torch::Tensor& memory, const torch::Tensor& memory_padding,
                                   AdminProfile* profile, bool right_aligned_targets) {
  const TokenPacking target_packing =
      LayoutFor(layout_, target_padding, profile != nullptr, right_aligned_targets);
  const TokenPacking memory_packing = LayoutFor(layout_, memory_padding, profile != nullptr);
  const torch::Tensor packed_memory = memory_packing.Pack(memory);
  torch::Tensor h = target_packing.Pack(y);
  const bool checkpoint = Checkpoints(checkpointing_, is_training(), profile, {h, packed_memory});
  for (const auto& layer : *layers) {
    auto* decoder_layer = layer->as<DecoderLayerImpl>();
    if (!checkpoint) {
      h = decoder_layer->forward(h, target_packing, packed_memory, memory_packing, profile);
      continue;
    }
    // The memory is an input of every layer's node, saved once (one tensor shared by all).
    h = CheckpointedLayer(
        [owner = std::shared_ptr<torch::nn::Module>(layer), decoder_layer, target_packing,
         memory_packing](const torch::Tensor& y, const torch::Tensor& memory) {
          return decoder_layer->forward(y, target_packing, memory, memory_packing, nullptr);
        },
        h, packed_memory);
  }
  if (final_norm) h = final_norm(h);
  return target_packing.Unpack(h);
}

DecoderCache DecoderImpl::StartCache(const torch::Tensor& memory,
                                     const torch::Tensor& memory_padding) {
  DecoderCache cache;
  cache.memory_padding = memory_padding;
  for (const auto& module : *layers) {
    auto [k, v] = module->as<DecoderLayerImpl>()->cross_attention->ProjectKeyValue(memory);
    cache.cross_k.push_back(k.contiguous());
    cache.cross_v.push_back(v.contiguous());
    cache.self_k.emplace_back();
    cache.self_v.emplace_back();
  }
  return cache;
}

torch::Tensor DecoderImpl::Step(const torch::Tensor& y, DecoderCache& cache) {
  torch::Tensor h = y;
  for (size_t i = 0; i < layers->size(); ++i)
    h = layers[i]->as<DecoderLayerImpl>()->Step(h, cache, i);
  ++cache.length;
  return final_norm ? final_norm(h) : h;
}

}  // namespace fathom::models
