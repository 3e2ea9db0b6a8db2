// Activation checkpointing (model.activation_checkpointing, models/checkpointing.h): training
// with it gives bitwise the losses and gradients of training without it, for every
// normalisation scheme, with dropout, token packing and relation-aware encoder layers, in
// float32 and under bf16 autocast; and it does take the layers' insides out of the graph.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "models/model_options.h"
#include "models/seq2seq.h"
#include "tests/model_test_util.h"

namespace fathom::models {
namespace {

using proto::InitConfig;

constexpr int64_t kVocab = 50;
constexpr int64_t kRelations = 5;

ModelOptions Options(InitConfig::Method init, bool checkpointing) {
  ModelOptions o = testing::SmallOptions(init, /*layers=*/3);
  o.dropout = 0.1;
  o.attention_dropout = 0.1;
  o.activation_dropout = 0.1;
  o.num_relations = kRelations;
  o.activation_checkpointing = checkpointing;
  return o;
}

// The scheme's initialisation, data-dependent passes included (Admin profiles a batch, with
// dropout on: the flag must leave the profiling pass alone).
Seq2Seq Build(InitConfig::Method init, bool checkpointing) {
  Seq2Seq model(Options(init, checkpointing));
  InitialiseDefault(*model, 7);
  model->train();
  testing::InitialiseScheme(*model, init, [] {
    torch::manual_seed(11);
    const torch::Tensor src = testing::PaddedIds({6, 4}, kVocab, 12);
    const torch::Tensor tgt = testing::PaddedIds({5, 5}, kVocab, 13);
    torch::manual_seed(14);
    return testing::AdminBatch{src, tgt, torch::randint(0, kRelations, {2, 6, 6}, torch::kLong)};
  });
  return model;
}

// Autocast on the CPU in bf16 for the scope's life (LibTorch 2.4 renamed the functions).
class CpuAutocast {
 public:
  explicit CpuAutocast(bool on) : on_(on) {
    if (on_) Set(true);
  }
  ~CpuAutocast() {
    if (!on_) return;
    Set(false);
    at::autocast::clear_cache();
  }

 private:
  static void Set(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(torch::kCPU, torch::kBFloat16);
    at::autocast::set_autocast_enabled(torch::kCPU, on);
#else
    at::autocast::set_autocast_cpu_dtype(torch::kBFloat16);
    at::autocast::set_cpu_enabled(on);
#endif
  }
  bool on_;
};

struct Trace {
  std::vector<float> losses;
  std::vector<std::vector<torch::Tensor>> gradients;  // per step, per parameter
};

// Three SGD steps of two micro-batches each (gradients accumulate in .grad, as with
// optim.update_freq 2) from one generator seed, on padded batches with relation ids. Under
// `autocast` the forward runs under CPU bf16 autocast and the backward too (the cast cache is
// live during backward).
Trace Train(InitConfig::Method init, bool checkpointing, bool autocast) {
  Seq2Seq model = Build(init, checkpointing);
  model->train();
  torch::manual_seed(21);
  Trace trace;
  for (int step = 0; step < 3; ++step) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    float loss_sum = 0;
    for (int micro = 0; micro < 2; ++micro) {
      const uint64_t seed = 100 + 10 * step + micro;
      // Different lengths per row: both stacks pack the real positions (TokenPacking).
      const torch::Tensor src = testing::PaddedIds({7, 4, 6}, kVocab, seed);
      const torch::Tensor tgt = testing::PaddedIds({6, 3, 5}, kVocab, seed + 5);
      torch::manual_seed(seed + 7);
      const torch::Tensor relations =
          torch::randint(0, kRelations, {src.size(0), src.size(1), src.size(1)}, torch::kLong);
      // The generators continue from the last step: checkpointing must leave their sequence
      // as it found it.
      torch::manual_seed(1000 + step * 2 + micro);
      CpuAutocast autocast_scope(autocast);
      const torch::Tensor input = tgt.narrow(1, 0, tgt.size(1) - 1);
      const torch::Tensor output = tgt.narrow(1, 1, tgt.size(1) - 1);
      const torch::Tensor logits = model->forward(src, input, relations);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          logits.to(torch::kFloat).reshape({-1, kVocab}), output.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0).reduction(torch::kSum));
      loss.backward();
      loss_sum += loss.item<float>();
    }
    trace.losses.push_back(loss_sum);
    std::vector<torch::Tensor> gradients;
    for (const auto& p : model->parameters()) {
      gradients.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    }
    trace.gradients.push_back(gradients);
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.grad().defined()) p.sub_(1e-3 * p.grad());
    }
  }
  return trace;
}

