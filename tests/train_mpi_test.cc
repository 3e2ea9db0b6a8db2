// Distributed training on 2 MPI ranks (CPU): the reduction is exact, communication overlaps
// backward, and a resumed run repeats the uninterrupted one bit for bit.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "checkpoint/checkpoint_io.h"
#include "comm/communicator_factory.h"
#include "comm/single_process_communicator.h"
#include "decode/checkpoint_average.h"
#include "decode/translator.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "proto/config_io.h"
#include "tests/mpi_test_main.h"
#include "tests/test_util.h"
#include "tests/tiny_training.h"
#include "trainer/generator_state.h"
#include "trainer/step_runner.h"
#include "trainer/trainer.h"

namespace fathom::trainer {
namespace {

comm::Communicator* g_comm = nullptr;

TEST(TrainMpiTest, TwoRanksWithBTokensTrainLikeOneRankWith2BTokens) {
  ASSERT_EQ(g_comm->size(), 2);
  models::Seq2Seq distributed(testing::TinyModelOptions()), single(testing::TinyModelOptions());
  models::InitialiseDefault(*distributed, 5);
  models::InitialiseDefault(*single, 5);
  Optimizer dist_opt(distributed->parameters(), testing::DefaultAdam()),
      single_opt(single->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.label_smoothing = 0.1;
  options.clip_norm = 1.0;
  options.bucket_bytes = 16 << 10;  // several buckets on this small model
  StepRunner dist_runner(distributed, &dist_opt, g_comm, options);
  StepRunner single_runner(single, &single_opt, &alone, options);
  EXPECT_GT(dist_runner.reducer().num_buckets(), 2);
  for (int step = 1; step <= 20; ++step) {
    const DeviceBatch mine = testing::TinyBatch(g_comm->rank(), step);
    const DeviceBatch both =
        Concatenate({testing::TinyBatch(0, step), testing::TinyBatch(1, step)}, 0);
    auto a = testing::UpdateAndRead(dist_runner, {mine}, 1e-3);
    auto b = testing::UpdateAndRead(single_runner, {both}, 1e-3);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->target_tokens, b->target_tokens);
    EXPECT_NEAR(a->loss, b->loss, 1e-5) << "step " << step;
    EXPECT_NEAR(a->grad_norm, b->grad_norm, 1e-5 * std::max(1.0, b->grad_norm)) << "step " << step;
    // Buckets went out from autograd hooks, before backward returned.
    EXPECT_GE(dist_runner.reducer().launched_during_backward(),
              dist_runner.reducer().num_buckets() - 1);
  }
  double max_diff = 0;
  auto p = distributed->parameters(), q = single->parameters();
  for (size_t i = 0; i < p.size(); ++i)
    max_diff = std::max(max_diff, (p[i] - q[i]).abs().max().item<double>());
  EXPECT_LT(max_diff, 1e-5);
}

TEST(TrainMpiTest, GradientAccumulationEqualsOneBigBatch) {
  // update_freq 2 on each rank (no communication on the inner step) = both batches at once.
  models::Seq2Seq accumulated(testing::TinyModelOptions()), single(testing::TinyModelOptions());
  models::InitialiseDefault(*accumulated, 6);
  models::InitialiseDefault(*single, 6);
  Optimizer acc_opt(accumulated->parameters(), testing::DefaultAdam()),
      single_opt(single->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepRunner acc_runner(accumulated, &acc_opt, g_comm, StepOptions());
  StepRunner single_runner(single, &single_opt, &alone, StepOptions());
  for (int step = 1; step <= 5; ++step) {
    std::vector<DeviceBatch> mine = {testing::TinyBatch(2 * g_comm->rank(), step),
                                     testing::TinyBatch(2 * g_comm->rank() + 1, step)};
    DeviceBatch all = Concatenate({testing::TinyBatch(0, step), testing::TinyBatch(1, step),
                                   testing::TinyBatch(2, step), testing::TinyBatch(3, step)},
                                  0);
    auto a = testing::UpdateAndRead(acc_runner, mine, 1e-3);
    auto b = testing::UpdateAndRead(single_runner, {all}, 1e-3);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NEAR(a->loss, b->loss, 1e-5);
  }
  auto p = accumulated->parameters(), q = single->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_LT((p[i] - q[i]).abs().max().item<double>(), 1e-5);
}

TEST(TrainMpiTest, ASecondRunnerOnTheSameModelTrainsLikeOne) {
  // A runner's reducer hooks the model's parameters; when the runner goes, its hooks go with it,
  // so a later runner (or any backward) on the same model does not call into a freed reducer.
  models::Seq2Seq handed(testing::TinyModelOptions()), kept(testing::TinyModelOptions());
  models::InitialiseDefault(*handed, 9);
  models::InitialiseDefault(*kept, 9);
  Optimizer handed_opt(handed->parameters(), testing::DefaultAdam()),
      kept_opt(kept->parameters(), testing::DefaultAdam());
  StepOptions options;
  options.bucket_bytes = 16 << 10;
  StepRunner kept_runner(kept, &kept_opt, g_comm, options);
  for (int step = 1; step <= 3; ++step) {
    StepRunner runner(handed, &handed_opt, g_comm, options);
    auto a = testing::UpdateAndRead(runner, {testing::TinyBatch(g_comm->rank(), step)}, 1e-3);
    auto b = testing::UpdateAndRead(kept_runner, {testing::TinyBatch(g_comm->rank(), step)}, 1e-3);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->loss, b->loss) << "step " << step;
  }
  EXPECT_EQ(testing::MaxDifference(handed->parameters(), kept->parameters()), 0.0);
}

TEST(TrainMpiTest, AdminOmegasOnTwoRanksEqualOneRankOnBothBatches) {
  // Each rank profiles its own batch (different widths and padding) with the statistics summed
  // over MPI at every sublayer, as the trainer does; one process profiles the two stacked.
  models::ModelOptions options = testing::TinyModelOptions();
  options.init = proto::InitConfig::ADMIN;
  options.encoder_layers = options.decoder_layers = 6;
  models::Seq2Seq distributed(options), single(options);
  models::InitialiseDefault(*distributed, 8);
  models::InitialiseDefault(*single, 8);
  const DeviceBatch mine = testing::TinyBatch(g_comm->rank(), 1);
  const DeviceBatch both = Concatenate({testing::TinyBatch(0, 1), testing::TinyBatch(1, 1)}, 0);
  const models::AdminOmegas got = models::ProfileAdmin(
      *distributed, mine.source, mine.target_input, {}, [](torch::Tensor& stats) {
        ASSERT_TRUE(g_comm->AllReduce(stats, comm::ReduceOp::kSum).ok());
      });
  const models::AdminOmegas want =
      models::ProfileAdmin(*single, both.source, both.target_input, {}, nullptr);
  ASSERT_EQ(got.encoder.size(), 12u);
  ASSERT_EQ(got.decoder.size(), 18u);
  ASSERT_EQ(want.encoder.size(), 12u);
  ASSERT_EQ(want.decoder.size(), 18u);
  EXPECT_GT(want.encoder.back(), 1.5);  // the omegas really grow with depth
  for (size_t k = 0; k < want.encoder.size(); ++k)
    EXPECT_NEAR(got.encoder[k], want.encoder[k], 1e-5 * want.encoder[k]) << k;
  for (size_t k = 0; k < want.decoder.size(); ++k)
    EXPECT_NEAR(got.decoder[k], want.decoder[k], 1e-5 * want.decoder[k]) << k;
}

// A prepared Multi30k slice shared by the two ranks (rank 0 prepares, both read).
std::string PreparedDir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  char path[512] = {0};
  if (g_comm->rank() == 0) {
    std::string pattern = "/tmp/fathom_train_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    testing::WriteLines(pattern + "/train.de.gz",
                        testing::ReadGzipLines(m30k + "train.de.gz", 600));
    testing::WriteLines(pattern + "/train.en.gz",
                        testing::ReadGzipLines(m30k + "train.en.gz", 600));
    testing::WriteTextFile(
        pattern + "/prepare.pbtxt",
        absl::StrCat("data { split { name: \"train\" source: \"", pattern,
                     "/train.de.gz\" target: \"", pattern, "/train.en.gz\" } prepared_dir: \"",
                     pattern, "/prepared\" sentencepiece { vocab_size: 500 } }"));
    const std::string command = absl::StrCat(testing::FathomBinary(), " prepare --config ", pattern,
                                             "/prepare.pbtxt 2> ", pattern, "/prepare.log");
    if (std::system(command.c_str()) != 0) std::abort();
    std::snprintf(path, sizeof(path), "%s", pattern.c_str());
  }
  torch::Tensor bytes = torch::from_blob(path, {512}, torch::kUInt8);
  EXPECT_TRUE(g_comm->Broadcast(bytes, 0).ok());
  dir = path;
  return dir;
}

