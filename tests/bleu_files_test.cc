// ScoreFiles: reading files like sacreBLEU's CLI, and errors that name the files.
#include <string>
#include <vector>

#include "eval/bleu/score_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom::eval {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(BleuFilesTest, ScoresTheReadmeExampleFromFiles) {
  testing::TempDir dir;
  // CRLF endings and trailing spaces are stripped (sacreBLEU's CLI rstrips every line).
  testing::WriteTextFile(dir.File("hyp"),
                         "The dog bit the man.\r\nIt wasn't surprising.  \nThe man had just "
                         "bitten him.");
  testing::WriteLines(dir.File("ref1"),
                      {"The dog bit the man.", "It was not unexpected.", "The man bit him first."});
  testing::WriteLines(dir.File("ref2"), {"The dog had bit the man.", "No one was surprised.",
                                         "The man had bitten the dog."});
  absl::StatusOr<ScoreResult> result =
      ScoreFiles(dir.File("hyp"), {dir.File("ref1"), dir.File("ref2")}, ScoreOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->name, "BLEU");
  EXPECT_EQ(result->segments, 3);
  EXPECT_NEAR(result->score, 48.530827, 1e-6);
  EXPECT_EQ(
      result->line,
      "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
  EXPECT_EQ(result->signature, "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");

  ScoreOptions chrf;
  chrf.metric = Metric::kChrf;
  result = ScoreFiles(dir.File("hyp"), {dir.File("ref1"), dir.File("ref2")}, chrf);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->line, "chrF2 = 59.73");
}

TEST(BleuFilesTest, Errors) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("hyp"), {"a b c", "d e f"});
  testing::WriteLines(dir.File("ref"), {"a b c"});
  testing::WriteTextFile(dir.File("empty"), "");
  testing::WriteLines(dir.File("bad_utf8"), {"ok", "caf\xC3"});
  testing::WriteLines(dir.File("ref_gap"), {"a b c", ""});
  const ScoreOptions options;

  absl::StatusOr<ScoreResult> result = ScoreFiles(dir.File("nope"), {dir.File("ref")}, options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr(dir.File("nope")));

  result = ScoreFiles(dir.File("hyp"), {dir.File("ref")}, options);
  EXPECT_THAT(result.status().message(), AllOf(HasSubstr(dir.File("hyp") + " has 2 lines"),
                                               HasSubstr(dir.File("ref") + " has 1")));

  result = ScoreFiles(dir.File("empty"), {dir.File("empty")}, options);
  EXPECT_THAT(result.status().message(), HasSubstr(dir.File("empty") + ": empty"));

  result = ScoreFiles(dir.File("hyp"), {dir.File("bad_utf8")}, options);
  EXPECT_THAT(result.status().message(), HasSubstr(dir.File("bad_utf8") + ":2: invalid UTF-8"));

  result = ScoreFiles(dir.File("hyp"), {dir.File("ref_gap")}, options);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr(dir.File("ref_gap") + ":2"), HasSubstr("empty reference")));

  EXPECT_FALSE(ScoreFiles(dir.File("hyp"), {}, options).ok());
  EXPECT_FALSE(ParseMetric("ter").ok());
}

// Found by tests/fuzz/score_fuzzer under AddressSanitizer: files of up to 15 bytes were held in
// std::string's inline buffer, which moved with the file and left the lines' views pointing into
// a dead stack frame, so a hypothesis was scored against whatever the next read left there
// ("the cat sat" against "a dog ran" gave BLEU 66.87).
TEST(BleuFilesTest, ShortFilesAreScoredAsWritten) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("hyp"), "the cat sat\n");
  testing::WriteTextFile(dir.File("ref"), "a dog ran\n");
  absl::StatusOr<ScoreResult> result = ScoreFiles(dir.File("hyp"), {dir.File("ref")}, {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->line,
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 1.000 hyp_len = 3 ref_len = 3)");
  testing::WriteTextFile(dir.File("same"), "a b c d e f\n");
  result = ScoreFiles(dir.File("same"), {dir.File("same")}, {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->score, 100.0, 1e-9);
}

// Found by tests/fuzz/score_fuzzer: `fathom score --max_ngram_order -1` sized a vector by the
// order (2^64 - 1 entries, an abort) and --metric chrf --chrf_word_order -1 wrote past chrF's
// statistics. Orders are checked before any file is read.
TEST(BleuFilesTest, OrdersOutOfRangeAreErrors) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("hyp"), {"a b c d e"});
  const std::vector<absl::string_view> hyps = {"a b c d e"};
  for (int order : {-1, 0, 33}) {
    ScoreOptions options;
    options.bleu.max_ngram_order = order;
    absl::StatusOr<ScoreResult> result = ScoreFiles(dir.File("hyp"), {dir.File("hyp")}, options);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << order;
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("max_ngram_order")) << order;
    EXPECT_FALSE(ScoreLines(hyps, {hyps}, options).ok()) << order;
  }
  ScoreOptions chrf;
  chrf.metric = Metric::kChrf;
  chrf.chrf.word_order = -1;
  absl::StatusOr<ScoreResult> result = ScoreFiles(dir.File("hyp"), {dir.File("hyp")}, chrf);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("word_order"));
  chrf.chrf.word_order = 2;
  chrf.chrf.char_order = 0;
  EXPECT_THAT(std::string(ScoreLines(hyps, {hyps}, chrf).status().message()),
              HasSubstr("char_order"));
  chrf.chrf.char_order = 6;
  result = ScoreFiles(dir.File("hyp"), {dir.File("hyp")}, chrf);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->line, "chrF2++ = 100.00");
}

TEST(BleuFilesTest, IdenticalFilesScore100) {
  const std::string path = testing::SharedDataDir() + "/translation/news-de-en/newstest2014.eng";
  absl::StatusOr<ScoreResult> result = ScoreFiles(path, {path}, ScoreOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->segments, 3003);
  EXPECT_NEAR(result->score, 100.0, 1e-9);
  EXPECT_EQ(result->line.substr(0, 37), "BLEU = 100.00 100.0/100.0/100.0/100.0");
}

}  // namespace
}  // namespace fathom::eval