void ExpectIdentical(const Trace& plain, const Trace& checkpointed) {
  ASSERT_EQ(plain.losses.size(), checkpointed.losses.size());
  for (size_t s = 0; s < plain.losses.size(); ++s) {
    EXPECT_EQ(plain.losses[s], checkpointed.losses[s]) << "step " << s;
    ASSERT_EQ(plain.gradients[s].size(), checkpointed.gradients[s].size());
    int64_t compared = 0;
    for (size_t i = 0; i < plain.gradients[s].size(); ++i) {
      const torch::Tensor& a = plain.gradients[s][i];
      const torch::Tensor& b = checkpointed.gradients[s][i];
      ASSERT_EQ(a.defined(), b.defined()) << "step " << s << " parameter " << i;
      if (!a.defined()) continue;
      ++compared;
      EXPECT_TRUE(torch::equal(a, b)) << "step " << s << " parameter " << i << ": max difference "
                                      << (a - b).abs().max().item<double>();
    }
    EXPECT_GT(compared, 50) << "step " << s;
  }
}

class CheckpointingTest : public ::testing::TestWithParam<InitConfig::Method> {};

TEST_P(CheckpointingTest, LossesAndGradientsAreBitwiseThoseWithoutIt) {
  ExpectIdentical(Train(GetParam(), false, false), Train(GetParam(), true, false));
}

TEST_P(CheckpointingTest, UnderBf16AutocastToo) {
  const Trace plain = Train(GetParam(), false, true);
  for (float loss : plain.losses) EXPECT_TRUE(std::isfinite(loss));
  ExpectIdentical(plain, Train(GetParam(), true, true));
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, CheckpointingTest,
                         ::testing::Values(InitConfig::POST_LN, InitConfig::PRE_LN,
                                           InitConfig::ADMIN, InitConfig::T_FIXUP,
                                           InitConfig::DT_FIXUP));

// The autograd nodes reachable from `root`: how many there are, and how many are checkpointed
// layers.
std::pair<int64_t, int64_t> CountNodes(const torch::Tensor& root) {
  std::unordered_set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack{root.grad_fn().get()};
  int64_t checkpointed = 0;
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find("CheckpointFunction") != std::string::npos) ++checkpointed;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return {static_cast<int64_t>(seen.size()), checkpointed};
}

// What the flag keeps: one node per layer in place of each layer's ops (the activation memory
// those ops would hold), and nothing changes in eval mode or without grad.
TEST(CheckpointingGraphTest, EachLayerIsOneNodeOnlyWhenTraining) {
  const torch::Tensor src = testing::PaddedIds({7, 4, 6}, kVocab, 1);
  const torch::Tensor tgt = testing::PaddedIds({6, 3, 5}, kVocab, 2);
  const torch::Tensor relations = torch::randint(0, kRelations, {3, 7, 7}, torch::kLong);
  Seq2Seq plain = Build(InitConfig::ADMIN, false);
  Seq2Seq checkpointed = Build(InitConfig::ADMIN, true);
  const auto [plain_nodes, plain_checkpointed] = CountNodes(plain->forward(src, tgt, relations));
  const auto [nodes, layers] = CountNodes(checkpointed->forward(src, tgt, relations));
  EXPECT_EQ(plain_checkpointed, 0);
  EXPECT_EQ(layers, 3 + 3);
  EXPECT_LT(nodes * 3, plain_nodes) << nodes << " nodes against " << plain_nodes;
  std::printf("autograd nodes: %lld without checkpointing, %lld with\n",
              static_cast<long long>(plain_nodes), static_cast<long long>(nodes));

  checkpointed->eval();
  EXPECT_EQ(CountNodes(checkpointed->forward(src, tgt, relations)).second, 0);
  checkpointed->train();
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(checkpointed->forward(src, tgt, relations).requires_grad());
}

}  // namespace
}  // namespace fathom::models
