// Everything the model code needs to know, resolved from the run config and the data: plain
// values, so models/ stays free of files, ranks and protobuf plumbing beyond this one place.
#ifndef FATHOM_MODELS_MODEL_OPTIONS_H_
#define FATHOM_MODELS_MODEL_OPTIONS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace fathom::models {

// Where LayerNorm sits in a residual sublayer.
enum class NormScheme {
  kPostLn,  // x + f(x), then LN
  kPreLn,   // x + f(LN(x)), final LN after the stack
  kAdmin,   // LN(omega * x + f(x))
  kNone,    // x + f(x): T-Fixup and DT-Fixup layers carry no LayerNorm
};

struct ModelOptions {
  int64_t source_vocab = 0;
  int64_t target_vocab = 0;
  int64_t pad_id = 0;
  int64_t encoder_layers = 6;
  int64_t decoder_layers = 6;
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t ffn_dim = 2048;
  double dropout = 0.1;
  double attention_dropout = 0.0;
  double activation_dropout = 0.0;
  int64_t max_positions = 1024;
  bool scale_embeddings = true;
  proto::ModelConfig::EmbeddingSharing sharing = proto::ModelConfig::TIE_ALL;
  proto::ModelConfig::TiedOutputRemedy tied_remedy = proto::ModelConfig::NO_REMEDY;
  proto::InitConfig::Method init = proto::InitConfig::POST_LN;
  // Width of the embedding tables; differs from d_model only for pre-trained vectors, which are
  // then projected to d_model.
  int64_t embedding_dim = 0;
  int64_t num_relations = 0;  // > 0: relation-aware encoder self-attention
  // model.activation_checkpointing: while training with grad enabled, each encoder and decoder
  // layer keeps only its inputs and recomputes its forward in backward (models/checkpointing.h).
  bool activation_checkpointing = false;
  // model.token_layout: how padded batches run through the stacks (TOKEN_LAYOUT_AUTO: packed
  // real positions on CPU, the padded layout on CUDA, resolved per batch by its device).
  proto::ModelConfig::TokenLayout token_layout = proto::ModelConfig::TOKEN_LAYOUT_AUTO;
  // distributed.fused_kernels (set by whoever owns the device choice, not by FromProto): on
  // CUDA tensors, in a build with kernels/ compiled by nvcc, the project's fused kernels.
  bool fused_kernels = false;

  NormScheme norm_scheme() const;
  bool output_tied() const;  // the output projection is the target embedding table

  // model.* and init.method, with what only the data knows (vocabulary sizes, pad id, relation
  // count, pre-trained vector width; 0: model.d_model). Errors name the config field (e.g.
  // TIE_ALL with two vocabularies).
  static absl::StatusOr<ModelOptions> FromProto(const proto::ModelConfig& model,
                                                const proto::InitConfig& init, int64_t source_vocab,
                                                int64_t target_vocab, int64_t pad_id,
                                                int64_t num_relations, int64_t embedding_dim);
};

}  // namespace fathom::models

#endif  // FATHOM_MODELS_MODEL_OPTIONS_H_
