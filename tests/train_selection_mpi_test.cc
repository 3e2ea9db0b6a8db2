// Model selection during 2-rank training: validation BLEU from n-gram statistics summed over the
// ranks (every rank computes the same number), the best K checkpoints kept by that metric beside
// the newest ones, and early stopping by patience, with the selection state surviving a resume.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint_io.h"
#include "comm/communicator_factory.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"
#include "tests/mpi_test_main.h"
#include "tests/test_util.h"
#include "trainer/trainer.h"

namespace fathom::trainer {
namespace {

comm::Communicator* g_comm = nullptr;
std::string g_prepared;  // set once a test has prepared the data

// Rank 0 prepares a Multi30k slice with a validation split; both ranks read it.
std::string PreparedDir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  char path[512] = {0};
  if (g_comm->rank() == 0) {
    std::string pattern = "/tmp/fathom_selection_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    for (const char* lang : {"de", "en"}) {
      testing::WriteLines(absl::StrCat(pattern, "/train.", lang, ".gz"),
                          testing::ReadGzipLines(absl::StrCat(m30k, "train.", lang, ".gz"), 1500));
      testing::WriteLines(absl::StrCat(pattern, "/val.", lang, ".gz"),
                          testing::ReadGzipLines(absl::StrCat(m30k, "val.", lang, ".gz"), 60));
    }
    testing::WriteTextFile(
        pattern + "/prepare.pbtxt",
        absl::StrCat("data { split { name: \"train\" source: \"", pattern,
                     "/train.de.gz\" target: \"", pattern,
                     "/train.en.gz\" } split { name: \"valid\" source: \"", pattern,
                     "/val.de.gz\" target: \"", pattern, "/val.en.gz\" } prepared_dir: \"", pattern,
                     "/prepared\" sentencepiece { vocab_size: 600 } }"));
    const std::string command = absl::StrCat(testing::FathomBinary(), " prepare --config ", pattern,
                                             "/prepare.pbtxt 2> ", pattern, "/prepare.log");
    if (std::system(command.c_str()) != 0) std::abort();
    std::snprintf(path, sizeof(path), "%s", pattern.c_str());
  }
  torch::Tensor bytes = torch::from_blob(path, {512}, torch::kUInt8);
  EXPECT_TRUE(g_comm->Broadcast(bytes, 0).ok());
  dir = path;
  g_prepared = dir;
  return dir;
}

proto::RunConfig SelectionConfig(const std::string& run_dir, int64_t max_steps, int patience) {
  proto::RunConfig config;
  config.set_run_dir(run_dir);
  config.mutable_data()->set_prepared_dir(PreparedDir() + "/prepared");
  config.mutable_data()->mutable_batch()->set_max_tokens(1024);
  config.mutable_model()->set_encoder_layers(1);
  config.mutable_model()->set_decoder_layers(1);
  config.mutable_model()->set_d_model(64);
  config.mutable_model()->set_heads(4);
  config.mutable_model()->set_ffn_dim(128);
  config.mutable_optim()->set_lr(3e-3);
  config.mutable_optim()->set_max_steps(max_steps);
  config.mutable_optim()->set_warmup_steps(5);
  config.mutable_eval()->set_valid_every_steps(6);
  config.mutable_eval()->set_log_every_steps(6);
  config.mutable_eval()->set_best_metric(proto::EvalConfig::BLEU);
  config.mutable_eval()->set_beam_size(1);
  config.mutable_eval()->set_max_len_b(5);
  config.mutable_eval()->set_patience(patience);
  config.mutable_checkpoint()->set_save_every_steps(1000);
  config.mutable_checkpoint()->set_keep_last(1);
  config.mutable_checkpoint()->set_keep_best(2);
  config.mutable_distributed()->set_threads(1);
  ResolveDefaults(&config);
  return config;
}

