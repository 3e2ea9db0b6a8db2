#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "models/initial_loss.h"
#include "models/initialisation.h"
#include "models/seq2seq.h"
#include "proto/config_io.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace fathom::models {
namespace {

using proto::InitConfig;

// A reusable two-party barrier (std::barrier is C++20).
class Barrier {
 public:
  explicit Barrier(int parties) : parties_(parties) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const int generation = generation_;
    if (++waiting_ == parties_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation != generation_; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int parties_, waiting_ = 0, generation_ = 0;
};

double Std(const torch::Tensor& t) { return t.std().item<double>(); }
double XavierStd(const torch::Tensor& w) {
  return std::sqrt(2.0 / static_cast<double>(w.size(0) + w.size(1)));
}

TEST(InitFormulaTest, AdminConstantMatchesReferenceValues) {
  // docs/algorithms.md, "Admin": L = 12 gives 2.02, L = 36 gives 3.04.
  EXPECT_NEAR(AdminConstantOmega(12), 2.02, 0.005);
  EXPECT_NEAR(AdminConstantOmega(36), 3.04, 0.005);
  Seq2Seq model(testing::SmallOptions(InitConfig::ADMIN_CONSTANT, 6));
  InitialiseDefault(*model, 1);
  ApplyAdminConstant(*model);
  auto* enc = model->encoder->layers[0]->as<EncoderLayerImpl>();
  auto* dec = model->decoder->layers[5]->as<DecoderLayerImpl>();
  EXPECT_NEAR(enc->ffn_residual->omega[3].item<double>(), std::sqrt(13.0 / std::log(13.0) - 1.0),
              1e-6);
  EXPECT_NEAR(dec->cross_residual->omega[0].item<double>(), std::sqrt(19.0 / std::log(19.0) - 1.0),
              1e-6);
}

TEST(InitFormulaTest, TFixupScalesExactlyTheNamedMatrices) {
  const int64_t n = 8;
  Seq2Seq plain(testing::SmallOptions(InitConfig::T_FIXUP, n, 64));
  Seq2Seq fixed(testing::SmallOptions(InitConfig::T_FIXUP, n, 64));
  InitialiseDefault(*plain, 3);
  InitialiseDefault(*fixed, 3);
  ApplyTFixup(*fixed);
  const double enc = 0.67 * std::pow(8.0, -0.25);
  const double dec = std::pow(72.0, -0.25);
  auto* pe = plain->encoder->layers[2]->as<EncoderLayerImpl>();
  auto* fe = fixed->encoder->layers[2]->as<EncoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->weight, pe->ffn->fc1->weight * enc));
  EXPECT_TRUE(torch::allclose(fe->ffn->fc2->weight, pe->ffn->fc2->weight * enc));
  EXPECT_TRUE(torch::allclose(fe->self_attention->out_proj->weight,
                              pe->self_attention->out_proj->weight * enc));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->q_proj->weight, pe->self_attention->q_proj->weight));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->k_proj->weight, pe->self_attention->k_proj->weight));
  // Value: plain Xavier (gain 1) times the scale; check the distribution, not just the ratio.
  const auto& v = fe->self_attention->v_proj->weight;
  EXPECT_NEAR(Std(v) / (XavierStd(v) * enc), 1.0, 0.05);
  auto* pd = plain->decoder->layers[7]->as<DecoderLayerImpl>();
  auto* fd = fixed->decoder->layers[7]->as<DecoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fd->cross_attention->out_proj->weight,
                              pd->cross_attention->out_proj->weight * dec));
  EXPECT_NEAR(Std(fd->cross_attention->v_proj->weight) / (XavierStd(v) * dec), 1.0, 0.05);
  EXPECT_TRUE(torch::allclose(fd->ffn->fc2->weight, pd->ffn->fc2->weight * dec));
  // Decoder input embeddings: N(0, d^-1/2) times (9 N_dec)^-1/4.
  EXPECT_NEAR(Std(fixed->target_embeddings->table.narrow(0, 1, 49)), std::pow(64.0, -0.5) * dec,
              0.02 * dec);
  // No LayerNorm anywhere in T-Fixup layers.
  EXPECT_FALSE(fe->ffn_residual->norm);
}

