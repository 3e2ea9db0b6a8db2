#include "models/initialisation.h"

#include <algorithm>
#include <cmath>

namespace fathom::models {
namespace {

void XavierLinear(torch::nn::Linear& linear, double gain) {
  torch::nn::init::xavier_uniform_(linear->weight, gain);
  if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
}

void InitAttention(MultiHeadAttentionImpl& attention) {
  const double qkv_gain = 1.0 / std::sqrt(2.0);
  XavierLinear(attention.q_proj, qkv_gain);
  XavierLinear(attention.k_proj, qkv_gain);
  XavierLinear(attention.v_proj, qkv_gain);
  XavierLinear(attention.out_proj, 1.0);
  if (attention.relation_k.defined()) {
    torch::nn::init::xavier_uniform_(attention.relation_k);
    torch::nn::init::xavier_uniform_(attention.relation_v);
  }
}

void InitEmbeddings(EmbeddingsImpl& embeddings) {
  torch::nn::init::normal_(embeddings.table, 0.0,
                           std::pow(static_cast<double>(embeddings.table.size(1)), -0.5));
  embeddings.table[embeddings.pad_id()].zero_();
  if (embeddings.projection) XavierLinear(embeddings.projection, 1.0);
}

// The matrices every Fixup variant rescales.
struct Scaled {
  double value, output, ffn, relation_value;
};

void ScaleAttention(MultiHeadAttentionImpl& attention, double value, double output,
                    double relation_value) {
  attention.v_proj->weight.mul_(value);
  attention.out_proj->weight.mul_(output);
  if (attention.relation_v.defined()) attention.relation_v.mul_(relation_value);
}

void ScaleEncoder(EncoderImpl& encoder, const Scaled& s) {
  for (const auto& module : *encoder.layers) {
    auto* layer = module->as<EncoderLayerImpl>();
    ScaleAttention(*layer->self_attention, s.value, s.output, s.relation_value);
    layer->ffn->fc1->weight.mul_(s.ffn);
    layer->ffn->fc2->weight.mul_(s.ffn);
  }
}

void ScaleDecoder(DecoderImpl& decoder, const Scaled& s) {
  for (const auto& module : *decoder.layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    ScaleAttention(*layer->self_attention, s.value, s.output, s.relation_value);
    ScaleAttention(*layer->cross_attention, s.value, s.output, s.relation_value);
    layer->ffn->fc1->weight.mul_(s.ffn);
    layer->ffn->fc2->weight.mul_(s.ffn);
  }
}

template <typename Fn>
void ForEachResidual(Seq2SeqImpl& model, bool encoder, Fn fn) {
  if (encoder) {
    for (const auto& m : *model.encoder->layers) {
      auto* layer = m->as<EncoderLayerImpl>();
      fn(*layer->attention_residual);
      fn(*layer->ffn_residual);
    }
  } else {
    for (const auto& m : *model.decoder->layers) {
      auto* layer = m->as<DecoderLayerImpl>();
      fn(*layer->self_residual);
      fn(*layer->cross_residual);
      fn(*layer->ffn_residual);
    }
  }
}

}  // namespace

void InitialiseDefault(Seq2SeqImpl& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  InitEmbeddings(*model.source_embeddings);
  if (model.target_embeddings.ptr() != model.source_embeddings.ptr())
    InitEmbeddings(*model.target_embeddings);
  for (const auto& m : *model.encoder->layers) {
    auto* layer = m->as<EncoderLayerImpl>();
    InitAttention(*layer->self_attention);
    XavierLinear(layer->ffn->fc1, 1.0);
    XavierLinear(layer->ffn->fc2, 1.0);
  }
  for (const auto& m : *model.decoder->layers) {
    auto* layer = m->as<DecoderLayerImpl>();
    InitAttention(*layer->self_attention);
    InitAttention(*layer->cross_attention);
    XavierLinear(layer->ffn->fc1, 1.0);
    XavierLinear(layer->ffn->fc2, 1.0);
  }
  if (model.output_matrix.defined()) {
    torch::nn::init::normal_(model.output_matrix, 0.0,
                             std::pow(static_cast<double>(model.options().d_model), -0.5));
  }
  if (model.output_projection) torch::nn::init::orthogonal_(model.output_projection->weight);
  for (bool encoder : {true, false}) {
    ForEachResidual(model, encoder, [](ResidualImpl& r) {
      if (r.omega.defined()) r.omega.fill_(1.0);
    });
  }
}

double AdminConstantOmega(int64_t sublayers) {
  const double l = static_cast<double>(sublayers);
  return std::sqrt((l + 1.0) / std::log(l + 1.0) - 1.0);
}

double TFixupEncoderScale(int64_t layers) {
  return 0.67 * std::pow(static_cast<double>(layers), -0.25);
}

double TFixupDecoderScale(int64_t layers) {
  return std::pow(9.0 * static_cast<double>(layers), -0.25);
}

double TFixupEmbeddingScale(int64_t layers) {
  return std::pow(9.0 * static_cast<double>(layers), -0.25);
}

double DtFixupScale(int64_t layers, double mu, bool relation_aware) {
  const double n = static_cast<double>(layers);
  if (relation_aware) return std::pow(n * (4.0 * mu * mu + 2.0 * mu + 2.0), -0.5);
  return std::pow(n, -0.5) / (2.0 * mu);
}

void ApplyTFixup(Seq2SeqImpl& model) {
  torch::NoGradGuard no_grad;
  const double e = TFixupEncoderScale(model.options().encoder_layers);
  const double d = TFixupDecoderScale(model.options().decoder_layers);
  const double sqrt2 = std::sqrt(2.0);
  ScaleEncoder(*model.encoder, {e * sqrt2, e, e, e});
  ScaleDecoder(*model.decoder, {d * sqrt2, d, d, d});
  // Both input tables, each with its own stack's depth (the authors' code); a table shared by
  // both sides (TIE_ALL) is scaled once, with the encoder's, as the authors' code does.
  model.source_embeddings->table.mul_(TFixupEmbeddingScale(model.options().encoder_layers));
  if (model.target_embeddings.ptr() != model.source_embeddings.ptr()) {
    model.target_embeddings->table.mul_(TFixupEmbeddingScale(model.options().decoder_layers));
  }
}

double DtFixupDecoderScale(int64_t layers, double encoder_mu, double decoder_mu,
                           proto::InitConfig::DtFixupDecoder rule) {
  if (rule == proto::InitConfig::DECODER_T_FIXUP) return TFixupDecoderScale(layers);
  return DtFixupScale(layers, std::max(encoder_mu, decoder_mu), false);
}

void ApplyDtFixup(Seq2SeqImpl& model, double encoder_mu, double decoder_mu,
                  const DtFixupOptions& options) {
  torch::NoGradGuard no_grad;
  const bool relational = model.options().num_relations > 0;
  const double e = DtFixupScale(model.options().encoder_layers, encoder_mu, relational);
  const double d =
      DtFixupDecoderScale(model.options().decoder_layers, encoder_mu, decoder_mu, options.decoder);
  // The default init gave query, key and value projections gain 1/sqrt(2); DT-Fixup starts
  // from plain Xavier (values) and from options.qk_gain (queries and keys).
  const double sqrt2 = std::sqrt(2.0);
  ScaleEncoder(*model.encoder, {e * sqrt2, e, e, e});
  ScaleDecoder(*model.decoder, {d * sqrt2, d, d, d});
  const double qk = options.qk_gain * sqrt2;
  auto regain = [qk](MultiHeadAttentionImpl& attention) {
    attention.q_proj->weight.mul_(qk);
    attention.k_proj->weight.mul_(qk);
  };
  for (const auto& m : *model.encoder->layers) regain(*m->as<EncoderLayerImpl>()->self_attention);
  for (const auto& m : *model.decoder->layers) {
    auto* layer = m->as<DecoderLayerImpl>();
    regain(*layer->self_attention);
    regain(*layer->cross_attention);
  }
}

torch::Tensor DtFixupMuVectors(EmbeddingsImpl& embeddings, const torch::Tensor& ids,
                               proto::InitConfig::DtFixupMuInput where) {
  if (where == proto::InitConfig::LAYER_INPUT) return embeddings.forward(ids);
  return embeddings.table.index_select(0, ids.reshape({-1}))
      .view({ids.size(0), ids.size(1), embeddings.table.size(1)});
}

void ApplyAdminConstant(Seq2SeqImpl& model) {
  torch::NoGradGuard no_grad;
  const double enc = AdminConstantOmega(model.encoder->sublayers());
  const double dec = AdminConstantOmega(model.decoder->sublayers());
  ForEachResidual(model, true, [&](ResidualImpl& r) { r.omega.fill_(enc); });
  ForEachResidual(model, false, [&](ResidualImpl& r) { r.omega.fill_(dec); });
}

double LoadPretrainedEmbeddings(EmbeddingsImpl& embeddings, const torch::Tensor& vectors,
                                const torch::Tensor& covered, bool standardise) {
  torch::NoGradGuard no_grad;
  torch::Tensor table = embeddings.table;
  TORCH_CHECK(vectors.sizes() == table.sizes(), "pre-trained vectors ", vectors.sizes(),
              " do not match the embedding table ", table.sizes());
  torch::Tensor mask = covered.to(torch::kBool);
  torch::Tensor chosen = vectors.to(table.scalar_type()).index({mask});
  if (standardise && chosen.size(0) > 0) {
    // The std of the random table InitEmbeddings draws, which the uncovered rows already have.
    const double random_std = std::pow(static_cast<double>(table.size(1)), -0.5);
    chosen = (chosen - chosen.mean()) / chosen.std() * random_std;
  }
  table.index_put_({mask}, chosen);
  table[embeddings.pad_id()].zero_();
  return table.std().item<double>();
}

double MaxPositionNorm(const torch::Tensor& x, const torch::Tensor& padding) {
  torch::NoGradGuard no_grad;
  torch::Tensor norms = x.to(torch::kFloat).norm(2, -1);
  if (padding.defined()) norms = norms.masked_fill(padding, 0.0);
  return norms.max().item<double>();
}

AdminOmegas ProfileAdmin(Seq2SeqImpl& model, const torch::Tensor& source,
                         const torch::Tensor& target_input, const torch::Tensor& relations,
                         const StatsReducer& reduce) {
  const bool was_training = model.is_training();
  model.train();
  AdminProfile encoder_profile;
  encoder_profile.reduce = reduce;
  AdminProfile decoder_profile;
  decoder_profile.reduce = reduce;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor memory = model.Encode(source, relations, &encoder_profile);
    model.Decode(target_input, memory, source, &decoder_profile);
  }
  model.train(was_training);
  return {encoder_profile.omegas, decoder_profile.omegas};
}

}  // namespace fathom::models
