// Bad input to `fathom translate` and `fathom score`, as a user meets it: a checkpoint whose
// vocabulary is not the SentencePiece model's, a truncated checkpoint, hypothesis and reference
// files of different lengths, empty or missing input. Each exits 1 naming the file.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Result = testing::CommandResult;
using testing::RunFathom;
namespace fs = std::filesystem;

// A real run: Multi30k slice, 2 training steps of a small model, one checkpoint.
class EvalErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    testing::WriteLines(
        File("input.de"),
        testing::ReadGzipLines(testing::SharedDataDir() + "/translation/multi30k/val.de.gz", 5));
    ASSERT_EQ(testing::MakeTinyRun(*dir_, {}), "");
    // A second vocabulary (250 pieces) for the mismatch test; prepared, not trained.
    testing::TinyRun other;
    other.name = "other";
    other.vocab = 250;
    other.train = false;
    ASSERT_EQ(testing::MakeTinyRun(*dir_, other), "");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  // A copy of the run to damage; returns its directory.
  std::string CopyOfRun() {
    const std::string copy = copies_.File("run");
    fs::copy(File("run"), copy, fs::copy_options::recursive);
    return copy;
  }
  std::string CheckpointDir(const std::string& run) {
    auto latest = ReadFileToString(run + "/checkpoints/LATEST");
    EXPECT_TRUE(latest.ok()) << latest.status();
    std::string name = latest.ok() ? *latest : "";
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    return run + "/checkpoints/" + name;
  }
  std::string Translate(const std::string& checkpoint) {
    return absl::StrCat("translate --checkpoint ", checkpoint, " --input ", File("input.de"),
                        " --beam 2 --threads 1");
  }

  static testing::TempDir* dir_;
  testing::TempDir copies_;
};

testing::TempDir* EvalErrorsTest::dir_ = nullptr;

TEST_F(EvalErrorsTest, TheIntactRunTranslates) {
  Result ok = RunFathom(Translate(File("run")));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST_F(EvalErrorsTest, VocabularyThatDoesNotMatchTheCheckpointIsNamed) {
  const std::string run = CopyOfRun();
  fs::copy_file(File("other-prepared/spm.model"), run + "/spm.model",
                fs::copy_options::overwrite_existing);
  for (const std::string& checkpoint : {run, CheckpointDir(run)}) {
    Result result = RunFathom(Translate(checkpoint));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_THAT(result.output, AllOf(HasSubstr(CheckpointDir(run)), HasSubstr(run + "/spm.model"),
                                     HasSubstr("300 / 300 pieces"), HasSubstr("(250)"),
                                     HasSubstr("does not match")));
  }
}

TEST_F(EvalErrorsTest, TruncatedCheckpointIsNamed) {
  const std::string run = CopyOfRun();
  const std::string tensors = CheckpointDir(run) + "/tensors.bin";
  fs::resize_file(tensors, fs::file_size(tensors) / 2);
  Result direct = RunFathom(Translate(CheckpointDir(run)));
  EXPECT_EQ(direct.exit_code, 1) << direct.output;
  EXPECT_THAT(direct.output, HasSubstr(tensors));
  // Through the run directory: no valid checkpoint left, and the one skipped is named.
  Result via_run = RunFathom(Translate(run));
  EXPECT_EQ(via_run.exit_code, 1) << via_run.output;
  EXPECT_THAT(via_run.output, HasSubstr(tensors));
}

TEST_F(EvalErrorsTest, EmptyOrMissingTranslationInputIsNamed) {
  testing::WriteTextFile(copies_.File("empty.de"), "");
  Result empty = RunFathom(
      absl::StrCat("translate --checkpoint ", File("run"), " --input ", copies_.File("empty.de")));
  EXPECT_EQ(empty.exit_code, 1) << empty.output;
  EXPECT_THAT(empty.output, HasSubstr(copies_.File("empty.de") + ": no input lines"));
  Result stdin_empty =
      RunFathom(absl::StrCat("translate --checkpoint ", File("run"), " < /dev/null"));
  EXPECT_EQ(stdin_empty.exit_code, 1) << stdin_empty.output;
  EXPECT_THAT(stdin_empty.output, HasSubstr("stdin: no input lines"));
  Result missing = RunFathom(
      absl::StrCat("translate --checkpoint ", File("run"), " --input ", copies_.File("no.de")));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr(copies_.File("no.de")));
  Result no_run = RunFathom(absl::StrCat("translate --checkpoint ", copies_.File("nowhere"),
                                         " --input ", File("input.de")));
  EXPECT_EQ(no_run.exit_code, 1) << no_run.output;
  EXPECT_THAT(no_run.output, HasSubstr(copies_.File("nowhere")));
}

TEST_F(EvalErrorsTest, ScoreNamesFilesOfDifferentLengthsAndEmptyFiles) {
  const std::string hyp = copies_.File("hyp.txt"), ref = copies_.File("ref.txt"),
                    empty = copies_.File("empty.txt");
  testing::WriteLines(hyp, {"a dog runs", "two men stand", "a cat"});
  testing::WriteLines(ref, {"a dog is running", "two men are standing"});
  testing::WriteTextFile(empty, "");
  Result lengths = RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", ref));
  EXPECT_EQ(lengths.exit_code, 1) << lengths.output;
  EXPECT_THAT(lengths.output,
              AllOf(HasSubstr(hyp), HasSubstr("3 lines"), HasSubstr(ref), HasSubstr("has 2")));
  Result chrf = RunFathom(absl::StrCat("score --metric chrf --hyp ", hyp, " --ref ", ref));
  EXPECT_EQ(chrf.exit_code, 1) << chrf.output;
  EXPECT_THAT(chrf.output, AllOf(HasSubstr(hyp), HasSubstr(ref)));
  Result empty_hyp = RunFathom(absl::StrCat("score --hyp ", empty, " --ref ", ref));
  EXPECT_EQ(empty_hyp.exit_code, 1) << empty_hyp.output;
  EXPECT_THAT(empty_hyp.output, AllOf(HasSubstr(empty), HasSubstr("empty")));
  Result empty_ref = RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", empty));
  EXPECT_EQ(empty_ref.exit_code, 1) << empty_ref.output;
  EXPECT_THAT(empty_ref.output, AllOf(HasSubstr(empty), HasSubstr(hyp)));
  Result missing =
      RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", copies_.File("none.txt")));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr(copies_.File("none.txt")));
  // A blank reference line leaves its segment nothing to match: file and line are named.
  testing::WriteLines(ref, {"a dog", "", "a cat"});
  Result blank = RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", ref));
  EXPECT_EQ(blank.exit_code, 1) << blank.output;
  EXPECT_THAT(blank.output, AllOf(HasSubstr(ref + ":2"), HasSubstr("empty reference line")));
}

}  // namespace
}  // namespace fathom
