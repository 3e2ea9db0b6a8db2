// Small models and batches for the model tests, built without any data files.
#ifndef FATHOM_TESTS_MODEL_TEST_UTIL_H_
#define FATHOM_TESTS_MODEL_TEST_UTIL_H_

#include <torch/torch.h>

#include <functional>
#include <tuple>

#include "models/initialisation.h"
#include "models/model_options.h"
#include "models/seq2seq.h"

namespace fathom::testing {

inline models::ModelOptions SmallOptions(proto::InitConfig::Method init, int64_t layers = 2,
                                         int64_t d_model = 32, int64_t vocab = 50) {
  models::ModelOptions o;
  o.source_vocab = vocab;
  o.target_vocab = vocab;
  o.pad_id = 0;
  o.encoder_layers = layers;
  o.decoder_layers = layers;
  o.d_model = d_model;
  o.heads = 4;
  o.ffn_dim = 2 * d_model;
  o.dropout = 0.0;
  o.max_positions = 128;
  o.embedding_dim = d_model;
  o.init = init;
  o.sharing = proto::ModelConfig::UNTIED;
  return o;
}

// Random ids in [4, vocab) with row r padded (id 0) after lengths[r] positions.
inline torch::Tensor PaddedIds(const std::vector<int64_t>& lengths, int64_t vocab, uint64_t seed) {
  torch::manual_seed(seed);
  int64_t width = 0;
  for (int64_t l : lengths) width = std::max(width, l);
  torch::Tensor ids =
      torch::randint(4, vocab, {static_cast<int64_t>(lengths.size()), width}, torch::kLong);
  for (size_t r = 0; r < lengths.size(); ++r) {
    if (lengths[r] < width) ids[r].narrow(0, lengths[r], width - lengths[r]).fill_(0);
  }
  return ids;
}

// The data-dependent part of a scheme's initialisation, after InitialiseDefault: Admin
// profiles the (source, target, relations) batch `admin_batch` makes (called only for Admin, so
// what it draws from the generator is drawn only then), T-Fixup scales, DT-Fixup scales with
// mu 3.0 (encoder) and 2.5 (decoder).
using AdminBatch = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>;
inline void InitialiseScheme(models::Seq2SeqImpl& model, proto::InitConfig::Method init,
                             const std::function<AdminBatch()>& admin_batch) {
  switch (init) {
    case proto::InitConfig::ADMIN: {
      const auto [source, target, relations] = admin_batch();
      models::ProfileAdmin(model, source, target, relations, {});
      break;
    }
    case proto::InitConfig::T_FIXUP:
      models::ApplyTFixup(model);
      break;
    case proto::InitConfig::DT_FIXUP:
      models::ApplyDtFixup(model, 3.0, 2.5);
      break;
    default:
      break;
  }
}

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_MODEL_TEST_UTIL_H_
