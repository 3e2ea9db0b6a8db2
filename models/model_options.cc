#include "models/model_options.h"

#include "absl/strings/str_cat.h"

namespace fathom::models {

NormScheme ModelOptions::norm_scheme() const {
  switch (init) {
    case proto::InitConfig::PRE_LN:
      return NormScheme::kPreLn;
    case proto::InitConfig::ADMIN:
    case proto::InitConfig::ADMIN_CONSTANT:
      return NormScheme::kAdmin;
    case proto::InitConfig::T_FIXUP:
    case proto::InitConfig::DT_FIXUP:
      return NormScheme::kNone;
    default:
      return NormScheme::kPostLn;
  }
}

bool ModelOptions::output_tied() const {
  return sharing != proto::ModelConfig::UNTIED && tied_remedy != proto::ModelConfig::UNTIE_OUTPUT;
}

absl::StatusOr<ModelOptions> ModelOptions::FromProto(const proto::ModelConfig& model,
                                                     const proto::InitConfig& init,
                                                     int64_t source_vocab, int64_t target_vocab,
                                                     int64_t pad_id, int64_t num_relations,
                                                     int64_t embedding_dim) {
  ModelOptions o;
  o.source_vocab = source_vocab;
  o.target_vocab = target_vocab;
  o.pad_id = pad_id;
  o.encoder_layers = model.encoder_layers();
  o.decoder_layers = model.decoder_layers();
  o.d_model = model.d_model();
  o.heads = model.heads();
  o.ffn_dim = model.ffn_dim();
  o.dropout = model.dropout();
  o.attention_dropout = model.attention_dropout();
  o.activation_dropout = model.activation_dropout();
  o.max_positions = model.max_positions();
  o.scale_embeddings = model.scale_embeddings();
  o.sharing = model.embedding_sharing();
  o.tied_remedy = model.tied_output_remedy();
  o.init = init.method();
  o.embedding_dim = embedding_dim > 0 ? embedding_dim : o.d_model;
  o.num_relations = model.relation_aware() ? num_relations : 0;
  o.activation_checkpointing = model.activation_checkpointing();
  o.token_layout = model.token_layout();
  if (o.sharing == proto::ModelConfig::TIE_ALL && source_vocab != target_vocab) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.embedding_sharing: TIE_ALL needs one joint vocabulary, but the source has ",
        source_vocab, " pieces and the target ", target_vocab,
        " (use data.sentencepiece.joint or TIE_DECODER_OUTPUT)"));
  }
  if (model.relation_aware() && num_relations <= 0) {
    return absl::InvalidArgumentError(
        "model.relation_aware: the prepared data carries no relation ids (task TEXT_TO_SQL)");
  }
  if (o.d_model % o.heads != 0) {
    return absl::InvalidArgumentError("model.heads: must divide model.d_model");
  }
  if (o.tied_remedy == proto::ModelConfig::ROLL_HALVES && o.d_model % 2 != 0) {
    return absl::InvalidArgumentError(
        "model.tied_output_remedy: ROLL_HALVES needs an even d_model");
  }
  return o;
}

}  // namespace fathom::models
