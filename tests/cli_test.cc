// The `fathom` binary as a user meets it: help, usage errors (exit 2), data errors (exit 1).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::HasSubstr;
using Result = testing::CommandResult;
using testing::RunFathom;

TEST(CliTest, HelpListsSubcommandsAndTheirFlags) {
  Result overview = RunFathom("help");
  EXPECT_EQ(overview.exit_code, 0);
  EXPECT_THAT(overview.output, HasSubstr("prepare"));
  Result prepare = RunFathom("prepare --help");
  EXPECT_EQ(prepare.exit_code, 0);
  EXPECT_THAT(prepare.output, HasSubstr("fathom prepare --config FILE"));
  EXPECT_THAT(prepare.output, HasSubstr("--overwrite"));
  EXPECT_EQ(RunFathom("help prepare").output, prepare.output);
}

TEST(CliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunFathom("").exit_code, 2);
  Result unknown = RunFathom("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("unknown subcommand 'frobnicate'"));
  Result flag = RunFathom("prepare --config x.pbtxt --max_tokens 5");
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_THAT(flag.output, HasSubstr("unknown flag --max_tokens"));
  EXPECT_EQ(RunFathom("prepare").exit_code, 2);
}

TEST(CliTest, BadConfigExitsWithTwoNamingTheField) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("run.pbtxt"), "data {\n  batch { max_tokens: 0 }\n}\n");
  Result result = RunFathom(absl::StrCat("prepare --config ", dir.File("run.pbtxt")));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, HasSubstr("data.batch.max_tokens: must be > 0"));
  Result missing = RunFathom(absl::StrCat("prepare --config ", dir.File("nope.pbtxt")));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("nope.pbtxt"));
}

TEST(CliTest, PrepareRunsAndReportsCountsAndMissingInputs) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("a.de"), {"ein kleiner Test", "noch ein Satz", "der dritte Satz"});
  testing::WriteLines(dir.File("a.en"), {"a small test", "another sentence", "the third sentence"});
  const std::string config =
      absl::StrCat(R"(
    data {
      split { name: "train" source: ")",
                   dir.File("a.de"), R"(" target: ")", dir.File("a.en"), R"(" }
      prepared_dir: ")",
                   dir.File("out"), R"("
      sentencepiece { vocab_size: 30 }
    })");
  testing::WriteTextFile(dir.File("run.pbtxt"), config);
  Result ok = RunFathom(absl::StrCat("prepare --config ", dir.File("run.pbtxt")));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("resolved config"));
  EXPECT_THAT(ok.output, HasSubstr("max_length_ratio: 3"));  // a default, printed
  EXPECT_THAT(ok.output, HasSubstr("split train: read 3, kept 3"));

  testing::WriteTextFile(
      dir.File("missing.pbtxt"),
      absl::StrCat(R"(data { split { name: "train" source: ")", dir.File("gone.de"),
                   R"(" target: "x" } prepared_dir: ")", dir.File("out2"), R"(" })"));
  Result missing = RunFathom(absl::StrCat("prepare --config ", dir.File("missing.pbtxt")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("gone.de: no such file"));
}

// distributed.backend reaches the communicator: MPI without a launcher is an MPI singleton (it
// used to be ignored: a single-process run), and NCCL with CPU tensors is a usage error.
TEST(CliTest, TrainUsesTheConfiguredBackend) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("a.de"), {"ein kleiner Test", "noch ein Satz", "der dritte Satz"});
  testing::WriteLines(dir.File("a.en"), {"a small test", "another sentence", "the third sentence"});
  const auto config = [&](const std::string& name, const std::string& distributed) {
    testing::WriteTextFile(dir.File(name),
                           absl::StrCat(R"(
      run_dir: ")",
                                        dir.File("run-" + name), R"("
      data {
        split { name: "train" source: ")",
                                        dir.File("a.de"), R"(" target: ")", dir.File("a.en"), R"(" }
        prepared_dir: ")",
                                        dir.File("out"), R"("
        sentencepiece { vocab_size: 30 }
      }
      model { encoder_layers: 1 decoder_layers: 1 d_model: 16 heads: 2 ffn_dim: 32 }
      optim { max_steps: 1 warmup_steps: 1 }
      distributed { threads: 1 )",
                                        distributed, " }"));
    return dir.File(name);
  };
  const std::string mpi = config("mpi.pbtxt", "backend: MPI device: \"cpu\"");
  Result prepared = RunFathom(absl::StrCat("prepare --config ", mpi));
  ASSERT_EQ(prepared.exit_code, 0) << prepared.output;
  Result trained = RunFathom(absl::StrCat("train --config ", mpi));
  EXPECT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_THAT(trained.output, HasSubstr("MPI communicator"));

  Result nccl = RunFathom(
      absl::StrCat("train --config ", config("nccl.pbtxt", "backend: NCCL device: \"cpu\"")));
  EXPECT_EQ(nccl.exit_code, 2) << nccl.output;
  EXPECT_THAT(nccl.output, HasSubstr("distributed.backend: NCCL moves CUDA tensors"));
}

