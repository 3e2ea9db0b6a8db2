// Text-to-SQL prediction's input side is `fathom prepare`'s: a Spider slice and GeoQuery's dev
// questions prepared with the fathom binary, then read and encoded through the prediction path
// (prepare::LoadSqlInputs, decode::SqlSourcesFor on the trained run, as `fathom translate
// --spider_json/--text2sql_json` does) give the same pieces, segments, relation ids and db_ids per
// example, and the same batches (relations expanded to pieces, cut to the model's positions) as
// validation builds from the prepared split. Also: the text2sql-data reading (question split,
// variables, schema CSV) and examples that cannot be encoded.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "comm/single_process_communicator.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "data/shard_references.h"
#include "decode/model_loader.h"
#include "decode/shard_sources.h"
#include "decode/sql_prediction.h"
#include "decode/sql_sources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/sql_inputs.h"
#include "prepare/text2sql_data.h"
#include "tests/test_util.h"

namespace fathom::decode {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

std::string Shared(const std::string& path) { return testing::SharedDataDir() + "/" + path; }

// Dev examples from several databases, large schemas among them, in an order of their own.
const std::vector<int> kSpiderSlice = {0,   1,   2,   3,   17,  45,  100, 101, 230,  300,
                                       420, 555, 640, 700, 777, 850, 901, 960, 1000, 1033};

// One prepared directory with a Spider slice (as "train" and, with its gold SQL kept, as
// "spider") and GeoQuery's dev questions ("geo"), and a relation-aware run trained one update on
// it, shared by the tests.
class PredictSqlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto dev = ReadFileToString(Shared("spider/dev.json"));
    ASSERT_TRUE(dev.ok()) << dev.status();
    const Json all = Json::parse(*dev);
    Json slice = Json::array();
    for (int i : kSpiderSlice) slice.push_back(all[i]);
    testing::WriteTextFile(File("spider.json"), slice.dump());
    testing::WriteTextFile(
        File("run.pbtxt"),
        absl::StrCat("run_dir: \"", File("run"), "\"\n", "data {\n  task: TEXT_TO_SQL\n",
                     "  spider_tables: \"", Shared("spider/tables.json"), "\"\n",
                     "  text2sql_schema: \"", Shared("text2sql/geography-schema.csv"), "\"\n",
                     "  split { name: \"train\" spider_json: \"", File("spider.json"),
                     "\" apply_filter: false }\n", "  split { name: \"spider\" spider_json: \"",
                     File("spider.json"), "\" apply_filter: false }\n",
                     "  split { name: \"geo\" text2sql_json: \"", Shared("text2sql/geography.json"),
                     "\" text2sql_split: \"dev\" apply_filter: false }\n", "  prepared_dir: \"",
                     File("prepared"), "\"\n  sentencepiece { vocab_size: 300 }\n}\n",
                     "model { encoder_layers: 1 decoder_layers: 1 d_model: 32 heads: 4 ffn_dim: 64 "
                     "relation_aware: true max_positions: 1024 }\n",
                     "optim { max_steps: 1 warmup_steps: 1 }\n", "distributed { threads: 1 }\n"));
    for (const char* command : {"prepare", "train"}) {
      const testing::CommandResult result =
          testing::RunFathom(absl::StrCat(command, " --config ", File("run.pbtxt")));
      ASSERT_EQ(result.exit_code, 0) << result.output;
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  void SetUp() override {
    ASSERT_TRUE(PathExists(File("run/checkpoints"))) << "no trained run";
    auto model = LoadInferenceModel(File("run"));
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }

  // Every example of `split` as prepared, against the same examples through the prediction path.
  void ExpectPreparedEqualsPredicted(const std::string& split,
                                     const prepare::SqlInputFiles& files) {
    auto dataset = data::ShardDataset::Open(File("prepared"), split);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    auto relations = data::RelationStore::Open(File("prepared"), **dataset);
    ASSERT_TRUE(relations.ok()) << relations.status();
    auto inputs = prepare::LoadSqlInputs(files, /*for_prediction=*/true);
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    auto sources = SqlSourcesFor(model_, *inputs);
    ASSERT_TRUE(sources.ok()) << sources.status();
    ASSERT_EQ(sources->size(), (*dataset)->size());
    EXPECT_EQ(sources->num_problems(), 0);
    auto references = data::ReadShardReferences(File("prepared"), **dataset);
    ASSERT_TRUE(references.ok()) << references.status();
    for (int64_t i = 0; i < sources->size(); ++i) {
      SCOPED_TRACE(absl::StrCat(split, " example ", i));
      const prepare::EncodedSpiderInput& mine = sources->encoded(i);
      std::vector<int> prepared_ids = (*dataset)->Source(i);
      EXPECT_EQ(mine.ids, prepared_ids);
      ASSERT_EQ(mine.num_segments, (*relations)->num_segments(i));
      ASSERT_EQ(static_cast<int>(mine.piece_segments.size()), (*relations)->num_pieces(i));
      EXPECT_TRUE(std::equal(mine.piece_segments.begin(), mine.piece_segments.end(),
                             (*relations)->piece_segments(i)));
      ASSERT_EQ(mine.segment_relations.size(),
                static_cast<size_t>(mine.num_segments) * mine.num_segments);
      EXPECT_TRUE(std::equal(mine.segment_relations.begin(), mine.segment_relations.end(),
                             (*relations)->segment_relations(i)));
      EXPECT_EQ(inputs->examples[i].db_id, (*dataset)->header().db_id(static_cast<int>(i)));
      // The gold SQL prediction writes with --gold_output is the reference prepare kept.
      EXPECT_EQ(OneLine(inputs->examples[i].query), OneLine((*references)[i]));
    }
    // Batches as the decoder gets them: whole, and cut to fewer positions than the longest
    // source has (validation and prediction cut alike), in orders of their own.
    const ShardSources prepared(**dataset, relations->get(), SpecialIdsOf(model_));
    int64_t longest = 0;
    for (int64_t i = 0; i < sources->size(); ++i) longest = std::max(longest, sources->length(i));
    std::vector<int64_t> all(sources->size());
    for (int64_t i = 0; i < sources->size(); ++i) all[i] = sources->size() - 1 - i;
    const std::vector<int64_t> some = {3, 0, sources->size() - 1};
    for (int64_t width : {int64_t{1024}, longest / 2, int64_t{2}}) {
      for (const std::vector<int64_t>& rows : {all, some}) {
        SCOPED_TRACE(absl::StrCat(split, ": width ", width, ", ", rows.size(), " rows"));
        const SourceBatch expected = prepared.MakeBatch(rows, width);
        const SourceBatch actual = sources->MakeBatch(rows, width);
        ASSERT_TRUE(expected.relations.defined());
        ASSERT_TRUE(actual.relations.defined());
        EXPECT_TRUE(torch::equal(actual.source, expected.source));
        EXPECT_TRUE(torch::equal(actual.relations, expected.relations));
      }
    }
    ASSERT_GT(longest, 40) << "the cut widths must cut";
  }

  static testing::TempDir* dir_;
  InferenceModel model_;
};

testing::TempDir* PredictSqlTest::dir_ = nullptr;

TEST_F(PredictSqlTest, SpiderQuestionsEncodeAsPrepareEncodedThem) {
  prepare::SqlInputFiles files;
  files.spider_json = File("spider.json");
  files.spider_tables = Shared("spider/tables.json");
  ExpectPreparedEqualsPredicted("spider", files);
}

TEST_F(PredictSqlTest, GeoQueryQuestionsEncodeAsPrepareEncodedThem) {
  prepare::SqlInputFiles files;
  files.text2sql_json = Shared("text2sql/geography.json");
  files.text2sql_split = "dev";
  files.text2sql_schema = Shared("text2sql/geography-schema.csv");
  ExpectPreparedEqualsPredicted("geo", files);
}

TEST_F(PredictSqlTest, QuestionsThatCannotBeEncodedAreNamedOrPredictedEmpty) {
  testing::WriteTextFile(File("bad.json"), R"([
    {"question": "How many singers do we have?", "db_id": "concert_singer"},
    {"question": "How many pets?", "db_id": "no_such_db", "query": "SELECT 1"},
    {"db_id": "pets_1"},
    42
  ])");
  prepare::SqlInputFiles files;
  files.spider_json = File("bad.json");
  files.spider_tables = Shared("spider/tables.json");
  auto inputs = prepare::LoadSqlInputs(files, /*for_prediction=*/true);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->examples.size(), 4u);
  auto sources = SqlSourcesFor(model_, *inputs);
  ASSERT_TRUE(sources.ok()) << sources.status();
  EXPECT_EQ(sources->num_problems(), 3);
  EXPECT_EQ(sources->problem(0), "") << "no query is fine for prediction";
  EXPECT_GT(sources->length(0), 0);
  EXPECT_THAT(sources->problem(1), AllOf(HasSubstr(File("bad.json")), HasSubstr("element 1"),
                                         HasSubstr("unknown db_id \"no_such_db\"")));
  EXPECT_THAT(sources->problem(2), AllOf(HasSubstr("element 2"), HasSubstr("question")));
  EXPECT_THAT(sources->problem(3), AllOf(HasSubstr("element 3"), HasSubstr("object")));
  for (int64_t i = 1; i < 4; ++i) EXPECT_EQ(sources->length(i), 0);
  // prepare reads the same file strictly: the first bad element fails it.
  EXPECT_THAT(std::string(prepare::LoadSqlInputs(files, false).status().message()),
              HasSubstr("element 0: field \"query\""));

  comm::SingleProcessCommunicator comm;
  TranslateOptions options;
  options.beam.beam = 1;
  options.beam.max_len_a = 0;
  options.beam.max_len_b = 3;
  auto refused = PredictSql(model_, *inputs, options, /*skip_bad=*/false, comm);
  EXPECT_THAT(std::string(refused.status().message()),
              AllOf(HasSubstr("element 1"), HasSubstr("--on_bad_line skip")));
  auto skipped = PredictSql(model_, *inputs, options, /*skip_bad=*/true, comm);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->skipped, 3);
  ASSERT_EQ(skipped->sql.size(), 4u);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(skipped->sql[i], "");
  EXPECT_THAT(skipped->db_ids, ElementsAre("concert_singer", "no_such_db", "pets_1", ""));
  EXPECT_EQ(GoldFormat({"SELECT 1", ""}, {"a", "b"}), "SELECT 1\ta\n\tb\n");
  EXPECT_EQ(OneLine(" SELECT\ta\nFROM t\r "), "SELECT a FROM t");
}

