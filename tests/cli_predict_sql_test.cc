// `fathom translate --spider_json / --text2sql_json` as a user meets it: SQL predicted from a
// trained relation-aware checkpoint, written as SQL<TAB>db_id in input order, scored by `fathom
// sql-eval` (Spider exact match, GeoQuery execution on its SQLite dump); two MPI ranks write what
// one writes; questions that cannot be encoded fail or, with --on_bad_line skip, get empty SQL;
// usage errors exit 2.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
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
using Json = nlohmann::json;
using Result = testing::CommandResult;
using testing::RunFathom;

std::string Shared(const std::string& path) { return testing::SharedDataDir() + "/" + path; }

std::vector<std::string> Lines(const std::string& path) {
  auto text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return {};
  std::vector<std::string> lines = absl::StrSplit(*text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// "exact match: N of M" or "execution: N of M" of `fathom sql-eval`'s summary; -1 if absent.
int Count(const std::string& output, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(what + ": ([0-9]+) of ([0-9]+)"))) return -1;
  return std::stoi(m[1]);
}

constexpr char kDecode[] = " --beam 2 --max_len_a 0 --max_len_b 60 --threads 1";

// A relation-aware model that has learned the first 64 Spider dev questions by heart (a few
// hundred updates), so that exact match has something to count.
class PredictSqlCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto dev = ReadFileToString(Shared("spider/dev.json"));
    ASSERT_TRUE(dev.ok()) << dev.status();
    const Json all = Json::parse(*dev);
    Json slice = Json::array();
    for (int i = 0; i < 64; ++i) slice.push_back(all[i]);
    testing::WriteTextFile(File("dev64.json"), slice.dump());
    testing::WriteLines(File("gold64.sql"), [] {
      std::vector<std::string> gold = Lines(Shared("spider/dev_gold.sql"));
      gold.resize(64);
      return gold;
    }());
    testing::WriteTextFile(
        File("run.pbtxt"),
        absl::StrCat(
            "run_dir: \"", File("run"), "\"\n", "data {\n  task: TEXT_TO_SQL\n",
            "  spider_tables: \"", Shared("spider/tables.json"), "\"\n",
            "  split { name: \"train\" spider_json: \"", File("dev64.json"),
            "\" apply_filter: false }\n  prepared_dir: \"", File("prepared"),
            "\"\n  sentencepiece { vocab_size: 250 }\n}\n",
            "model { encoder_layers: 1 decoder_layers: 1 d_model: 64 heads: 4 ffn_dim: 128 "
            "relation_aware: true max_positions: 256 dropout: 0 }\n",
            "init { method: PRE_LN }\n",
            "optim { max_steps: 200 warmup_steps: 10 lr: 5e-3 label_smoothing: 0 }\n",
            "eval { log_every_steps: 100 valid_every_steps: 1000 }\n",
            "checkpoint { save_every_steps: 1000 }\n", "distributed { threads: 2 }\n"));
    for (const char* command : {"prepare", "train"}) {
      const Result result = RunFathom(absl::StrCat(command, " --config ", File("run.pbtxt")));
      ASSERT_EQ(result.exit_code, 0) << result.output;
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  static testing::TempDir* dir_;
};

testing::TempDir* PredictSqlCliTest::dir_ = nullptr;

TEST_F(PredictSqlCliTest, SpiderPredictionsScoreWithSqlEvalAndTwoRanksWriteTheSame) {
  // --tables defaults to the run's data.spider_tables.
  Result one = RunFathom(absl::StrCat("translate --checkpoint ", File("run"), " --spider_json ",
                                      File("dev64.json"), " --output ", File("pred1.sql"),
                                      " --gold_output ", File("gold.sql"), kDecode));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_THAT(one.output,
              AllOf(HasSubstr("predicting SQL for 64 questions"), HasSubstr("with relation ids")));
  const std::vector<std::string> predictions = Lines(File("pred1.sql"));
  ASSERT_EQ(predictions.size(), 64u);
  const std::vector<std::string> gold = Lines(File("gold.sql"));
  ASSERT_EQ(gold.size(), 64u);
  for (size_t i = 0; i < predictions.size(); ++i) {
    const std::string db_id = gold[i].substr(gold[i].rfind('\t') + 1);
    EXPECT_THAT(predictions[i], ::testing::EndsWith("\t" + db_id)) << "line " << i + 1;
  }
  EXPECT_EQ(gold[0], "SELECT count(*) FROM singer\tconcert_singer");

  Result scored =
      RunFathom(absl::StrCat("sql-eval --gold ", File("gold.sql"), " --pred ", File("pred1.sql"),
                             " --tables ", Shared("spider/tables.json")));
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  std::printf("%s", scored.output.c_str());
  const int matched = Count(scored.output, "exact match");
  EXPECT_GT(matched, 3) << "the model learned nothing; the pipeline proves little";
  // The official gold file scores the same predictions alike.
  Result official =
      RunFathom(absl::StrCat("sql-eval --gold ", File("gold64.sql"), " --pred ", File("pred1.sql"),
                             " --tables ", Shared("spider/tables.json")));
  ASSERT_EQ(official.exit_code, 0) << official.output;
  EXPECT_EQ(Count(official.output, "exact match"), matched);

  Result two = testing::RunShell(
      absl::StrCat("mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,tcp --mca "
                   "btl_tcp_if_include lo ",
                   testing::FathomBinary(), " translate --checkpoint ", File("run"),
                   " --spider_json ", File("dev64.json"), " --tables ",
                   Shared("spider/tables.json"), " --output ", File("pred2.sql"), kDecode));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_EQ(Lines(File("pred2.sql")), predictions);
}

