// Validation BLEU as the trainer computes it (decode/validation_bleu.h): the same
// hypotheses and statistics as `fathom translate` + `fathom score` on the same checkpoint, rank
// shares that sum to the whole split, greedy search at beam 1, and Spider's relation ids.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "decode/model_loader.h"
#include "decode/validation_bleu.h"
#include "eval/bleu/score_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "models/model_options.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::decode {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kMaxTokens = 1024;

int RunShell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> Lines(const std::string& path) {
  auto text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return {};
  std::vector<std::string> lines = absl::StrSplit(*text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// A prepared Multi30k slice whose valid split loses one pair to the filters, and a small
// model trained on it briefly with `fathom train`, shared by the tests.
class ValidationBleuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    testing::WriteLines(File("train.de"), testing::ReadGzipLines(m30k + "train.de.gz", 2000));
    testing::WriteLines(File("train.en"), testing::ReadGzipLines(m30k + "train.en.gz", 2000));
    std::vector<std::string> de = testing::ReadGzipLines(m30k + "val.de.gz", 60);
    std::vector<std::string> en = testing::ReadGzipLines(m30k + "val.en.gz", 60);
    // What survives prepare, for `fathom translate` and `fathom score`.
    testing::WriteLines(File("kept.de"), de);
    testing::WriteLines(File("kept.en"), en);
    de.insert(de.begin() + 7, "Ein Hund rennt.");
    en.insert(en.begin() + 7, "");
    testing::WriteLines(File("valid.de"), de);
    testing::WriteLines(File("valid.en"), en);
    testing::WriteTextFile(File("run.pbtxt"),
                           absl::StrCat(R"(
      run_dir: ")",
                                        File("run"), R"("
      data {
        split { name: "train" source: ")",
                                        File("train.de"), R"(" target: ")", File("train.en"), R"(" }
        split { name: "valid" source: ")",
                                        File("valid.de"), R"(" target: ")", File("valid.en"), R"(" }
        prepared_dir: ")",
                                        File("prepared"), R"("
        sentencepiece { vocab_size: 600 }
        batch { max_tokens: )",
                                        kMaxTokens, R"( }
      }
      model { encoder_layers: 2 decoder_layers: 2 d_model: 64 heads: 4 ffn_dim: 128 dropout: 0.1 }
      init { method: PRE_LN }
      optim { lr: 3e-3 warmup_steps: 30 max_steps: 120 }
      eval { log_every_steps: 40 valid_every_steps: 100000 decode_max_tokens: )",
                                        kMaxTokens, R"( }
      checkpoint { save_every_steps: 100000 }
      distributed { threads: 2 }
    )"));
    const std::string fathom = testing::FathomBinary();
    ASSERT_EQ(RunShell(absl::StrCat(fathom, " prepare --config ", File("run.pbtxt"), " > ",
                                    File("prepare.log"), " 2>&1")),
              0)
        << *ReadFileToString(File("prepare.log"));
    ASSERT_EQ(RunShell(absl::StrCat(fathom, " train --config ", File("run.pbtxt"), " > ",
                                    File("train.log"), " 2>&1")),
              0)
        << *ReadFileToString(File("train.log"));
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  void SetUp() override {
    ASSERT_TRUE(PathExists(File("run/checkpoints"))) << "no trained run";
    auto model = LoadInferenceModel(File("run"));
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    auto dataset = data::ShardDataset::Open(File("prepared"), "valid");
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = *std::move(dataset);
    ASSERT_EQ(dataset_->size(), 60);
  }

  // Hypotheses of `fathom translate` and the statistics `fathom score` computes from them.
  std::pair<std::vector<std::string>, eval::ScoreResult> TranslateAndScore(int beam) {
    const std::string hyp = File(absl::StrCat("hyp.beam", beam));
    EXPECT_EQ(
        RunShell(absl::StrCat(testing::FathomBinary(), " translate --checkpoint ", File("run"),
                              " --input ", File("kept.de"), " --output ", hyp, " --beam ", beam,
                              " --max_tokens ", kMaxTokens, " --threads 2 2> ", hyp, ".log")),
        0);
    auto score = eval::ScoreFiles(hyp, {File("kept.en")}, eval::ScoreOptions());
    EXPECT_TRUE(score.ok()) << score.status();
    return {Lines(hyp), score.ok() ? *score : eval::ScoreResult()};
  }

  ValidationDecodeOptions Options(int beam) {
    ValidationDecodeOptions options = ValidationDecodeOptions::FromProto(model_.config);
    options.beam.beam = beam;
    return options;
  }

  std::vector<int64_t> AllExamples() {
    std::vector<int64_t> all(dataset_->size());
    for (int64_t i = 0; i < dataset_->size(); ++i) all[i] = i;
    return all;
  }

  static testing::TempDir* dir_;
  InferenceModel model_;
  std::unique_ptr<data::ShardDataset> dataset_;
};

testing::TempDir* ValidationBleuTest::dir_ = nullptr;

TEST_F(ValidationBleuTest, EqualsTranslateThenScore) {
  torch::set_num_threads(2);
  for (int beam : {4, 1}) {
    SCOPED_TRACE(absl::StrCat("beam ", beam));
    auto bleu = ValidationBleu::Create(File("prepared"), *dataset_, nullptr,
                                       model_.config.data().sentencepiece(), Options(beam));
    ASSERT_TRUE(bleu.ok()) << bleu.status();
    std::vector<std::string> hypotheses;
    auto stats = (*bleu)->Decode(*model_.model, AllExamples(), &hypotheses);
    ASSERT_TRUE(stats.ok()) << stats.status();
    const auto [translated, scored] = TranslateAndScore(beam);
    EXPECT_EQ(hypotheses, translated);
    EXPECT_EQ(stats->sentences, 60);
    EXPECT_EQ(stats->bleu.ToVector(), scored.stats);
    const eval::BleuScore score = (*bleu)->Score(*stats);
    EXPECT_EQ(score.Format(), scored.line);
    EXPECT_EQ((*bleu)->Signature(), scored.signature);
    std::printf("beam %d: %s (fathom score: %s)\n", beam, score.Format().c_str(),
                scored.line.c_str());
    EXPECT_GT(score.precisions[0], 10.0)
        << "the model learned nothing; the comparison proves little";
  }
}

TEST_F(ValidationBleuTest, RankSharesSumToTheWholeSplit) {
  auto bleu = ValidationBleu::Create(File("prepared"), *dataset_, nullptr,
                                     model_.config.data().sentencepiece(), Options(4));
  ASSERT_TRUE(bleu.ok()) << bleu.status();
  auto whole = (*bleu)->Decode(*model_.model, AllExamples());
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (int world : {2, 3}) {
    torch::Tensor sum;
    for (int rank = 0; rank < world; ++rank) {
      // The trainer's validation plan: unshuffled batches of this rank.
      data::BatchingOptions batching;
      batching.max_tokens = kMaxTokens;
      batching.shuffle = false;
      auto batcher = data::Batcher::Create(dataset_->SourceLengths(), dataset_->TargetLengths(),
                                           batching, rank, world);
      ASSERT_TRUE(batcher.ok()) << batcher.status();
      const std::vector<int64_t> mine = ExamplesOf(batcher->EpochBatches(0));
      auto part = (*bleu)->Decode(*model_.model, mine);
      ASSERT_TRUE(part.ok()) << part.status();
      EXPECT_EQ(part->sentences, static_cast<int64_t>(mine.size()));
      const torch::Tensor t = ToTensor(*part);
      sum = sum.defined() ? sum + t : t;
    }
    auto total = ValidationBleuStatsFromTensor(sum);
    ASSERT_TRUE(total.ok()) << total.status();
    EXPECT_EQ(total->sentences, 60) << world << " ranks";
    EXPECT_EQ(total->bleu.ToVector(), whole->bleu.ToVector()) << world << " ranks";
    EXPECT_EQ((*bleu)->Score(*total).score, (*bleu)->Score(*whole).score);
  }
}

TEST_F(ValidationBleuTest, TensorRoundTripAndBadTensors) {
  ValidationBleuStats stats;
  stats.sentences = 7;
  stats.bleu.hyp_len = 70;
  stats.bleu.ref_len = 72;
  stats.bleu.correct = {50, 30, 20, 10};
  stats.bleu.total = {70, 63, 56, 49};
  const torch::Tensor t = ToTensor(stats);
  EXPECT_EQ(t.scalar_type(), torch::kLong);
  EXPECT_EQ(t.numel(), 11);
  auto back = ValidationBleuStatsFromTensor(t);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->sentences, 7);
  EXPECT_EQ(back->bleu.ToVector(), stats.bleu.ToVector());
  EXPECT_FALSE(ValidationBleuStatsFromTensor(t.to(torch::kDouble)).ok());
  EXPECT_FALSE(ValidationBleuStatsFromTensor(t.narrow(0, 0, 10)).ok());
}

TEST_F(ValidationBleuTest, RestoresTrainingModeAndRefusesUnknownExamples) {
  auto bleu = ValidationBleu::Create(File("prepared"), *dataset_, nullptr,
                                     model_.config.data().sentencepiece(), Options(2));
  ASSERT_TRUE(bleu.ok()) << bleu.status();
  model_.model->train();
  ASSERT_TRUE((*bleu)->Decode(*model_.model, std::vector<int64_t>{3, 1}).ok());
  EXPECT_TRUE(model_.model->is_training());
  std::vector<std::string> hyps;
  auto empty = (*bleu)->Decode(*model_.model, std::vector<int64_t>{}, &hyps);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->sentences, 0);
  EXPECT_THAT(
      std::string((*bleu)->Decode(*model_.model, std::vector<int64_t>{60}).status().message()),
      AllOf(HasSubstr("example 60"), HasSubstr("\"valid\""), HasSubstr("60 examples")));
}