TEST(InitFormulaTest, DtFixupFactorsForVanillaAndRelationAwareLayers) {
  const double mu = 7.5;
  EXPECT_NEAR(DtFixupScale(24, mu, true), 1.0 / std::sqrt(24.0 * (4 * mu * mu + 2 * mu + 2)),
              1e-12);
  EXPECT_NEAR(DtFixupScale(24, mu, false), 1.0 / (std::sqrt(24.0) * 2 * mu), 1e-12);
  auto options = testing::SmallOptions(InitConfig::DT_FIXUP, 6, 64);
  options.num_relations = 5;
  Seq2Seq plain(options), fixed(options);
  InitialiseDefault(*plain, 5);
  InitialiseDefault(*fixed, 5);
  ApplyDtFixup(*fixed, mu, 2.0);
  const double enc = std::pow(6.0 * (4 * mu * mu + 2 * mu + 2), -0.5);
  // The decoder's vanilla factor takes the larger mu: its cross-attention reads the encoder.
  const double dec = 1.0 / (std::sqrt(6.0) * 2 * mu);
  auto* pe = plain->encoder->layers[1]->as<EncoderLayerImpl>();
  auto* fe = fixed->encoder->layers[1]->as<EncoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->weight, pe->ffn->fc1->weight * enc));
  EXPECT_TRUE(torch::allclose(fe->self_attention->out_proj->weight,
                              pe->self_attention->out_proj->weight * enc));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->relation_v, pe->self_attention->relation_v * enc));
  EXPECT_TRUE(torch::allclose(fe->self_attention->relation_k, pe->self_attention->relation_k));
  // Query and key: plain Xavier (gain 1), the paper's step 1 and the authors' glorot_init.
  EXPECT_TRUE(torch::allclose(fe->self_attention->q_proj->weight,
                              pe->self_attention->q_proj->weight * std::sqrt(2.0)));
  EXPECT_NEAR(
      Std(fe->self_attention->k_proj->weight) / XavierStd(fe->self_attention->k_proj->weight), 1.0,
      0.05);
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->bias, pe->ffn->fc1->bias));
  const auto& v = fe->self_attention->v_proj->weight;
  EXPECT_NEAR(Std(v) / (XavierStd(v) * enc), 1.0, 0.05);
  auto* pd = plain->decoder->layers[0]->as<DecoderLayerImpl>();
  auto* fd = fixed->decoder->layers[0]->as<DecoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fd->ffn->fc2->weight, pd->ffn->fc2->weight * dec));
  EXPECT_TRUE(torch::allclose(fd->cross_attention->out_proj->weight,
                              pd->cross_attention->out_proj->weight * dec));
  EXPECT_TRUE(torch::allclose(fd->cross_attention->k_proj->weight,
                              pd->cross_attention->k_proj->weight * std::sqrt(2.0)));
}

TEST(InitFormulaTest, DtFixupDecoderAndQueryKeyAlternatives) {
  auto options = testing::SmallOptions(InitConfig::DT_FIXUP, 6, 64);
  Seq2Seq plain(options), fixed(options);
  InitialiseDefault(*plain, 6);
  InitialiseDefault(*fixed, 6);
  DtFixupOptions alternative;
  alternative.decoder = InitConfig::DECODER_T_FIXUP;
  alternative.qk_gain = 1.0 / std::sqrt(2.0);  // Fathom's default gain, kept
  ApplyDtFixup(*fixed, 20.0, 30.0, alternative);
  // T-Fixup's decoder factor (Huang et al. 2020): (9 N_d)^-1/4 = 54^-1/4 = 0.3689 for N_d = 6.
  const double dec = std::pow(9.0 * 6.0, -0.25);
  EXPECT_NEAR(dec, 0.3689, 1e-4);
  EXPECT_NEAR(DtFixupDecoderScale(6, 20.0, 30.0, InitConfig::DECODER_T_FIXUP), dec, 1e-12);
  EXPECT_NEAR(DtFixupDecoderScale(6, 20.0, 30.0, InitConfig::DECODER_VANILLA),
              1.0 / (std::sqrt(6.0) * 2 * 30.0), 1e-12);
  auto* pd = plain->decoder->layers[3]->as<DecoderLayerImpl>();
  auto* fd = fixed->decoder->layers[3]->as<DecoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fd->ffn->fc1->weight, pd->ffn->fc1->weight * dec));
  EXPECT_TRUE(torch::allclose(fd->self_attention->out_proj->weight,
                              pd->self_attention->out_proj->weight * dec));
  EXPECT_TRUE(
      torch::allclose(fd->self_attention->q_proj->weight, pd->self_attention->q_proj->weight));
  // The encoder keeps its vanilla factor with its own mu (no relations here): 1 / (sqrt 6 * 40).
  auto* pe = plain->encoder->layers[0]->as<EncoderLayerImpl>();
  auto* fe = fixed->encoder->layers[0]->as<EncoderLayerImpl>();
  EXPECT_TRUE(
      torch::allclose(fe->ffn->fc2->weight, pe->ffn->fc2->weight / (std::sqrt(6.0) * 2 * 20.0)));
}

