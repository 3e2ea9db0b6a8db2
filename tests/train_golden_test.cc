// Golden losses: the first 50 training losses of a tiny model for every initialisation scheme
// (every value of proto InitConfig.Method), trained as `fathom train` trains it (Trainer::Create
// and Run: the scheme's initialisation passes, the learning-rate schedule, Adam, label
// smoothing, dropout) on one rank, on the CPU, with one thread, compared with
// tests/golden/losses_<method>.txt. The other tests compare training paths with each other; this
// one notices when the numbers themselves move (an init scale, the schedule, the loss, the
// optimiser). After a deliberate change, regenerate the files (in build/, the Debian LibTorch
// that CI always has) and commit them with it:
//
//   FATHOM_REGENERATE_GOLDEN=1 ctest --test-dir build -R '^train_golden_test$'
//
// FATHOM_GOLDEN_DIR=DIR reads (and regenerates into) DIR instead of tests/golden/, to compare two
// builds. tests/golden/README.md has the details and the measured tolerance.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/single_process_communicator.h"
#include "gtest/gtest.h"
#include "proto/config.pb.h"
#include "proto/config_io.h"
#include "tests/test_util.h"
#include "tests/tiny_training.h"
#include "trainer/trainer.h"

namespace fathom::trainer {
namespace {

constexpr int kSteps = 50;

// Largest |loss - golden| allowed at any step: about 6 times the largest difference between the
// two builds (3.1e-6: LibTorch 1.13 with OpenBLAS against the torch 2.11 wheel, all schemes, 50
// steps), and 8 times below the smallest real change tried, a one-step shift of T-Fixup's nearly
// flat schedule (1.6e-4; the other schemes move by 4e-2 or more). tests/golden/README.md has the
// figures.
constexpr double kTolerance = 2e-5;

const testing::TempDir& DataDir() { return testing::TinyRunData(); }

std::string MethodName(proto::InitConfig::Method method) {
  return proto::InitConfig::Method_Name(method);
}

std::string GoldenPath(proto::InitConfig::Method method) {
  const char* dir = std::getenv("FATHOM_GOLDEN_DIR");
  return absl::StrCat(dir != nullptr ? dir : testing::SourceDir() + "/tests/golden", "/losses_",
                      absl::AsciiStrToLower(MethodName(method)), ".txt");
}

bool Regenerating() {
  const char* value = std::getenv("FATHOM_REGENERATE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

// Losses by step (1-based) from a golden file: "STEP LOSS" lines, '#' comments.
std::vector<double> ReadGolden(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = absl::StrCat("cannot read ", path);
    return {};
  }
  std::vector<double> losses;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    int64_t step = 0;
    double loss = 0;
    if (!(fields >> step >> loss) || step != static_cast<int64_t>(losses.size()) + 1) {
      *error = absl::StrCat(path, ":", number, ": expected \"", losses.size() + 1, " LOSS\"");
      return {};
    }
    losses.push_back(loss);
  }
  return losses;
}

void WriteGolden(const std::string& path, proto::InitConfig::Method method,
                 const std::vector<double>& losses) {
  std::string text = absl::StrCat(
      "# init.method ", MethodName(method), ": the first ", losses.size(),
      " training losses of tests/train_golden_test.cc\n",
      "# (per target token, label-smoothed), by step. Written by FATHOM_REGENERATE_GOLDEN=1\n",
      "# (tests/golden/README.md); do not edit.\n");
  for (size_t i = 0; i < losses.size(); ++i) {
    absl::StrAppendFormat(&text, "%d %.9f\n", i + 1, losses[i]);
  }
  testing::WriteTextFile(path, text);
}

std::vector<double> TrainLosses(proto::InitConfig::Method method, const std::string& run_dir) {
  proto::RunConfig config = fathom::testing::TinyRunConfig(kSteps);
  config.set_run_dir(run_dir);
  config.mutable_data()->set_prepared_dir(DataDir().File("prepared"));
  config.mutable_init()->set_method(method);
  ResolveDefaults(&config);
  torch::set_num_threads(1);
  comm::SingleProcessCommunicator alone;
  auto trainer = Trainer::Create(config, &alone, /*resume=*/false);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  auto summary = (*trainer)->Run();
  EXPECT_TRUE(summary.ok()) << summary.status();
  return summary.ok() ? summary->losses : std::vector<double>();
}

class GoldenLossesTest : public ::testing::TestWithParam<proto::InitConfig::Method> {};

TEST_P(GoldenLossesTest, First50LossesMatchTheGoldenFile) {
  const proto::InitConfig::Method method = GetParam();
  testing::TempDir run;
  const std::vector<double> losses = TrainLosses(method, run.File("run"));
  ASSERT_EQ(losses.size(), static_cast<size_t>(kSteps));
  const std::string path = GoldenPath(method);
  if (Regenerating()) {
    WriteGolden(path, method, losses);
    std::printf("%s: wrote %s\n", MethodName(method).c_str(), path.c_str());
    return;
  }
  std::string error;
  const std::vector<double> golden = ReadGolden(path, &error);
  ASSERT_EQ(error, "") << "regenerate with FATHOM_REGENERATE_GOLDEN=1 (tests/golden/README.md)";
  ASSERT_EQ(golden.size(), losses.size()) << path;
  double max_difference = 0;
  int worst_step = 0;
  std::string differing;
  for (int i = 0; i < kSteps; ++i) {
    const double difference = std::abs(losses[i] - golden[i]);
    if (!(difference <= max_difference)) {  // NaN counts as the worst
      max_difference = difference;
      worst_step = i + 1;
    }
    if (!(difference <= kTolerance)) {
      absl::StrAppendFormat(&differing, "\n  step %2d: golden %.9f, got %.9f (%+.3g)", i + 1,
                            golden[i], losses[i], losses[i] - golden[i]);
    }
  }
  // Printed on success too: the margin left is what the tolerance was measured from.
  std::printf("%s: max |loss - golden| = %.3g at step %d (tolerance %.3g)\n",
              MethodName(method).c_str(), max_difference, worst_step, kTolerance);
  EXPECT_TRUE(differing.empty()) << "losses of " << MethodName(method) << " differ from " << path
                                 << " by more than " << kTolerance << ":" << differing
                                 << "\nIf the change is deliberate, regenerate: "
                                    "FATHOM_REGENERATE_GOLDEN=1 ctest --test-dir build -R "
                                    "'^train_golden_test$' (tests/golden/README.md)";
}

// Every scheme the config accepts, so a new one cannot go without its golden file.
std::vector<proto::InitConfig::Method> AllMethods() {
  std::vector<proto::InitConfig::Method> methods;
  const auto* descriptor = proto::InitConfig::Method_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    methods.push_back(static_cast<proto::InitConfig::Method>(descriptor->value(i)->number()));
  }
  return methods;
}

INSTANTIATE_TEST_SUITE_P(EveryScheme, GoldenLossesTest, ::testing::ValuesIn(AllMethods()),
                         [](const ::testing::TestParamInfo<proto::InitConfig::Method>& info) {
                           return MethodName(info.param);
                         });

}  // namespace
}  // namespace fathom::trainer
