// Module state through a checkpoint: ModuleTensors out, WriteCheckpoint/ReadCheckpoint, and
// LoadIntoModule back, with the errors that name what does not fit.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "checkpoint/checkpoint_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/checkpoint_test_util.h"
#include "tests/test_util.h"

namespace fathom::checkpoint {
namespace {

using ::fathom::testing::BitEqual;
using ::fathom::testing::TempDir;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Parameters and buffers of every kind: float weights, BatchNorm's running statistics and its
// int64 counter.
torch::nn::Sequential MakeNet(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3),
                               torch::nn::Linear(3, 2));
}

std::vector<std::string> Names(const NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors) names.push_back(name);
  return names;
}

// Deep copies, to tell later whether a failed load touched the module.
NamedTensors Snapshot(const torch::nn::Module& module) {
  NamedTensors copy;
  for (const auto& [name, tensor] : ModuleTensors(module, ""))
    copy.emplace_back(name, tensor.clone());
  return copy;
}

void ExpectSameState(const torch::nn::Module& module, const NamedTensors& expected) {
  const NamedTensors actual = ModuleTensors(module, "");
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_TRUE(BitEqual(actual[i].second, expected[i].second)) << actual[i].first;
  }
}

// A net whose BatchNorm statistics have moved away from their initial values.
torch::nn::Sequential TrainedNet() {
  torch::nn::Sequential net = MakeNet(1);
  net->train();
  net->forward(torch::randn({8, 4}));
  return net;
}

NamedTensors Replace(NamedTensors tensors, const std::string& name, torch::Tensor value) {
  for (auto& [n, t] : tensors) {
    if (n == name) t = value;
  }
  return tensors;
}

TEST(CheckpointModule, RoundTripThroughFiles) {
  TempDir temp;
  torch::nn::Sequential saved = TrainedNet();
  NamedTensors tensors = ModuleTensors(*saved, "model.");
  const std::vector<std::string> names = Names(tensors);
  EXPECT_THAT(names, Contains("model.0.weight"));
  EXPECT_THAT(names, Contains("model.1.running_mean"));
  EXPECT_THAT(names, Contains("model.1.num_batches_tracked"));
  EXPECT_EQ(tensors.front().second.data_ptr(), saved->parameters().front().data_ptr());
  tensors.emplace_back("optim.step", torch::scalar_tensor(5, torch::kInt64));

  ASSERT_TRUE(WriteCheckpoint(temp.path(), 7, tensors, {}).ok());
  const absl::StatusOr<LoadedCheckpoint> loaded =
      ReadCheckpoint(temp.path() + "/checkpoints/00000007");
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  torch::nn::Sequential restored = MakeNet(2);
  // "optim.step" is someone else's: it is neither loaded nor an error.
  const absl::Status status = LoadIntoModule(*restored, loaded->tensors, "model.");
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameState(*restored, Snapshot(*saved));
  saved->eval();
  restored->eval();
  const torch::Tensor x = torch::randn({5, 4});
  EXPECT_TRUE(BitEqual(saved->forward(x), restored->forward(x)));
}

TEST(CheckpointModule, Bfloat16ModuleRoundTrips) {
  TempDir temp;
  torch::nn::Sequential saved = TrainedNet();
  saved->to(torch::kBFloat16);
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 1, ModuleTensors(*saved, ""), {}).ok());
  const absl::StatusOr<LoadedCheckpoint> loaded =
      ReadCheckpoint(temp.path() + "/checkpoints/00000001");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  torch::nn::Sequential restored = MakeNet(2);
  restored->to(torch::kBFloat16);
  ASSERT_TRUE(LoadIntoModule(*restored, loaded->tensors, "").ok());
  ExpectSameState(*restored, Snapshot(*saved));
}

TEST(CheckpointModule, MissingNameIsListedAndNothingIsCopied) {
  NamedTensors tensors = ModuleTensors(*TrainedNet(), "model.");
  tensors.erase(tensors.begin() + 1);  // model.0.bias
  torch::nn::Sequential net = MakeNet(2);
  const NamedTensors before = Snapshot(*net);
  const absl::Status status = LoadIntoModule(*net, tensors, "model.");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("missing from the checkpoint: model.0.bias"));
  EXPECT_THAT(status.message(), Not(HasSubstr("not in the module")));
  ExpectSameState(*net, before);
}

TEST(CheckpointModule, UnexpectedNameIsListed) {
  NamedTensors tensors = ModuleTensors(*TrainedNet(), "model.");
  tensors.emplace_back("model.3.weight", torch::zeros({2, 2}));
  torch::nn::Sequential net = MakeNet(2);
  const NamedTensors before = Snapshot(*net);
  const absl::Status status = LoadIntoModule(*net, tensors, "model.");
  EXPECT_THAT(status.message(), HasSubstr("not in the module: model.3.weight"));
  ExpectSameState(*net, before);
}

TEST(CheckpointModule, ShapeAndDtypeMismatchesAreListed) {
  NamedTensors tensors = ModuleTensors(*TrainedNet(), "model.");
  tensors = Replace(tensors, "model.0.weight", torch::zeros({3, 5}));
  torch::nn::Sequential net = MakeNet(2);
  const NamedTensors before = Snapshot(*net);
  absl::Status status = LoadIntoModule(*net, tensors, "model.");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(),
              HasSubstr("model.0.weight (checkpoint Float[3, 5], module Float[3, 4])"));
  ExpectSameState(*net, before);

  tensors = Replace(ModuleTensors(*TrainedNet(), "model."), "model.2.bias",
                    torch::zeros({2}, torch::kFloat64));
  status = LoadIntoModule(*net, tensors, "model.");
  EXPECT_THAT(status.message(), HasSubstr("model.2.bias (checkpoint Double[2], module Float[2])"));
  ExpectSameState(*net, before);
}

}  // namespace
}  // namespace fathom::checkpoint
