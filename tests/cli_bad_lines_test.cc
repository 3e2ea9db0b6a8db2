// Hostile lines in `fathom translate` and `fathom score` input (issue 16), with a real checkpoint
// of a model with only 64 positions: a line the model cannot end decodes without indexing past
// its positions, over-long sources are cut with a warning that counts them, empty and blank
// lines translate to empty lines, and a line that is not UTF-8 fails the job naming it
// (--on_bad_line error, the default) or becomes an empty line counted in a warning
// (--on_bad_line skip). Every run keeps one output line per input line.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Result = testing::CommandResult;
using testing::RunFathom;

constexpr int kMaxPositions = 64;

std::string Repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// A real run: Multi30k slice, 2 training steps of a 1+1-layer model with 64 positions.
class BadLinesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    // Training pairs must fit the positions too (BOS + target).
    testing::TinyRun run;
    run.data_extra = "filter { max_length: 60 }";
    run.model_extra = absl::StrCat("max_positions: ", kMaxPositions);
    ASSERT_EQ(testing::MakeTinyRun(*dir_, run), "");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  // Translates `lines` (written to a file as given, so bytes may be invalid UTF-8) with `flags`;
  // the output file's lines land in `out`.
  Result Translate(const std::vector<std::string>& lines, const std::string& flags,
                   std::vector<std::string>* out) {
    std::string text;
    for (const std::string& line : lines) absl::StrAppend(&text, line, "\n");
    testing::WriteTextFile(input(), text);
    Result result =
        RunFathom(absl::StrCat("translate --checkpoint ", File("run"), " --input ", input(),
                               " --output ", output(), " --beam 2 --threads 1 ", flags));
    out->clear();
    if (result.exit_code == 0) *out = OutputLines();
    return result;
  }
  std::string input() const { return scratch_.File("input.de"); }
  std::string output() const { return scratch_.File("output.en"); }
  // The lines of the output file: one per '\n', which must end the file.
  std::vector<std::string> OutputLines() const {
    auto text = ReadFileToString(output());
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok() || text->empty()) return {};
    EXPECT_EQ(text->back(), '\n');
    std::vector<std::string> lines = absl::StrSplit(*text, '\n');
    lines.pop_back();  // after the final newline
    return lines;
  }

  static testing::TempDir* dir_;
  testing::TempDir scratch_;
};

testing::TempDir* BadLinesTest::dir_ = nullptr;

