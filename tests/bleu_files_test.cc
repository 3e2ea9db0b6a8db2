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