TEST(InitFormulaTest, TFixupScalesBothInputTablesByTheirStacksDepth) {
  // T-Fixup, Algorithm 1: input embeddings of both sides times (9 N)^-1/4; the authors' code
  // (layer6ai-labs/T-Fixup, transformer.py) scales the source table with the encoder's layers
  // and a separate target table with the decoder's. 6 layers: 1/2.71; 36 layers: 1/4.24 (the
  // factors by which an unscaled source table was too large).
  EXPECT_NEAR(1.0 / TFixupEmbeddingScale(6), 2.7108, 1e-4);
  EXPECT_NEAR(1.0 / TFixupEmbeddingScale(36), 4.2426, 1e-4);
  auto options = testing::SmallOptions(InitConfig::T_FIXUP, 6, 64);
  options.decoder_layers = 2;
  Seq2Seq plain(options), fixed(options);
  InitialiseDefault(*plain, 8);
  InitialiseDefault(*fixed, 8);
  ApplyTFixup(*fixed);
  EXPECT_TRUE(torch::allclose(fixed->source_embeddings->table,
                              plain->source_embeddings->table * std::pow(9.0 * 6.0, -0.25)));
  EXPECT_TRUE(torch::allclose(fixed->target_embeddings->table,
                              plain->target_embeddings->table * std::pow(9.0 * 2.0, -0.25)));
  // One table for both sides: scaled once, with the encoder's depth (the authors' code scales it
  // in the encoder and skips the decoder under --share-all-embeddings).
  options.sharing = proto::ModelConfig::TIE_ALL;
  Seq2Seq tied_plain(options), tied(options);
  InitialiseDefault(*tied_plain, 8);
  InitialiseDefault(*tied, 8);
  ApplyTFixup(*tied);
  EXPECT_TRUE(torch::allclose(tied->source_embeddings->table,
                              tied_plain->source_embeddings->table * std::pow(54.0, -0.25)));
  // And the encoder's input is N(0, 1/d) * sqrt(d) * 54^-1/4 + positions: std 0.37 per
  // feature before the positions, instead of 1.
  torch::NoGradGuard no_grad;
  fixed->eval();
  torch::Tensor ids = testing::PaddedIds({40, 40, 40}, 50, 2);
  torch::Tensor rows =
      fixed->source_embeddings->table.index_select(0, ids.reshape({-1})) * std::sqrt(64.0);
  EXPECT_NEAR(Std(rows), std::pow(54.0, -0.25), 0.1 * std::pow(54.0, -0.25));
}