TEST_F(PredictSqlCliTest, QuestionsThatCannotBeEncodedFailOrArePredictedEmpty) {
  testing::WriteTextFile(File("bad.json"), R"([
    {"question": "How many singers do we have?", "db_id": "concert_singer"},
    {"question": "How many pets?", "db_id": "no_such_db"},
    {"question": "What is the average age of all singers?", "db_id": "concert_singer"}
  ])");
  const std::string common = absl::StrCat("translate --checkpoint ", File("run"), " --spider_json ",
                                          File("bad.json"), " --output ", File("bad.sql"), kDecode);
  Result refused = RunFathom(common);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output,
              AllOf(HasSubstr(File("bad.json")), HasSubstr("element 1"), HasSubstr("no_such_db")));
  Result skipped = RunFathom(common + " --on_bad_line skip");
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_THAT(skipped.output,
              AllOf(HasSubstr("1 question(s) could not be encoded"), HasSubstr("element 1")));
  const std::vector<std::string> lines = Lines(File("bad.sql"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "\tno_such_db");
  EXPECT_NE(lines[0], "\tconcert_singer") << "the others are predicted";
}

TEST_F(PredictSqlCliTest, UsageErrorsExitWithTwo) {
  const std::string run = absl::StrCat("translate --checkpoint ", File("run"));
  const std::string spider = absl::StrCat(" --spider_json ", File("dev64.json"));
  for (const std::string& flags :
       {absl::StrCat(spider, " --text2sql_json ", Shared("text2sql/geography.json")),
        absl::StrCat(spider, " --input ", File("gold64.sql")), spider + " --nbest 2",
        absl::StrCat(" --input ", File("gold64.sql"), " --tables ",
                     Shared("spider/tables.json"))}) {
    Result result = RunFathom(run + flags);
    EXPECT_EQ(result.exit_code, 2) << flags << "\n" << result.output;
  }
  // Plain text would reach a relation-aware encoder without its relations.
  Result text = RunFathom(absl::StrCat(run, " --input ", File("gold64.sql")));
  EXPECT_EQ(text.exit_code, 2) << text.output;
  EXPECT_THAT(text.output, AllOf(HasSubstr("relation-aware"), HasSubstr("--spider_json")));
}

// GeoQuery: a tiny model trained one update on the train questions predicts the dev questions;
// the gold SQL comes from the same file (--gold_output) and both run on the SQLite dump.
TEST(PredictSqlGeoQueryCliTest, PredictionsAndGoldRunOnTheDump) {
  testing::TempDir dir;
  const std::string geo = Shared("text2sql/geography.json");
  testing::WriteTextFile(
      dir.File("geo.pbtxt"),
      absl::StrCat("run_dir: \"", dir.File("run"), "\"\n", "data {\n  task: TEXT_TO_SQL\n",
                   "  text2sql_schema: \"", Shared("text2sql/geography-schema.csv"), "\"\n",
                   "  split { name: \"train\" text2sql_json: \"", geo, "\" }\n",
                   "  filter { max_length_ratio: 0 }\n", "  prepared_dir: \"", dir.File("prepared"),
                   "\"\n  sentencepiece { vocab_size: 400 }\n}\n",
                   "model { encoder_layers: 1 decoder_layers: 1 d_model: 32 heads: 4 ffn_dim: 64 "
                   "relation_aware: true max_positions: 512 }\n",
                   "optim { max_steps: 1 warmup_steps: 1 }\n", "distributed { threads: 1 }\n"));
  for (const char* command : {"prepare", "train"}) {
    const Result result = RunFathom(absl::StrCat(command, " --config ", dir.File("geo.pbtxt")));
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  // --tables defaults to the run's data.text2sql_schema.
  Result predicted = RunFathom(
      absl::StrCat("translate --checkpoint ", dir.File("run"), " --text2sql_json ", geo,
                   " --text2sql_split dev --output ", dir.File("pred.sql"), " --gold_output ",
                   dir.File("gold.sql"), " --beam 1 --max_len_a 0 --max_len_b 8 --threads 1"));
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const std::vector<std::string> gold = Lines(dir.File("gold.sql"));
  ASSERT_EQ(gold.size(), 49u);
  EXPECT_EQ(Lines(dir.File("pred.sql")).size(), 49u);
  EXPECT_THAT(gold[0],
              AllOf(HasSubstr("STATE_NAME = 'arizona'"), ::testing::EndsWith(" ;\tgeography")));
  const std::string dump = Shared("text2sql/geography-db.sql");
  Result scored = RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                         dir.File("pred.sql"), " --db_sql ", dump));
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  EXPECT_GE(Count(scored.output, "execution"), 0);
  EXPECT_THAT(scored.output, HasSubstr("of 49 correct"));
  // The gold SQL, variables filled in, runs and matches itself, but for one dev question whose
  // gold names a derived table outside its scope (MySQL refuses it too; sql_execution_test).
  Result self = RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                       dir.File("gold.sql"), " --db_sql ", dump));
  ASSERT_EQ(self.exit_code, 0) << self.output;
  EXPECT_EQ(Count(self.output, "execution"), 48) << self.output;
  EXPECT_THAT(self.output, HasSubstr("gold errors 1"));
}

}  // namespace
}  // namespace fathom
