// Model selection on Spider exact match during 2-rank training (eval.best_metric: EXACT_MATCH):
// each rank decodes its share of the valid split with the relation ids and the counts are summed,
// so both ranks see one figure; the best checkpoint by it is kept; and the figure of the last
// validation equals `fathom translate --spider_json` + `fathom sql-eval --tables` on the
// checkpoint of that step, decoded by the 2 ranks through the library's PredictSql (what
// translate calls) and by the binary on one process.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "checkpoint/checkpoint_io.h"
#include "decode/model_loader.h"
#include "decode/sql_prediction.h"
#include "decode/validation_exact_match.h"
#include "gtest/gtest.h"
#include "prepare/sql_inputs.h"
#include "proto/config_io.h"
#include "tests/mpi_test_main.h"
#include "tests/test_util.h"
#include "trainer/trainer.h"

namespace fathom::trainer {
namespace {

comm::Communicator* g_comm = nullptr;
std::string g_dir;  // set once a test has prepared the data

constexpr int kExamples = 64;

std::string Tables() { return testing::SharedDataDir() + "/spider/tables.json"; }

// Rank 0 writes the first 64 Spider dev questions and prepares them as both the train and the
// valid split (unfiltered: the model learns them by heart, so exact match has something to
// count); both ranks read it.
std::string Dir() {
  if (!g_dir.empty()) return g_dir;
  char path[512] = {0};
  if (g_comm->rank() == 0) {
    std::string pattern = "/tmp/fathom_exact_match_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    auto dev = ReadFileToString(testing::SharedDataDir() + "/spider/dev.json");
    if (!dev.ok()) std::abort();
    const nlohmann::json all = nlohmann::json::parse(*dev);
    nlohmann::json slice = nlohmann::json::array();
    for (int i = 0; i < kExamples; ++i) slice.push_back(all[i]);
    testing::WriteTextFile(pattern + "/dev64.json", slice.dump());
    testing::WriteTextFile(
        pattern + "/prepare.pbtxt",
        absl::StrCat("data { task: TEXT_TO_SQL spider_tables: \"", Tables(),
                     "\" split { name: \"train\" spider_json: \"", pattern,
                     "/dev64.json\" apply_filter: false } split { name: \"valid\" spider_json: \"",
                     pattern, "/dev64.json\" apply_filter: false } prepared_dir: \"", pattern,
                     "/prepared\" sentencepiece { vocab_size: 250 } }"));
    const std::string command = absl::StrCat(testing::FathomBinary(), " prepare --config ", pattern,
                                             "/prepare.pbtxt > ", pattern, "/prepare.log 2>&1");
    if (std::system(command.c_str()) != 0) std::abort();
    std::snprintf(path, sizeof(path), "%s", pattern.c_str());
  }
  torch::Tensor bytes = torch::from_blob(path, {512}, torch::kUInt8);
  EXPECT_TRUE(g_comm->Broadcast(bytes, 0).ok());
  g_dir = path;
  return g_dir;
}

proto::RunConfig ExactMatchConfig(const std::string& run_dir) {
  proto::RunConfig config;
  config.set_run_dir(run_dir);
  proto::DataConfig* data = config.mutable_data();
  data->set_task(proto::DataConfig::TEXT_TO_SQL);
  data->set_spider_tables(Tables());
  data->set_prepared_dir(Dir() + "/prepared");
  data->mutable_batch()->set_max_tokens(4096);
  proto::ModelConfig* model = config.mutable_model();
  model->set_encoder_layers(1);
  model->set_decoder_layers(1);
  model->set_d_model(64);
  model->set_heads(4);
  model->set_ffn_dim(128);
  model->set_dropout(0);
  model->set_relation_aware(true);
  model->set_max_positions(256);
  config.mutable_init()->set_method(proto::InitConfig::PRE_LN);
  config.mutable_optim()->set_lr(5e-3);
  config.mutable_optim()->set_warmup_steps(10);
  config.mutable_optim()->set_label_smoothing(0);
  config.mutable_optim()->set_max_steps(200);
  config.mutable_eval()->set_valid_every_steps(50);
  config.mutable_eval()->set_log_every_steps(50);
  config.mutable_eval()->set_best_metric(proto::EvalConfig::EXACT_MATCH);
  config.mutable_eval()->set_beam_size(2);
  config.mutable_eval()->set_max_len_a(0);
  config.mutable_eval()->set_max_len_b(60);
  config.mutable_checkpoint()->set_save_every_steps(1000);
  config.mutable_checkpoint()->set_keep_last(1);
  config.mutable_checkpoint()->set_keep_best(1);
  config.mutable_distributed()->set_threads(1);
  ResolveDefaults(&config);
  return config;
}

// "exact match: N of M" of `fathom sql-eval`; -1 if absent.
int Matched(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("exact match: ([0-9]+) of ([0-9]+)"))) return -1;
  return std::stoi(m[1]);
}