proto::RunConfig RunConfig(const std::string& run_dir, int64_t max_steps,
                           proto::InitConfig::Method init) {
  proto::RunConfig config;
  const std::string base = PreparedDir();
  config.set_run_dir(run_dir);
  config.mutable_data()->set_prepared_dir(base + "/prepared");
  config.mutable_data()->mutable_batch()->set_max_tokens(512);
  config.mutable_model()->set_encoder_layers(2);
  config.mutable_model()->set_decoder_layers(2);
  config.mutable_model()->set_d_model(32);
  config.mutable_model()->set_heads(4);
  config.mutable_model()->set_ffn_dim(64);
  config.mutable_model()->set_dropout(0.1);  // exercises the per-rank RNG state on resume
  config.mutable_init()->set_method(init);
  config.mutable_optim()->set_max_steps(max_steps);
  config.mutable_optim()->set_warmup_steps(4);
  config.mutable_eval()->set_log_every_steps(2);
  config.mutable_eval()->set_valid_every_steps(1000);
  config.mutable_checkpoint()->set_save_every_steps(4);
  config.mutable_distributed()->set_threads(1);
  ResolveDefaults(&config);
  return config;
}

TEST(TrainMpiTest, ResumeRepeatsTheUninterruptedRunBitForBit) {
  const std::string base = PreparedDir();
  auto full =
      Trainer::Create(RunConfig(base + "/full", 8, proto::InitConfig::ADMIN), g_comm, false);
  ASSERT_TRUE(full.ok()) << full.status();
  auto uninterrupted = (*full)->Run();
  ASSERT_TRUE(uninterrupted.ok()) << uninterrupted.status();
  ASSERT_EQ(uninterrupted->losses.size(), 8u);

  auto first =
      Trainer::Create(RunConfig(base + "/split", 4, proto::InitConfig::ADMIN), g_comm, false);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->Run().ok());
  auto second =
      Trainer::Create(RunConfig(base + "/split", 8, proto::InitConfig::ADMIN), g_comm, true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->step(), 4);
  auto resumed = (*second)->Run();
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->losses.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(resumed->losses[k], uninterrupted->losses[4 + k]) << "step " << 5 + k;
  }
  auto p = (*full)->model()->parameters(), q = (*second)->model()->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i], q[i])) << i;
}