TEST(TrainSelectionMpiTest, BleuIsSummedOverRanksAndTheBestTwoCheckpointsAreKept) {
  const std::string run_dir = PreparedDir() + "/best";
  auto trainer = Trainer::Create(SelectionConfig(run_dir, 30, 0), g_comm, false);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto summary = (*trainer)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->validations.size(), 5u);  // steps 6, 12, ..., 30
  EXPECT_GE(summary->last_valid_bleu, 0.0);
  EXPECT_LE(summary->last_valid_bleu, 100.0);
  // Both ranks decoded different halves yet report one corpus BLEU.
  auto all = g_comm->AllGather(summary->last_valid_bleu);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0], (*all)[1]);
  // The metrics differ between validations (else best-K would test only tie-breaking).
  std::set<double> distinct;
  for (const auto& [step, metric] : summary->validations) distinct.insert(metric);
  EXPECT_GE(distinct.size(), 3u);
  EXPECT_GT(*distinct.rbegin(), 0.0);

  // Kept: the newest (keep_last 1) and the two best validations by BLEU (ties: the earlier).
  std::vector<std::pair<int64_t, double>> ranked = summary->validations;
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::set<int64_t> expected = {30, ranked[0].first, ranked[1].first};
  const std::vector<int64_t> kept = checkpoint::ListCheckpointSteps(run_dir);
  EXPECT_EQ(std::set<int64_t>(kept.begin(), kept.end()), expected);
  auto latest = checkpoint::ReadLatestValid(run_dir, nullptr);
  ASSERT_TRUE(latest.ok()) << latest.status();
  const auto& state = latest->meta.state();
  ASSERT_EQ(state.best_size(), 2);
  EXPECT_EQ(state.best(0).step(), ranked[0].first);
  EXPECT_EQ(state.best(0).metric(), ranked[0].second);
  EXPECT_EQ(state.best_metric(), ranked[0].second);
}

TEST(TrainSelectionMpiTest, PatienceStopsAfterValidationsWithoutImprovementAndSurvivesResume) {
  const std::string run_dir = PreparedDir() + "/patience";
  // Six validations at most; patience 1: the first validation that does not improve stops.
  auto trainer = Trainer::Create(SelectionConfig(run_dir, 36, 1), g_comm, false);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto summary = (*trainer)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  // Recount what the trainer should have decided from the metrics it saw.
  double best = -1e300;
  int without = 0;
  StopReason expected_reason = StopReason::kMaxSteps;
  size_t expected_validations = 0;
  for (const auto& [step, metric] : summary->validations) {
    ++expected_validations;
    without = metric > best ? 0 : without + 1;
    best = std::max(best, metric);
    if (without >= 1) {
      expected_reason = StopReason::kPatience;
      break;
    }
  }
  EXPECT_EQ(summary->stop_reason, expected_reason);
  EXPECT_EQ(summary->validations.size(), expected_validations);
  // With this seed the BLEU of step 18 falls below step 12's; the patience path must be taken.
  ASSERT_EQ(expected_reason, StopReason::kPatience);
  {
    // The patience count is in the checkpoint: a resumed run stops again at once.
    auto resumed = Trainer::Create(SelectionConfig(run_dir, 36, 1), g_comm, true);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    auto again = (*resumed)->Run();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->steps, summary->steps);
    EXPECT_EQ(again->stop_reason, StopReason::kPatience);
  }
}

// The shared main (tests/mpi_test_main.cc) makes the communicator; after the tests rank 0
// removes the prepared data, when a test prepared it (asking PreparedDir() on rank 0 alone would
// wait forever).
const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.before_tests = [] { g_comm = testing::MpiTestComm(); };
  options.after_tests = [] {
    if (g_comm->rank() == 0 && !g_prepared.empty()) {
      std::system(absl::StrCat("rm -rf ", g_prepared).c_str());
    }
  };
  return options;
}());

}  // namespace
}  // namespace fathom::trainer
