#include "models/seq2seq.h"

namespace fathom::models {

Seq2SeqImpl::Seq2SeqImpl(const ModelOptions& o) : options_(o) {
  source_embeddings = register_module(
      "source_embeddings", Embeddings(o.source_vocab, o.embedding_dim, o.d_model, o.max_positions,
                                      o.scale_embeddings, o.dropout, o.pad_id));
  if (o.sharing == proto::ModelConfig::TIE_ALL) {
    // One module, registered once, so its parameters are updated once.
    target_embeddings = source_embeddings;
  } else {
    target_embeddings = register_module(
        "target_embeddings", Embeddings(o.target_vocab, o.embedding_dim, o.d_model, o.max_positions,
                                        o.scale_embeddings, o.dropout, o.pad_id));
  }
  encoder = register_module("encoder", Encoder(o));
  decoder = register_module("decoder", Decoder(o));
  if (!o.output_tied()) {
    output_matrix = register_parameter("output_matrix", torch::zeros({o.target_vocab, o.d_model}));
  }
  if (o.output_tied() && o.tied_remedy == proto::ModelConfig::ORTHOGONAL_PROJECTION) {
    output_projection = register_module(
        "output_projection",
        torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.d_model).bias(false)));
  }
}

torch::Tensor Seq2SeqImpl::EncoderInput(const torch::Tensor& source) {
  return source_embeddings(source);
}

torch::Tensor Seq2SeqImpl::DecoderInput(const torch::Tensor& target_input) {
  return target_embeddings(target_input);
}

torch::Tensor Seq2SeqImpl::Encode(const torch::Tensor& source, const torch::Tensor& relations,
                                  AdminProfile* profile) {
  return encoder(EncoderInput(source), source.eq(options_.pad_id), relations, profile);
}

torch::Tensor Seq2SeqImpl::Decode(const torch::Tensor& target_input, const torch::Tensor& memory,
                                  const torch::Tensor& source, AdminProfile* profile,
                                  bool right_aligned_targets) {
  return decoder(DecoderInput(target_input), target_input.eq(options_.pad_id), memory,
                 source.eq(options_.pad_id), profile, right_aligned_targets);
}

DecoderCache Seq2SeqImpl::StartDecoding(const torch::Tensor& memory, const torch::Tensor& source) {
  return decoder->StartCache(memory, source.eq(options_.pad_id));
}

torch::Tensor Seq2SeqImpl::DecodeStep(const torch::Tensor& tokens, DecoderCache& cache) {
  torch::Tensor y = target_embeddings->forward(tokens.unsqueeze(1), cache.length);
  return decoder->Step(y, cache).squeeze(1);
}

torch::Tensor Seq2SeqImpl::Logits(const torch::Tensor& hidden) {
  if (!options_.output_tied()) return torch::matmul(hidden, output_matrix.t());
  torch::Tensor h = hidden;
  if (output_projection) {
    h = output_projection(h);
  } else if (options_.tied_remedy == proto::ModelConfig::ROLL_HALVES) {
    // Swapping the halves decorrelates h from its own token's embedding (docs/algorithms.md,
    // "Tied output embeddings").
    h = torch::roll(h, {options_.d_model / 2}, {-1});
  }
  return torch::matmul(h, target_embeddings->OutputMatrix().t());
}

torch::Tensor Seq2SeqImpl::forward(const torch::Tensor& source, const torch::Tensor& target_input,
                                   const torch::Tensor& relations) {
  torch::Tensor memory = Encode(source, relations);
  return Logits(Decode(target_input, memory, source));
}

}  // namespace fathom::models