// One draw from this process's CPU generator, the one dropout masks are seeded from.
int64_t Draw() {
  return torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kLong).item<int64_t>();
}

TEST(TrainMpiTest, RanksDrawDifferentDropoutMasks) {
  // Data parallelism needs independent noise on each shard: the ranks' generators differ after
  // the initial parameters (which are rank 0's on every rank) are set.
  const std::string base = PreparedDir();
  auto trainer =
      Trainer::Create(RunConfig(base + "/seeds", 1, proto::InitConfig::ADMIN), g_comm, false);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto draws = g_comm->AllGather(Draw());
  ASSERT_TRUE(draws.ok());
  EXPECT_NE((*draws)[0], (*draws)[1]);
}

// A resumed trainer reads the same fraction of the same epoch the checkpoint had reached.
void ExpectSameFractionOfTheEpoch(const Trainer& trainer, const proto::IteratorPosition& at) {
  const int64_t per_epoch = trainer.batches_per_epoch();
  EXPECT_EQ(trainer.position().epoch, at.epoch());
  EXPECT_NEAR(static_cast<double>(trainer.position().index) / per_epoch,
              static_cast<double>(at.index()) / at.batches_per_epoch(), 0.5 / per_epoch + 1e-9);
}

TEST(TrainMpiTest, ResumesOnADifferentRankCount) {
  // A 2-rank checkpoint continued by one rank alone: the batches are dealt anew for one rank,
  // and training resumes at the same fraction of the epoch.
  const std::string base = PreparedDir();
  if (g_comm->rank() != 0) return;
  std::filesystem::copy(base + "/full", base + "/one_rank",
                        std::filesystem::copy_options::recursive);
  auto saved = checkpoint::ReadLatestValid(base + "/one_rank", nullptr);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const proto::IteratorPosition& at = saved->meta.state().iterator();
  ASSERT_EQ(saved->meta.state().world_size(), 2);
  ASSERT_GT(at.batches_per_epoch(), 0);
  ASSERT_GT(at.index(), 0) << "the test needs a checkpoint inside an epoch";
  comm::SingleProcessCommunicator alone;
  const proto::RunConfig config = RunConfig(base + "/one_rank", 10, proto::InitConfig::ADMIN);
  auto trainer = Trainer::Create(config, &alone, true);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->step(), 8);
  // One rank has about twice the batches per epoch of each of two.
  EXPECT_NEAR((*trainer)->batches_per_epoch(), 2 * at.batches_per_epoch(), 2);
  ExpectSameFractionOfTheEpoch(**trainer, at);
  // The saved generator states are the two ranks'; one rank draws anew from the config's seed.
  const int64_t draw = Draw();
  SeedRankGenerators(config.seed(), 0, 8);
  EXPECT_EQ(draw, Draw());
  SeedRankGenerators(config.seed(), 0, 8);
  auto summary = (*trainer)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->steps, 10);
  ASSERT_EQ(summary->losses.size(), 2u);
  for (double loss : summary->losses) EXPECT_TRUE(std::isfinite(loss));
}