TEST(Text2SqlDataTest, QuestionSplitsFillInTheirVariables) {
  const std::string geo = Shared("text2sql/geography.json");
  std::map<std::string, size_t> counts;
  for (const char* split : {"train", "dev", "test"}) {
    auto examples = prepare::LoadText2SqlExamples(geo, split);
    ASSERT_TRUE(examples.ok()) << examples.status();
    counts[split] = examples->size();
    for (const prepare::SpiderExample& e : *examples) {
      EXPECT_EQ(e.db_id, "geography");
      EXPECT_THAT(e.question, Not(HasSubstr("state_name0"))) << e.question;
      EXPECT_THAT(e.query, Not(HasSubstr("\"state_name0\""))) << e.query;
    }
  }
  EXPECT_EQ(counts["train"], 549u);
  EXPECT_EQ(counts["dev"], 49u);
  EXPECT_EQ(counts["test"], 279u);
  auto dev = prepare::LoadText2SqlExamples(geo, "dev");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)[0].question, "what is the biggest city in arizona");
  EXPECT_THAT((*dev)[0].query, AllOf(HasSubstr("STATE_NAME = 'arizona'"),
                                     ::testing::StartsWith("SELECT CITYalias0.CITY_NAME FROM")));
  EXPECT_THAT(std::string(prepare::LoadText2SqlExamples(geo, "valid").status().message()),
              AllOf(HasSubstr(geo), HasSubstr("\"valid\""), HasSubstr("dev, test, train")));

  // ATIS writes numbers as bare words; a question without a value takes the entry's example.
  prepare::Text2SqlEntry entry;
  entry.examples = {{"year0", "1991"}, {"city_name0", "BOSTON"}};
  prepare::Text2SqlQuestion question;
  question.variables = {{"year0", ""}, {"city_name0", "DENVER"}};
  const auto values = prepare::QuestionVariables(entry, question);
  EXPECT_EQ(prepare::SubstituteVariables(
                "SELECT x FROM t WHERE y = year0 AND c = \"city_name0\" AND z = year01", values),
            "SELECT x FROM t WHERE y = 1991 AND c = 'DENVER' AND z = year01");
  EXPECT_EQ(prepare::SubstituteQuestion("flights  from city_name0 in year0\t", values),
            "flights from DENVER in 1991");
  EXPECT_EQ(prepare::Text2SqlDbId("/a/b/atis.json"), "atis");
}