TEST_F(ValidationBleuTest, ReferencesOrModelThatDoNotFitAreNamed) {
  testing::TempDir copy;
  const std::string prepared = copy.File("prepared");
  std::filesystem::copy(File("prepared"), prepared, std::filesystem::copy_options::recursive);
  auto dataset = data::ShardDataset::Open(prepared, "valid");
  ASSERT_TRUE(dataset.ok());
  const auto& spm = model_.config.data().sentencepiece();
  const std::string refs = data::ShardReferencesFile(prepared, "valid");
  std::vector<std::string> lines = Lines(refs);
  lines[4] = " ";
  testing::WriteLines(refs, lines);
  EXPECT_THAT(
      std::string(
          ValidationBleu::Create(prepared, **dataset, nullptr, spm, Options(1)).status().message()),
      AllOf(HasSubstr(refs + ":5"), HasSubstr("empty reference")));
  lines.pop_back();
  testing::WriteLines(refs, lines);
  EXPECT_THAT(
      std::string(
          ValidationBleu::Create(prepared, **dataset, nullptr, spm, Options(1)).status().message()),
      AllOf(HasSubstr(refs), HasSubstr("59 lines"), HasSubstr("60 examples")));
  // Another SentencePiece model under the header's file name.
  std::filesystem::copy_file(File("prepared/spm.model"), copy.File("saved.model"));
  testing::WriteLines(
      copy.File("other.txt"),
      testing::ReadGzipLines(testing::SharedDataDir() + "/translation/multi30k/val.en.gz", 300));
  auto other = data::Vocabulary::Train(
      Lines(copy.File("other.txt")),
      [&] {
        proto::SentencePieceConfig c = spm;
        c.set_vocab_size(200);
        return c;
      }(),
      1);
  ASSERT_TRUE(other.ok()) << other.status();
  testing::WriteTextFile(prepared + "/spm.model", other->model_bytes());
  EXPECT_THAT(
      std::string(
          ValidationBleu::Create(prepared, **dataset, nullptr, spm, Options(1)).status().message()),
      AllOf(HasSubstr(prepared + "/spm.model"), HasSubstr("200 pieces")));
}