TEST(TrainMpiTest, ResumesAtTheSameFractionOfTheEpochWithAnotherBatchBudget) {
  // The same two ranks with half the token budget: twice the batches per epoch, so the saved
  // index is mapped by the fraction of the epoch done, not taken as it is.
  const std::string base = PreparedDir();
  if (g_comm->rank() == 0) {
    std::filesystem::copy(base + "/full", base + "/budget",
                          std::filesystem::copy_options::recursive);
  }
  ASSERT_TRUE(g_comm->Barrier().ok());
  auto saved = checkpoint::ReadLatestValid(base + "/budget", nullptr);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const proto::IteratorPosition& at = saved->meta.state().iterator();
  proto::RunConfig config = RunConfig(base + "/budget", 9, proto::InitConfig::ADMIN);
  config.mutable_data()->mutable_batch()->set_max_tokens(256);
  auto trainer = Trainer::Create(config, g_comm, true);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_GT((*trainer)->batches_per_epoch(), at.batches_per_epoch() * 3 / 2);
  ExpectSameFractionOfTheEpoch(**trainer, at);
  auto summary = (*trainer)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->steps, 9);
}

TEST(TrainMpiTest, TranslateAndAverageFromTheRun) {
  // Uses the run the resume test trained (checkpoints at steps 4 and 8).
  const std::string run = PreparedDir() + "/full";
  auto model = decode::LoadInferenceModel(run);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->step, 8);
  decode::TranslateOptions options;
  options.beam.beam = 3;
  options.beam.nbest = 2;
  const std::vector<std::string> lines = {"Ein Hund läuft.", "Zwei Männer stehen vor einem Haus.",
                                          ""};
  const auto out = decode::Translate(*model, lines, options);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& nbest : out) {
    EXPECT_GE(nbest.size(), 1u);
    EXPECT_LE(nbest.size(), 2u);
  }
  if (g_comm->rank() != 0) return;
  const std::string averaged = run + "_avg";
  auto dirs = decode::LastCheckpoints(run, 2);
  ASSERT_TRUE(dirs.ok());
  ASSERT_EQ(dirs->size(), 2u);
  ASSERT_TRUE(decode::AverageCheckpoints(*dirs, averaged).ok());
  auto a = checkpoint::ReadCheckpoint((*dirs)[0]), b = checkpoint::ReadCheckpoint((*dirs)[1]);
  auto avg = checkpoint::ReadLatestValid(averaged, nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && avg.ok());
  int checked = 0;
  for (const auto& [name, tensor] : avg->tensors) {
    for (size_t i = 0; i < a->tensors.size(); ++i) {
      if (a->tensors[i].first != name) continue;
      EXPECT_TRUE(
          torch::allclose(tensor, (a->tensors[i].second + b->tensors[i].second) / 2, 1e-6, 1e-7))
          << name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
  EXPECT_TRUE(decode::LoadInferenceModel(averaged).ok());  // translate reads the averaged run
}

TEST(TrainMpiTest, DistributedTranslateGivesEveryRankEachRanksLinesInOrder) {
  // `fathom translate` under mpirun -np 2: rank r decodes lines r, r + 2, ... as it would alone,
  // and every rank gets all of them back in input order. Uses the resume test's run.
  auto model = decode::LoadInferenceModel(PreparedDir() + "/full");
  ASSERT_TRUE(model.ok()) << model.status();
  decode::TranslateOptions options;
  options.beam.beam = 2;
  options.beam.nbest = 2;
  options.max_tokens = 40;  // several batches per rank
  const std::vector<std::string> lines = {"Ein Hund läuft.",
                                          "Zwei Männer stehen vor einem Haus.",
                                          "",
                                          "Eine Frau liest ein Buch.",
                                          "Kinder spielen im Park.",
                                          "Ein Mann fährt Fahrrad auf der Straße.",
                                          "Ein Hund."};
  auto all = decode::DistributedTranslate(*model, lines, options, *g_comm);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), lines.size());
  // Each rank's share translated alone, computed here on both ranks: equal on both, so the ranks
  // agree with each other too.
  for (int r = 0; r < 2; ++r) {
    std::vector<std::string> share;
    for (size_t i = r; i < lines.size(); i += 2) share.push_back(lines[i]);
    const auto alone = decode::Translate(*model, share, options);
    for (size_t k = 0; k < alone.size(); ++k)
      EXPECT_EQ((*all)[r + 2 * k], alone[k]) << "line " << r + 2 * k;
  }
}