TEST(Text2SqlDataTest, SchemaCsvBecomesASpiderSchema) {
  auto schema = prepare::LoadText2SqlSchema(Shared("text2sql/geography-schema.csv"), "geography");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->db_id, "geography");
  EXPECT_THAT(schema->table_names_original, ElementsAre("STATE", "BORDER_INFO", "CITY", "HIGHLOW",
                                                        "RIVER", "MOUNTAIN", "ROAD", "LAKE"));
  EXPECT_EQ(schema->table_names[1], "border info");
  ASSERT_GE(schema->columns.size(), 2u);
  EXPECT_EQ(schema->columns[0].name_original, "*");
  EXPECT_EQ(schema->columns[0].table, -1);
  EXPECT_EQ(schema->columns[1].name_original, "STATE_NAME");
  EXPECT_EQ(schema->columns[1].name, "state name");
  EXPECT_EQ(schema->columns[1].type, "text");
  EXPECT_EQ(schema->columns[3].type, "number");  // POPULATION int(11)
  EXPECT_EQ(schema->primary_keys.front(), 1);
  // BORDER_INFO.STATE_NAME and CITY.STATE_NAME refer to STATE.STATE_NAME.
  auto column = [&](const std::string& table, const std::string& name) {
    for (size_t c = 0; c < schema->columns.size(); ++c) {
      const auto& col = schema->columns[c];
      if (col.table >= 0 && schema->table_names_original[col.table] == table &&
          col.name_original == name) {
        return static_cast<int>(c);
      }
    }
    return -1;
  };
  const int state = column("STATE", "STATE_NAME");
  EXPECT_THAT(schema->foreign_keys,
              ::testing::IsSupersetOf({std::make_pair(column("BORDER_INFO", "STATE_NAME"), state),
                                       std::make_pair(column("CITY", "STATE_NAME"), state)}));
  for (const auto& [from, to] : schema->foreign_keys) EXPECT_NE(from, to);

  // Without a schema file (ATIS here): the db_id alone.
  auto bare = prepare::Text2SqlSchemaFor("", "atis");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->db_id, "atis");
  EXPECT_TRUE(bare->columns.empty());
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bad.csv"), "Table Name, Field Name\nA, B, y\n");
  EXPECT_THAT(std::string(prepare::LoadText2SqlSchema(dir.File("bad.csv"), "x").status().message()),
              AllOf(HasSubstr(dir.File("bad.csv") + ":2"), HasSubstr("5 comma-separated")));
}

}  // namespace
}  // namespace fathom::decode