// model.pretrained_embeddings reaches the model at initialisation: vectors for the source pieces
// they cover, 16 wide under a d_model of 32 (a projection is added), standardised, the coverage
// logged; a file that covers no piece is an error naming the field.
TEST(CliTest, TrainLoadsPretrainedEmbeddings) {
  testing::TempDir dir;
  std::string vectors;
  int words = 0;
  for (const char* word :
       {"ein", "eine", "mann", "frau", "hund", "auf", "der", "die", "und", "mit"}) {
    vectors += word;
    for (int i = 0; i < 16; ++i)
      vectors += " " + std::to_string(0.1 * ((i * 7 + words * 3) % 11) - 0.4);
    vectors += "\n";
    ++words;
  }
  testing::WriteTextFile(dir.File("vectors.txt"), vectors);
  testing::TinyRun run;
  run.model_extra = "pretrained_embeddings: \"" + dir.File("vectors.txt") + "\"";
  ASSERT_EQ(testing::MakeTinyRun(dir, run), "");
  auto log = ReadFileToString(dir.File("run/train.log"));
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(*log, HasSubstr("pre-trained embeddings " + dir.File("vectors.txt")));
  EXPECT_THAT(*log, HasSubstr("source pieces covered"));
  EXPECT_THAT(*log, HasSubstr("standardised to the random initialisation's std"));

  testing::WriteTextFile(dir.File("none.txt"), "zzzz 0.1 0.2\n");
  testing::TinyRun none;
  none.name = "none";
  none.model_extra = "pretrained_embeddings: \"" + dir.File("none.txt") + "\"";
  const std::string failed = testing::MakeTinyRun(dir, none);
  EXPECT_THAT(failed, HasSubstr("model.pretrained_embeddings"));
  EXPECT_THAT(failed, HasSubstr("covers none"));
}

TEST(CliTest, ValidPairsLongerThanTheModelAreLeftOutOfTheValidationLoss) {
  // A valid split prepared without the filter keeps every pair, some longer than the model's 16
  // positions: validation must leave them out of its loss (it indexed past the positions and
  // failed the run) and say how many.
  testing::TempDir dir;
  testing::TinyRun run;
  run.data_extra = "split { name: \"valid\" source: \"" + dir.File("train.de") + "\" target: \"" +
                   dir.File("train.en") + "\" apply_filter: false }\n  filter { max_length: 14 }";
  run.model_extra = "max_positions: 16";
  run.extra = "eval { valid_every_steps: 1 }";
  ASSERT_EQ(testing::MakeTinyRun(dir, run), "");
  auto log = ReadFileToString(dir.File("run/train.log"));
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(*log, HasSubstr("longer than model.max_positions (16) left out of the validation "
                              "loss"));
  EXPECT_THAT(*log, HasSubstr("valid | step 2"));
}

TEST(CliTest, ScorePrintsSacreBleuLineAndChecksLineCounts) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("hyp"), {"the cat sat on the mat", "a dog runs"});
  testing::WriteLines(dir.File("ref1"), {"the cat sat on the mat", "a dog runs"});
  testing::WriteLines(dir.File("ref2"), {"there is a cat on the mat", "the dog is running"});
  Result one =
      RunFathom(absl::StrCat("score --hyp ", dir.File("hyp"), " --ref ", dir.File("ref1")));
  EXPECT_EQ(one.exit_code, 0) << one.output;
  EXPECT_THAT(one.output,
              HasSubstr("BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000"));
  EXPECT_THAT(one.output, HasSubstr("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"));
  Result two = RunFathom(absl::StrCat("score --hyp ", dir.File("hyp"), " --ref ", dir.File("ref2"),
                                      " --ref ", dir.File("ref1")));
  EXPECT_THAT(two.output, HasSubstr("nrefs:2|"));
  testing::WriteLines(dir.File("short"), {"only one line"});
  Result bad =
      RunFathom(absl::StrCat("score --hyp ", dir.File("hyp"), " --ref ", dir.File("short")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("short"));
  EXPECT_THAT(RunFathom("score --hyp x").output, HasSubstr("usage: fathom score"));
}

}  // namespace
}  // namespace fathom