TEST(InitFormulaTest, DtFixupMuOnTheLayerInputOrOnTheTokenVectors) {
  auto options = testing::SmallOptions(InitConfig::DT_FIXUP, 2, 64);
  Seq2Seq model(options);
  InitialiseDefault(*model, 9);
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor ids = testing::PaddedIds({7, 5, 7}, 50, 3);
  torch::Tensor padding = ids.eq(0);
  EXPECT_TRUE(
      torch::equal(DtFixupMuVectors(*model->source_embeddings, ids, InitConfig::LAYER_INPUT),
                   model->EncoderInput(ids)));
  // TOKEN_VECTORS: the largest table row among the real tokens, computed here row by row.
  double largest = 0;
  for (int64_t b = 0; b < ids.size(0); ++b) {
    for (int64_t t = 0; t < ids.size(1); ++t) {
      if (padding[b][t].item<bool>()) continue;
      largest = std::max(
          largest,
          model->source_embeddings->table[ids[b][t].item<int64_t>()].norm().item<double>());
    }
  }
  const double rows = MaxPositionNorm(
      DtFixupMuVectors(*model->source_embeddings, ids, InitConfig::TOKEN_VECTORS), padding);
  EXPECT_NEAR(rows, largest, 1e-6);
  // Rows of N(0, 1/d) have norm ~1; the layer input sqrt(d) e + p has ~sqrt(1.5 d) = 9.8.
  EXPECT_LT(rows, 1.6);
  const double input = MaxPositionNorm(
      DtFixupMuVectors(*model->source_embeddings, ids, InitConfig::LAYER_INPUT), padding);
  EXPECT_GT(input, 0.8 * std::sqrt(1.5 * 64));
}

TEST(InitFormulaTest, TheShippedSpiderConfigGetsTheRelationAwareFactor) {
  auto config = LoadRunConfig(testing::SourceDir() + "/configs/spider_dt_fixup.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->model().relation_aware());
  ASSERT_EQ(config->init().method(), InitConfig::DT_FIXUP);
  // The shape of the shipped config (small width: the factor depends on N and mu only), with the
  // relations MakeModelOptions gives a relation-aware model of Spider data (25 ids).
  auto options = testing::SmallOptions(InitConfig::DT_FIXUP, config->model().encoder_layers(), 32);
  options.decoder_layers = config->model().decoder_layers();
  options.num_relations = 25;
  Seq2Seq plain(options), fixed(options);
  InitialiseDefault(*plain, 10);
  InitialiseDefault(*fixed, 10);
  const double mu = 19.6;  // ~sqrt(1.5 * 256), the shipped width's layer input
  ApplyDtFixup(*fixed, mu, mu);
  // DT-Fixup, Theorem 3.1 (and BorealisAI/DT-Fixup optimizers.py dt_fixup): relation-aware
  // layers get (N (4 mu^2 + 2 mu + 2))^-1/2, N = 24: 0.005139.
  const double relational = 1.0 / std::sqrt(24.0 * (4 * mu * mu + 2 * mu + 2));
  EXPECT_NEAR(relational, 0.005139, 1e-6);
  auto* pe = plain->encoder->layers[23]->as<EncoderLayerImpl>();
  auto* fe = fixed->encoder->layers[23]->as<EncoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->weight, pe->ffn->fc1->weight * relational));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->relation_v, pe->self_attention->relation_v * relational));
}

TEST(InitFormulaTest, MaxPositionNormIgnoresPadding) {
  torch::Tensor x = torch::zeros({2, 3, 4});
  x[0][1].fill_(1.0);   // norm 2
  x[1][2].fill_(10.0);  // norm 20, but padding
  torch::Tensor padding = torch::zeros({2, 3}, torch::kBool);
  padding[1][2] = true;
  EXPECT_DOUBLE_EQ(MaxPositionNorm(x, padding), 2.0);
}

// Admin profiling of an 18-layer model (Post-LN with omegas).
class AdminProfileTest : public ::testing::Test {
 protected:
  models::ModelOptions Options() { return testing::SmallOptions(InitConfig::ADMIN, 18, 64, 60); }
};