// "sehr" 200 times and "ein Mann, " 60 times are hundreds of pieces: cut to 63, each asks for
// 1.2 * 63 + 10 = 85 output pieces, past the 64 positions (the job used to die with
// "start (64) + length (1) exceeds dimension size (64)" and print nothing).
TEST_F(BadLinesTest, OverLongLinesDecodeWithinThePositionsAndAreCounted) {
  const std::vector<std::string> lines = {"Ein Hund läuft durch den Schnee.", Repeat("sehr ", 200),
                                          "Zwei Männer stehen.", Repeat("ein Mann, ", 60),
                                          "Eine Frau."};
  std::vector<std::string> out;
  Result result = Translate(lines, "", &out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(out.size(), lines.size()) << result.output;
  EXPECT_THAT(result.output,
              AllOf(HasSubstr("WARNING] 2 of 5 source sentence(s) longer than the model's 63 "
                              "positions"),
                    HasSubstr("cut to their first 63 pieces"), Not(HasSubstr("exceeds"))));
  // A larger length rule changes nothing: the positions cap it.
  result = Translate(lines, "--max_len_a 50 --max_len_b 1000", &out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(out.size(), lines.size());
  // Nothing cut, nothing said.
  result = Translate({"Ein Hund."}, "", &out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("WARNING")));
}

TEST_F(BadLinesTest, EmptyAndBlankLinesTranslateToEmptyLines) {
  const std::vector<std::string> lines = {"Ein Hund läuft.", "", "   ", " \t ", "Zwei Männer.", ""};
  std::vector<std::string> out;
  Result result = Translate(lines, "", &out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(out.size(), lines.size()) << result.output;
  for (size_t i : {1, 2, 3, 5}) EXPECT_EQ(out[i], "") << "line " << i + 1;
  // The same with n-best lists: one empty hypothesis, not an invented one.
  result = Translate(lines, "--nbest 2", &out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(out.size(), lines.size());
  for (size_t i : {1, 2, 3, 5}) EXPECT_EQ(out[i], "") << "line " << i + 1;
}

TEST_F(BadLinesTest, InvalidUtf8FailsNamingTheLineOrIsSkippedAsAnEmptyLine) {
  const std::vector<std::string> lines = {"Ein Hund.",  "Zwei Männer.", "Ein \xff Hund.",
                                          "Eine Frau.", "\xc3",         "Ein Kind."};
  std::vector<std::string> out;
  for (const std::string flags : {"", "--on_bad_line error"}) {
    Result failed = Translate(lines, flags, &out);
    EXPECT_EQ(failed.exit_code, 1) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr(input() + ":3: invalid UTF-8 at byte 5 of the line"));
  }
  Result skipped = Translate(lines, "--on_bad_line skip", &out);
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  ASSERT_EQ(out.size(), lines.size()) << skipped.output;
  EXPECT_EQ(out[2], "");
  EXPECT_EQ(out[4], "");
  EXPECT_THAT(skipped.output, AllOf(HasSubstr("WARNING] 2 input line(s) could not be read"),
                                    HasSubstr(input() + ":3: invalid UTF-8 at byte 5"),
                                    HasSubstr(input() + ":5: invalid UTF-8 at byte 1")));
  // The other lines translate as they do without the bad ones.
  std::vector<std::string> good;
  Result alone = Translate({lines[0], lines[1], lines[3], lines[5]}, "", &good);
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  ASSERT_EQ(good.size(), 4u);
  EXPECT_EQ((std::vector<std::string>{out[0], out[1], out[3], out[5]}), good);
}

TEST_F(BadLinesTest, StdinIsReadLikeAFile) {
  testing::WriteTextFile(input(), "Ein Hund.\nEin \xff Hund.\n");
  const std::string translate =
      absl::StrCat("translate --checkpoint ", File("run"), " --beam 2 --threads 1 ");
  Result failed = RunFathom(absl::StrCat(translate, "< ", input()));
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_THAT(failed.output, HasSubstr("stdin:2: invalid UTF-8 at byte 5 of the line"));
  Result skipped =
      RunFathom(absl::StrCat(translate, "--on_bad_line skip --output ", output(), " < ", input()));
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_THAT(skipped.output, HasSubstr("stdin:2: invalid UTF-8"));
  const std::vector<std::string> out = OutputLines();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "");
}

TEST_F(BadLinesTest, UnknownOnBadLineIsAUsageError) {
  std::vector<std::string> out;
  Result result = Translate({"Ein Hund."}, "--on_bad_line ignore", &out);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--on_bad_line"));
  Result score =
      RunFathom(absl::StrCat("score --hyp ", input(), " --ref ", input(), " --on_bad_line x"));
  EXPECT_EQ(score.exit_code, 2) << score.output;
  EXPECT_THAT(score.output, HasSubstr("--on_bad_line"));
}

// score: an unreadable hypothesis or reference line scores as an empty line under skip, and a
// segment left without reference is left out; under error (the default) each fails naming it.
TEST_F(BadLinesTest, ScoreSkipsBadLinesWhenAsked) {
  const std::string hyp = scratch_.File("hyp.txt"), ref = scratch_.File("ref.txt"),
                    hyp_blank = scratch_.File("hyp_blank.txt"), ref_gap = scratch_.File("gap.txt");
  testing::WriteTextFile(hyp, "a dog runs\ntwo \xff men stand\na cat sleeps\n");
  testing::WriteTextFile(hyp_blank, "a dog runs\n\na cat sleeps\n");
  testing::WriteTextFile(ref, "a dog is running\ntwo men are standing\na cat is sleeping\n");
  for (const std::string flags : {"", "--on_bad_line error"}) {
    Result failed = RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", ref, " ", flags));
    EXPECT_EQ(failed.exit_code, 1) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr(hyp + ":2: invalid UTF-8 at byte 5 of the line"));
  }
  Result skipped =
      RunFathom(absl::StrCat("score --hyp ", hyp, " --ref ", ref, " --on_bad_line skip"));
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_THAT(skipped.output,
              AllOf(HasSubstr("BLEU = "), HasSubstr("WARNING] 1 bad line(s) skipped"),
                    HasSubstr(hyp + ":2: invalid UTF-8 at byte 5")));
  // The bad line counts as an empty hypothesis: the score of the file with that line blank.
  Result blank = RunFathom(absl::StrCat("score --hyp ", hyp_blank, " --ref ", ref));
  ASSERT_EQ(blank.exit_code, 0) << blank.output;
  const std::string blank_score = blank.output.substr(0, blank.output.find('\n'));
  EXPECT_THAT(blank_score, HasSubstr("BLEU = "));
  EXPECT_THAT(skipped.output, HasSubstr(blank_score));

  // A reference line that is not UTF-8 leaves segment 2 without reference: left out.
  testing::WriteTextFile(ref_gap, "a dog is running\n\xfe\na cat is sleeping\n");
  Result gap_error = RunFathom(absl::StrCat("score --hyp ", hyp_blank, " --ref ", ref_gap));
  EXPECT_EQ(gap_error.exit_code, 1) << gap_error.output;
  EXPECT_THAT(gap_error.output, HasSubstr(ref_gap + ":2: invalid UTF-8 at byte 1"));
  Result gap_skip =
      RunFathom(absl::StrCat("score --hyp ", hyp_blank, " --ref ", ref_gap, " --on_bad_line skip"));
  ASSERT_EQ(gap_skip.exit_code, 0) << gap_skip.output;
  EXPECT_THAT(gap_skip.output,
              AllOf(HasSubstr("WARNING] 2 bad line(s) skipped"),
                    HasSubstr(ref_gap + ":2: invalid UTF-8 at byte 1"),
                    HasSubstr(ref_gap + ":2: empty reference line"), HasSubstr("left out")));
}

}  // namespace
}  // namespace fathom