TEST(TrainMpiTest, DtFixupMuIsTheMaximumOverBothShards) {
  const std::string base = PreparedDir();
  auto trainer =
      Trainer::Create(RunConfig(base + "/dt", 1, proto::InitConfig::DT_FIXUP), g_comm, false);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  // Independent: the largest embedded-source norm over every training example, on one rank.
  auto dataset = data::ShardDataset::Open(base + "/prepared", "train");
  ASSERT_TRUE(dataset.ok());
  auto options = (*trainer)->model()->options();
  models::Seq2Seq reference(options);
  models::InitialiseDefault(*reference, 1);  // same seed as the run: same embeddings
  reference->eval();
  torch::NoGradGuard no_grad;
  double mu = 0;
  for (int64_t i = 0; i < (*dataset)->size(); ++i) {
    std::vector<int> ids = (*dataset)->Source(i);
    ids.push_back(3);
    torch::Tensor src = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    mu = std::max(mu, models::MaxPositionNorm(reference->EncoderInput(src), src.eq(0)));
  }
  // The run scaled the encoder's FFN by DtFixupScale(N, mu): recover mu from the ratio.
  auto* run_layer = (*trainer)->model()->encoder->layers[0]->as<models::EncoderLayerImpl>();
  auto* ref_layer = reference->encoder->layers[0]->as<models::EncoderLayerImpl>();
  const double ratio =
      (run_layer->ffn->fc1->weight / ref_layer->ffn->fc1->weight).mean().item<double>();
  EXPECT_NEAR(ratio, models::DtFixupScale(2, mu, false), 1e-4 * ratio);
}

// The shared main (tests/mpi_test_main.cc) makes the communicator; after the tests rank 0
// removes the prepared data. Every rank asks for the directory, since the first ask is
// collective.
const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.before_tests = [] { g_comm = testing::MpiTestComm(); };
  options.after_tests = [] {
    const std::string dir = PreparedDir();
    if (g_comm->rank() == 0) std::system(absl::StrCat("rm -rf ", dir).c_str());
  };
  return options;
}());

}  // namespace
}  // namespace fathom::trainer