TEST_F(AdminProfileTest, OmegasRiseWithDepth) {
  Seq2Seq model(Options());
  InitialiseDefault(*model, 11);
  torch::Tensor src = testing::PaddedIds({12, 9, 12, 5}, 60, 1);
  torch::Tensor tgt = testing::PaddedIds({10, 10, 7, 4}, 60, 2);
  const AdminOmegas omegas = ProfileAdmin(*model, src, tgt, {}, nullptr);
  ASSERT_EQ(omegas.encoder.size(), 36u);
  ASSERT_EQ(omegas.decoder.size(), 54u);
  EXPECT_DOUBLE_EQ(omegas.encoder[0], 1.0);
  for (const auto* stack : {&omegas.encoder, &omegas.decoder}) {
    for (size_t k = 1; k < stack->size(); ++k) EXPECT_GT((*stack)[k], (*stack)[k - 1]) << k;
    EXPECT_GT(stack->back(), 2.5);
  }
  // The omegas now live in the model state.
  auto* last = model->encoder->layers[17]->as<EncoderLayerImpl>();
  EXPECT_NEAR(last->ffn_residual->omega[0].item<double>(), omegas.encoder.back(), 1e-5);
}

TEST_F(AdminProfileTest, SummingTwoHalvesGivesTheWholeBatchOmegas) {
  torch::Tensor src = testing::PaddedIds({12, 9, 12, 5, 7, 11}, 60, 3);
  torch::Tensor tgt = testing::PaddedIds({10, 10, 7, 4, 9, 3}, 60, 4);
  Seq2Seq whole(Options());
  InitialiseDefault(*whole, 11);
  const AdminOmegas expected = ProfileAdmin(*whole, src, tgt, {}, nullptr);

  // Two "ranks" in two threads, each with its half (trimmed to its own padding), meeting in a
  // sum at every sublayer: the same contract as an MPI all-reduce.
  std::vector<torch::Tensor> slots(2);
  Barrier sync(2);
  auto reducer = [&](int rank) {
    return [&, rank](torch::Tensor& stats) {
      slots[rank] = stats.clone();
      sync.arrive_and_wait();
      stats.copy_(slots[0] + slots[1]);
      sync.arrive_and_wait();
    };
  };
  AdminOmegas halves[2];
  // Built before the threads start: initialisation draws from the process-wide generator.
  std::vector<Seq2Seq> models;
  for (int rank = 0; rank < 2; ++rank) {
    models.push_back(Seq2Seq(Options()));
    InitialiseDefault(*models.back(), 11);
  }
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      torch::Tensor s = src.narrow(0, 3 * rank, 3);
      torch::Tensor t = tgt.narrow(0, 3 * rank, 3);
      // Drop all-padding columns so the halves really differ in shape from the whole.
      s = s.narrow(1, 0, s.ne(0).sum(1).max().item<int64_t>());
      t = t.narrow(1, 0, t.ne(0).sum(1).max().item<int64_t>());
      halves[rank] = ProfileAdmin(*models[rank], s, t, {}, reducer(rank));
    });
  }
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(halves[rank].encoder.size(), expected.encoder.size());
    for (size_t k = 0; k < expected.encoder.size(); ++k) {
      EXPECT_NEAR(halves[rank].encoder[k], expected.encoder[k], 1e-4 * expected.encoder[k]) << k;
    }
    for (size_t k = 0; k < expected.decoder.size(); ++k) {
      EXPECT_NEAR(halves[rank].decoder[k], expected.decoder[k], 1e-4 * expected.decoder[k]) << k;
    }
  }
}

// Su Jianlin's estimate of a tied output's initial loss, log(e^z + (V - 1) e^(s^2 / 2)), with
// positions (docs/algorithms.md, "Tied output embeddings"), written out here from the
// sinusoids: at position t a final LayerNorm divides sqrt(d) e + p_t by sqrt(1 + v_t), v_t the
// variance of p_t over its features, so z_t = sqrt(d / (1 + v_t)) and s^2 = 1.
double TiedLossFromTheFormula(int64_t d, int64_t vocab, int64_t positions) {
  double sum = 0;
  for (int64_t t = 0; t < positions; ++t) {
    double mean = 0, square = 0;
    for (int64_t i = 0; i < d; i += 2) {
      const double angle = t * std::exp(-std::log(10000.0) * i / d);
      mean += std::sin(angle) + std::cos(angle);
      square += 1.0;  // sin^2 + cos^2
    }
    mean /= d;
    const double v = square / d - mean * mean;
    const double z = std::sqrt(d / (1.0 + v));
    sum += std::log(std::exp(z) + (vocab - 1) * std::exp(0.5));
  }
  return sum / positions;
}

