#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "models/seq2seq.h"
#include "tests/model_test_util.h"

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
  const double dec = 1.0 / (std::sqrt(6.0) * 2 * 2.0);
  auto* pe = plain->encoder->layers[1]->as<EncoderLayerImpl>();
  auto* fe = fixed->encoder->layers[1]->as<EncoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->weight, pe->ffn->fc1->weight * enc));
  EXPECT_TRUE(torch::allclose(fe->self_attention->out_proj->weight,
                              pe->self_attention->out_proj->weight * enc));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->relation_v, pe->self_attention->relation_v * enc));
  EXPECT_TRUE(torch::allclose(fe->self_attention->relation_k, pe->self_attention->relation_k));
  EXPECT_TRUE(
      torch::allclose(fe->self_attention->q_proj->weight, pe->self_attention->q_proj->weight));
  EXPECT_TRUE(torch::allclose(fe->ffn->fc1->bias, pe->ffn->fc1->bias));
  const auto& v = fe->self_attention->v_proj->weight;
  EXPECT_NEAR(Std(v) / (XavierStd(v) * enc), 1.0, 0.05);
  auto* pd = plain->decoder->layers[0]->as<DecoderLayerImpl>();
  auto* fd = fixed->decoder->layers[0]->as<DecoderLayerImpl>();
  EXPECT_TRUE(torch::allclose(fd->ffn->fc2->weight, pd->ffn->fc2->weight * dec));
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

}  // namespace
}  // namespace fathom::models
