// model.token_layout: the padded layout (every position through every sublayer, padding keys
// masked, no host read) against the packed one (TokenPacking) on the CPU, in float32 with
// dropout 0: the outputs at real positions and every parameter's gradient agree for every
// initialisation scheme, relation-aware or not, with rows padded on the right or the left, a row
// with a single real token, and with activation checkpointing. The layouts differ only in how
// many rows each matrix multiply sees, so they agree up to float32 summation order.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "models/model_options.h"
#include "models/seq2seq.h"
#include "models/token_packing.h"
#include "tests/model_test_util.h"

namespace fathom::models {
namespace {

using proto::InitConfig;
using proto::ModelConfig;

constexpr int64_t kVocab = 50;
constexpr int64_t kRelations = 5;
// Largest |padded - packed| allowed, relative to the largest magnitude of the compared tensor
// (floored at 1): 11x the largest measured, 8.8e-7 (LibTorch 1.13; 3.0e-7 with 2.11), over
// outputs and gradients. Different row counts only change the blocking of float32 sums.
constexpr double kTolerance = 1e-5;

ModelOptions Options(InitConfig::Method init, ModelConfig::TokenLayout layout, bool relations,
                     bool checkpointing) {
  ModelOptions o = testing::SmallOptions(init, /*layers=*/3);
  o.num_relations = relations ? kRelations : 0;
  o.activation_checkpointing = checkpointing;
  o.token_layout = layout;
  return o;
}

// Ids of rows with `lengths` real tokens, padded on the right or (left) on the left.
torch::Tensor Ids(const std::vector<int64_t>& lengths, bool left, uint64_t seed) {
  torch::Tensor ids = testing::PaddedIds(lengths, kVocab, seed);
  return left ? ids.flip({1}).contiguous() : ids;
}

// The scheme's initialisation from one seed, Admin's profiling on a padded batch included.
Seq2Seq Build(const ModelOptions& o) {
  Seq2Seq model(o);
  InitialiseDefault(*model, 7);
  model->train();
  testing::InitialiseScheme(*model, o.init, [&] {
    const torch::Tensor src = Ids({6, 4, 2}, false, 12);
    const torch::Tensor tgt = Ids({5, 2, 4}, false, 13);
    torch::manual_seed(14);
    const torch::Tensor relations = o.num_relations > 0
                                        ? torch::randint(0, kRelations, {3, 6, 6}, torch::kLong)
                                        : torch::Tensor();
    return testing::AdminBatch{src, tgt, relations};
  });
  return model;
}

double Scale(const torch::Tensor& t) { return std::max(1.0, t.abs().max().item<double>()); }

void ExpectClose(const torch::Tensor& padded, const torch::Tensor& packed,
                 const std::string& what) {
  ASSERT_EQ(padded.sizes(), packed.sizes()) << what;
  const double difference = (padded - packed).abs().max().item<double>();
  EXPECT_LE(difference, kTolerance * Scale(packed))
      << what << ": max difference " << difference << " relative " << difference / Scale(packed);
}

struct Pass {
  torch::Tensor hidden;              // decoder output [B, T, d]
  std::vector<torch::Tensor> grads;  // per parameter, in registration order
  std::vector<std::string> names;
};

// Forward and backward of a weighted sum of the logits at real target positions.
// right_aligned: Decode's promise that the target rows are padded on the right only.
Pass ForwardBackward(Seq2Seq& model, const torch::Tensor& src, const torch::Tensor& tgt,
                     const torch::Tensor& relations, bool right_aligned = false) {
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  const torch::Tensor memory = model->Encode(src, relations);
  const torch::Tensor hidden = model->Decode(tgt, memory, src, nullptr, right_aligned);
  const torch::Tensor logits = model->Logits(hidden);
  torch::manual_seed(99);
  const torch::Tensor weights = torch::randn(logits.sizes());
  const torch::Tensor real = tgt.ne(0).unsqueeze(-1);
  (logits * weights).masked_fill(real.logical_not(), 0).sum().backward();
  Pass run;
  run.hidden = hidden.detach();
  for (const auto& p : model->named_parameters()) {
    run.names.push_back(p.key());
    run.grads.push_back(p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor());
  }
  return run;
}

// (scheme, relation-aware, left-padded, activation checkpointing)
using Case = std::tuple<InitConfig::Method, bool, bool, bool>;

class TokenLayoutTest : public ::testing::TestWithParam<Case> {};

TEST_P(TokenLayoutTest, PaddedEqualsPackedAtRealPositionsAndInEveryGradient) {
  const auto [init, relational, left, checkpointing] = GetParam();
  Seq2Seq packed = Build(Options(init, ModelConfig::PACKED, relational, checkpointing));
  Seq2Seq padded = Build(Options(init, ModelConfig::PADDED, relational, checkpointing));
  // Admin's profiling pass packs in either layout, so both models start bitwise the same.
  const auto packed_parameters = packed->named_parameters();
  for (const auto& p : padded->named_parameters()) {
    ASSERT_TRUE(torch::equal(p.value(), packed_parameters[p.key()])) << p.key();
  }
  // Row 2 has a single real token on both sides.
  const torch::Tensor src = Ids({7, 4, 1, 6}, left, 31);
  const torch::Tensor tgt = Ids({6, 3, 1, 5}, left, 32);
  torch::manual_seed(33);
  const torch::Tensor relations =
      relational ? torch::randint(0, kRelations, {4, 7, 7}, torch::kLong) : torch::Tensor();

  const Pass a = ForwardBackward(packed, src, tgt, relations);
  std::vector<std::pair<std::string, Pass>> runs;
  runs.emplace_back("padded", ForwardBackward(padded, src, tgt, relations));
  // Right-padded targets: also without the causal padding mask, as the trainer may promise.
  if (!left)
    runs.emplace_back("padded, right-aligned", ForwardBackward(padded, src, tgt, relations, true));
  const torch::Tensor real = tgt.ne(0).unsqueeze(-1);
  for (const auto& [name, b] : runs) {
    EXPECT_TRUE(torch::isfinite(b.hidden).all().item<bool>()) << name << ": NaN in the outputs";
    ExpectClose(b.hidden.masked_fill(real.logical_not(), 0), a.hidden, name + ": decoder output");
    ASSERT_EQ(a.grads.size(), b.grads.size());
    int64_t compared = 0;
    for (size_t i = 0; i < a.grads.size(); ++i) {
      ASSERT_EQ(a.grads[i].defined(), b.grads[i].defined()) << name << ": " << a.names[i];
      if (!a.grads[i].defined()) continue;
      ASSERT_TRUE(torch::isfinite(b.grads[i]).all().item<bool>()) << name << ": " << a.names[i];
      ExpectClose(b.grads[i], a.grads[i], name + ": " + a.names[i]);
      ++compared;
    }
    EXPECT_GT(compared, 40) << name;
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const auto [init, relational, left, checkpointing] = info.param;
  return InitConfig::Method_Name(init) + (relational ? "_Relations" : "_Plain") +
         (left ? "_Left" : "_Right") + (checkpointing ? "_Checkpointed" : "");
}

INSTANTIATE_TEST_SUITE_P(
    AllSchemes, TokenLayoutTest,
    ::testing::Combine(::testing::Values(InitConfig::POST_LN, InitConfig::PRE_LN, InitConfig::ADMIN,
                                         InitConfig::T_FIXUP, InitConfig::DT_FIXUP),
                       ::testing::Bool(), ::testing::Bool(), ::testing::Bool()),
    CaseName);

TEST(TokenLayoutChoiceTest, AutoPacksOnTheCpuAndProfilingAlwaysPacks) {
  const torch::Tensor padding = torch::tensor({0, 0, 1, 0, 1, 1}, torch::kBool).view({2, 3});
  EXPECT_FALSE(LayoutFor(ModelConfig::TOKEN_LAYOUT_AUTO, padding, false).padded());
  EXPECT_FALSE(LayoutFor(ModelConfig::PACKED, padding, false).padded());
  EXPECT_TRUE(LayoutFor(ModelConfig::PADDED, padding, false).padded());
  EXPECT_FALSE(LayoutFor(ModelConfig::PADDED, padding, /*profiling=*/true).padded());
  EXPECT_EQ(LayoutFor(ModelConfig::TOKEN_LAYOUT_AUTO, padding, false).real(), 3);
  // Padded: a reshape each way, nothing dropped, alignment unknown.
  const TokenPacking layout = TokenPacking::Padded(padding);
  EXPECT_FALSE(layout.right_aligned());
  const torch::Tensor x = torch::arange(24, torch::kFloat).view({2, 3, 4});
  EXPECT_EQ(layout.Pack(x).sizes(), (std::vector<int64_t>{6, 4}));
  EXPECT_TRUE(torch::equal(layout.Unpack(layout.Pack(x)), x));
}

TEST(TokenLayoutChoiceTest, AutoPadsOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Tensor padding =
      torch::zeros({2, 3}, torch::TensorOptions(torch::kBool).device(torch::kCUDA));
  EXPECT_TRUE(LayoutFor(ModelConfig::TOKEN_LAYOUT_AUTO, padding, false).padded());
  EXPECT_FALSE(LayoutFor(ModelConfig::TOKEN_LAYOUT_AUTO, padding, true).padded());
}

// A source row that is all padding: in the padded layout each query still sees its own
// position, so the encoder's output stays finite everywhere, gradients included.
TEST(TokenLayoutEdgeTest, AllPaddingSourceRowStaysFiniteInThePaddedEncoder) {
  for (bool relational : {false, true}) {
    Seq2Seq model = Build(Options(InitConfig::PRE_LN, ModelConfig::PADDED, relational, false));
    torch::Tensor src = Ids({5, 3}, false, 41);
    src[1].fill_(0);
    const torch::Tensor relations =
        relational ? torch::randint(0, kRelations, {2, 5, 5}, torch::kLong) : torch::Tensor();
    const torch::Tensor memory = model->Encode(src, relations);
    EXPECT_TRUE(torch::isfinite(memory).all().item<bool>()) << relational;
    memory.sum().backward();
    for (const auto& p : model->named_parameters()) {
      if (!p.value().grad().defined()) continue;
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
  }
}

// Incremental decoding (what beam search runs) over a padded-layout encoding equals the padded
// and the packed teacher-forced decoders at every position.
TEST(TokenLayoutDecodingTest, IncrementalDecodingMatchesBothLayouts) {
  for (InitConfig::Method init : {InitConfig::ADMIN, InitConfig::PRE_LN}) {
    Seq2Seq padded = Build(Options(init, ModelConfig::PADDED, false, false));
    Seq2Seq packed = Build(Options(init, ModelConfig::PACKED, false, false));
    padded->eval();
    packed->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor src = Ids({6, 2, 4}, false, 51);
    const torch::Tensor tgt = Ids({5, 5, 5}, false, 52);
    const torch::Tensor memory = padded->Encode(src);
    const torch::Tensor teacher_padded = padded->Decode(tgt, memory, src);
    const torch::Tensor teacher_packed = packed->Decode(tgt, packed->Encode(src), src);
    DecoderCache cache = padded->StartDecoding(memory, src);
    for (int64_t t = 0; t < tgt.size(1); ++t) {
      const torch::Tensor step = padded->DecodeStep(tgt.select(1, t), cache);
      const std::string at = InitConfig::Method_Name(init) + " position " + std::to_string(t);
      ExpectClose(step, teacher_padded.select(1, t), "padded, " + at);
      ExpectClose(step, teacher_packed.select(1, t), "packed, " + at);
    }
  }
}

}  // namespace
}  // namespace fathom::models