// d 256, V 8000: the own logit tends to sqrt(256 / 1.5) = 13.06 as v_t tends to 1/2, and the
// loss to log(e^13.06 + 7999 e^0.5) = 13.09, under the old threshold 1.5 log 8000 = 13.48 and
// far above log V + 1/2 = 9.49. Over the first 20 positions it is 14.04 (v_t is smaller there),
// over 1000 positions 13.34: long inputs fall under 1.5 log V.
TEST(InitialLossTest, TiedLossAtD256V8000IsCaughtWhereOneAndAHalfLogVMissedIt) {
  const double log_v = std::log(8000.0);
  const double limit = std::log(std::exp(std::sqrt(256.0 / 1.5)) + 7999.0 * std::exp(0.5));
  EXPECT_NEAR(limit, 13.09, 0.005);
  EXPECT_LT(limit, 1.5 * log_v);  // the old rule missed it
  for (int64_t positions : {20, 1000}) {
    EXPECT_NEAR(PredictedTiedInitialLoss(256, 8000, positions),
                TiedLossFromTheFormula(256, 8000, positions), 1e-6)
        << positions;
  }
  EXPECT_NEAR(PredictedTiedInitialLoss(256, 8000, 20), 14.04, 0.01);
  EXPECT_NEAR(PredictedTiedInitialLoss(256, 8000, 1000), 13.34, 0.01);
  for (double loss : {limit, PredictedTiedInitialLoss(256, 8000, 1000)}) {
    const InitialLoss tied{loss, log_v, 1.0};
    EXPECT_NEAR(tied.expected(), log_v + 0.5, 1e-12);
    EXPECT_TRUE(tied.far_above()) << loss;
  }
}

// The same case measured on a model: d 256, V 8000, tied, Post-LN, with the decoder's branches
// zeroed so that the stack is the identity the estimate assumes (h = LN(sqrt(d) e_i + p)), on
// 1000-piece sequences.
TEST(InitialLossTest, MeasuredInitialLossAgainstTheBlindOutputsExpectation) {
  auto options = testing::SmallOptions(InitConfig::POST_LN, 1, 256, 8000);
  options.sharing = proto::ModelConfig::TIE_ALL;
  options.max_positions = 1024;
  Seq2Seq tied(options);
  InitialiseDefault(*tied, 12);
  {
    torch::NoGradGuard no_grad;
    for (const auto& m : *tied->decoder->layers) {
      auto* layer = m->as<DecoderLayerImpl>();
      layer->self_attention->out_proj->weight.zero_();
      layer->cross_attention->out_proj->weight.zero_();
      layer->ffn->fc2->weight.zero_();
    }
  }
  torch::Tensor src = testing::PaddedIds({10, 10}, 8000, 13);
  torch::Tensor tgt = testing::PaddedIds({1001, 1001}, 8000, 14);
  torch::Tensor tgt_in = tgt.narrow(1, 0, 1000), tgt_out = tgt.narrow(1, 1, 1000);
  const InitialLoss measured = EstimateInitialLoss(*tied, src, tgt_in, tgt_out);
  const double log_v = std::log(8000.0);
  EXPECT_NEAR(measured.loss, PredictedTiedInitialLoss(256, 8000, 1000), 0.15) << measured.loss;
  EXPECT_LT(measured.loss, 1.5 * log_v);  // the old rule would not have warned
  EXPECT_NEAR(measured.logit_variance, 1.0, 0.1);
  EXPECT_TRUE(measured.far_above()) << measured.loss << " vs " << measured.expected();

  // Untied, the same model starts at the blind output's log V + s^2 / 2 and is not flagged.
  options.sharing = proto::ModelConfig::UNTIED;
  Seq2Seq untied(options);
  InitialiseDefault(*untied, 12);
  const InitialLoss healthy = EstimateInitialLoss(*untied, src, tgt_in, tgt_out);
  EXPECT_NEAR(healthy.loss, healthy.expected(), 0.15) << healthy.loss;
  EXPECT_NEAR(healthy.expected(), log_v + 0.5, 0.1);
  EXPECT_FALSE(healthy.far_above());
}

}  // namespace
}  // namespace fathom::models