TEST(TrainExactMatchMpiTest,
     ExactMatchIsSummedOverRanksSelectsCheckpointsAndEqualsPredictThenEval) {
  const std::string run_dir = Dir() + "/run";
  const proto::RunConfig config = ExactMatchConfig(run_dir);
  auto trainer = Trainer::Create(config, g_comm, false);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto summary = (*trainer)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->validations.size(), 4u);  // steps 50, 100, 150, 200
  const double last = summary->validations.back().second;
  // Both ranks decoded different halves yet report one figure.
  auto all = g_comm->AllGather(last);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0], (*all)[1]);
  EXPECT_GT(last, 5.0) << "the model learned nothing; the comparison proves little";
  EXPECT_LE(last, 100.0);

  // Kept: the newest (keep_last 1) and the best validation by exact match (ties: the earlier).
  std::pair<int64_t, double> best = summary->validations.front();
  for (const auto& v : summary->validations) {
    if (v.second > best.second) best = v;
  }
  const std::vector<int64_t> kept = checkpoint::ListCheckpointSteps(run_dir);
  EXPECT_EQ(std::set<int64_t>(kept.begin(), kept.end()), (std::set<int64_t>{200, best.first}));

  // The checkpoint of step 200 is the model that validation decoded last.
  const std::string checkpoint = absl::StrFormat("%s/checkpoints/%08d", run_dir, 200);
  auto model = decode::LoadInferenceModel(checkpoint);
  ASSERT_TRUE(model.ok()) << model.status();
  prepare::SqlInputFiles files;
  files.spider_json = Dir() + "/dev64.json";
  files.spider_tables = Tables();
  auto inputs = prepare::LoadSqlInputs(files, /*for_prediction=*/true);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  decode::TranslateOptions options;
  options.beam.beam = 2;
  options.beam.max_len_a = 0;
  options.beam.max_len_b = 60;
  auto predicted = decode::PredictSql(*model, *inputs, options, false, *g_comm);
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  if (g_comm->rank() != 0) return;
  const std::string dir = Dir();
  testing::WriteTextFile(dir + "/pred2.sql", decode::GoldFormat(predicted->sql, predicted->db_ids));

  // The binary on one process: the launcher's variables of this test are kept from it.
  const testing::CommandResult translated = testing::RunShell(absl::StrCat(
      "env $(env | grep -oE '^(OMPI|PMIX|PMI|PRTE)_[A-Za-z0-9_]*' | sed 's/^/-u /') ",
      testing::FathomBinary(), " translate --checkpoint ", checkpoint, " --spider_json ",
      files.spider_json, " --output ", dir, "/pred1.sql --gold_output ", dir,
      "/gold.sql --beam 2 --max_len_a 0 --max_len_b 60 --threads 1"));
  ASSERT_EQ(translated.exit_code, 0) << translated.output;
  EXPECT_EQ(ReadFileToString(dir + "/pred1.sql").value_or("1"),
            ReadFileToString(dir + "/pred2.sql").value_or("2"));
  for (const char* pred : {"/pred1.sql", "/pred2.sql"}) {
    const testing::CommandResult scored = testing::RunFathom(absl::StrCat(
        "sql-eval --gold ", dir, "/gold.sql --pred ", dir, pred, " --tables ", Tables()));
    ASSERT_EQ(scored.exit_code, 0) << scored.output;
    const int matched = Matched(scored.output);
    std::printf("%s: validation exact match %.4f%%, fathom sql-eval %d of %d\n", pred, last,
                matched, kExamples);
    EXPECT_DOUBLE_EQ(last, 100.0 * matched / kExamples);
  }
}

TEST(TrainExactMatchMpiTest, CountsTravelAsOneTensor) {
  decode::ValidationExactMatchStats stats;
  stats.sentences = 64;
  stats.matched = 15;
  stats.pred_parse_failures = 30;
  stats.hardness_total = {8, 30, 16, 10};
  stats.hardness_matched = {5, 7, 3, 0};
  const torch::Tensor t = decode::ToTensor(stats);
  EXPECT_EQ(t.numel(), 11);
  // Summed over the two ranks, as DecodeSplit sums them.
  torch::Tensor summed = t.clone();
  ASSERT_TRUE(g_comm->AllReduce(summed, comm::ReduceOp::kSum).ok());
  auto back = decode::ValidationExactMatchStatsFromTensor(summed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->sentences, 128);
  EXPECT_EQ(back->matched, 30);
  EXPECT_EQ(back->hardness_matched[0], 10);
  EXPECT_EQ(back->hardness_total[3], 20);
  EXPECT_DOUBLE_EQ(back->Percent(), 100.0 * 30 / 128);
  EXPECT_FALSE(decode::ValidationExactMatchStatsFromTensor(t.to(torch::kDouble)).ok());
  EXPECT_FALSE(decode::ValidationExactMatchStatsFromTensor(t.narrow(0, 0, 10)).ok());
}

// The shared main (tests/mpi_test_main.cc) makes the communicator; after the tests rank 0
// removes the prepared data, when a test prepared it.
const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.before_tests = [] { g_comm = testing::MpiTestComm(); };
  options.after_tests = [] {
    if (g_comm->rank() == 0 && !g_dir.empty()) {
      std::system(absl::StrCat("rm -rf ", g_dir).c_str());
    }
  };
  return options;
}());

}  // namespace
}  // namespace fathom::trainer