// Spider: relation ids go with the source, and sources longer than the model's positions are
// cut as `fathom translate` cuts them. A fresh relation-aware model: this checks the plumbing
// (and that the references are the gold SQL), not the quality.
TEST(ValidationBleuSpiderTest, DecodesWithRelationsAndTruncation) {
  testing::TempDir dir;
  const std::string spider = testing::SharedDataDir() + "/spider/";
  proto::DataConfig data;
  data.set_task(proto::DataConfig::TEXT_TO_SQL);
  data.set_spider_tables(spider + "tables.json");
  for (const std::string name : {"train", "valid"}) {
    auto* split = data.add_split();
    split->set_name(name);
    split->set_spider_json(spider + "dev.json");
    split->set_apply_filter(false);
  }
  data.set_prepared_dir(dir.File("prepared"));
  data.mutable_sentencepiece()->set_vocab_size(800);
  ResolveDefaults(&data);
  testing::WriteTextFile(dir.File("prepare.pbtxt"),
                         absl::StrCat("data {\n", ConfigToText(data), "}\n"));
  ASSERT_EQ(
      RunShell(absl::StrCat(testing::FathomBinary(), " prepare --config ",
                            dir.File("prepare.pbtxt"), " > ", dir.File("prepare.log"), " 2>&1")),
      0)
      << *ReadFileToString(dir.File("prepare.log"));
  auto dataset = data::ShardDataset::Open(dir.File("prepared"), "valid");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_TRUE((*dataset)->header().has_relations());
  auto relations = data::RelationStore::Open(dir.File("prepared"), **dataset);
  ASSERT_TRUE(relations.ok()) << relations.status();

  proto::ModelConfig model_config;
  model_config.set_encoder_layers(1);
  model_config.set_decoder_layers(1);
  model_config.set_d_model(32);
  model_config.set_heads(4);
  model_config.set_ffn_dim(64);
  model_config.set_relation_aware(true);
  model_config.set_max_positions(64);  // Spider inputs run to hundreds of pieces
  proto::InitConfig init;
  ResolveDefaults(&model_config);
  ResolveDefaults(&init);
  const auto& header = (*dataset)->header();
  auto options = models::ModelOptions::FromProto(
      model_config, init, header.source_vocab().size(), header.target_vocab().size(),
      header.target_vocab().pad_id(), header.relations().num_relations(), 0);
  ASSERT_TRUE(options.ok()) << options.status();
  models::Seq2Seq model(*options);
  models::InitialiseDefault(*model, 3);

  proto::RunConfig run;
  *run.mutable_data() = data;
  ResolveDefaults(&run);
  ValidationDecodeOptions decode = ValidationDecodeOptions::FromProto(run);
  decode.beam.beam = 2;
  decode.beam.max_len_a = 0;
  decode.beam.max_len_b = 5;
  auto bleu = ValidationBleu::Create(dir.File("prepared"), **dataset, relations->get(),
                                     data.sentencepiece(), decode);
  ASSERT_TRUE(bleu.ok()) << bleu.status();
  EXPECT_EQ((*bleu)->references()[0], "SELECT count(*) FROM singer");
  std::vector<int64_t> examples = {0, 1, 2, 500, 1000, 1033};
  int64_t longest = 0;
  for (int64_t e : examples) longest = std::max<int64_t>(longest, (*dataset)->source_length(e));
  ASSERT_GT(longest, 64) << "nothing to truncate";
  std::vector<std::string> hyps;
  auto stats = (*bleu)->Decode(*model, examples, &hyps);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->sentences, 6);
  EXPECT_EQ(hyps.size(), 6u);
  EXPECT_GT(stats->bleu.ref_len, 0);
  EXPECT_LE(stats->bleu.total[0], 6 * 5 * 8) << "at most 5 pieces per hypothesis";
}

}  // namespace
}  // namespace fathom::decode
