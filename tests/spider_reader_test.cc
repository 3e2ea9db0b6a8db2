#include "prepare/spider_reader.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/spider_segments.h"
#include "tests/test_util.h"

namespace fathom::prepare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Debian's absl::string_view prints char by char in gmock failures; a std::string prints whole.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::string SpiderDir() { return fathom::testing::SharedDataDir() + "/spider"; }

// One tables.json entry; tests override single fields to break it.
struct TableFixture {
  std::string db_id = "pets_db";
  std::string table_names = R"(["people", "pets"])";
  std::string table_names_original = R"(["People", "Pets"])";
  std::string column_names =
      R"([[-1, "*"], [0, "person id"], [0, "name"], [1, "pet id"], [1, "owner id"]])";
  std::string column_names_original =
      R"([[-1, "*"], [0, "Person_ID"], [0, "Name"], [1, "Pet_ID"], [1, "Owner_ID"]])";
  std::string column_types = R"(["text", "number", "text", "number", "number"])";
  std::string primary_keys = "[1, 3]";
  std::string foreign_keys = "[[4, 1]]";

  std::string ToJson() const {
    return absl::StrCat("{\"db_id\": \"", db_id, "\", \"table_names\": ", table_names,
                        ", \"table_names_original\": ", table_names_original,
                        ", \"column_names\": ", column_names,
                        ", \"column_names_original\": ", column_names_original,
                        ", \"column_types\": ", column_types, ", \"primary_keys\": ", primary_keys,
                        ", \"foreign_keys\": ", foreign_keys, "}");
  }
};

std::string JsonArray(const std::vector<std::string>& items) {
  return absl::StrCat("[\n", absl::StrJoin(items, ",\n"), "\n]\n");
}

class SpiderReaderTest : public ::testing::Test {
 protected:
  // Writes `tables` as tables.json and returns the loaded schemas (the load must succeed).
  SpiderSchemas WriteAndLoadTables(const std::vector<TableFixture>& tables) {
    std::vector<std::string> items;
    for (const TableFixture& t : tables) items.push_back(t.ToJson());
    fathom::testing::WriteTextFile(tables_path_, JsonArray(items));
    absl::StatusOr<SpiderSchemas> schemas = LoadSpiderTables(tables_path_);
    EXPECT_TRUE(schemas.ok()) << schemas.status();
    return schemas.ok() ? *std::move(schemas) : SpiderSchemas();
  }

  absl::Status TablesError(const std::string& text) {
    fathom::testing::WriteTextFile(tables_path_, text);
    return LoadSpiderTables(tables_path_).status();
  }

  absl::Status ExamplesError(const std::string& text) {
    const SpiderSchemas schemas = WriteAndLoadTables({TableFixture()});
    fathom::testing::WriteTextFile(examples_path_, text);
    return LoadSpiderExamples(examples_path_, schemas).status();
  }

  fathom::testing::TempDir dir_;
  const std::string tables_path_ = dir_.File("my_tables.json");
  const std::string examples_path_ = dir_.File("my_examples.json");
};

// ---- Real Spider release ----

TEST(SpiderRealDataTest, TablesLoad166SchemasWithConcertSingerIntact) {
  const std::string path = SpiderDir() + "/tables.json";
  absl::StatusOr<SpiderSchemas> schemas = LoadSpiderTables(path);
  ASSERT_TRUE(schemas.ok()) << schemas.status();
  EXPECT_EQ(schemas->size(), 166u);

  ASSERT_EQ(schemas->count("concert_singer"), 1u);
  const SpiderSchema& s = schemas->at("concert_singer");
  EXPECT_EQ(s.db_id, "concert_singer");
  EXPECT_EQ(s.source_path, path);
  EXPECT_THAT(s.table_names, ElementsAre("stadium", "singer", "concert", "singer in concert"));
  EXPECT_THAT(s.table_names_original,
              ElementsAre("stadium", "singer", "concert", "singer_in_concert"));
  ASSERT_EQ(s.columns.size(), 22u);
  EXPECT_EQ(s.columns[0].name, "*");
  EXPECT_EQ(s.columns[0].table, -1);
  EXPECT_EQ(s.columns[1].name, "stadium id");
  EXPECT_EQ(s.columns[1].name_original, "Stadium_ID");
  EXPECT_EQ(s.columns[1].type, "number");
  EXPECT_EQ(s.columns[1].table, 0);
  EXPECT_EQ(s.columns[14].name_original, "Is_male");
  EXPECT_EQ(s.columns[14].type, "others");
  EXPECT_EQ(s.columns[14].table, 1);
  EXPECT_EQ(s.columns[21].name, "singer id");
  EXPECT_EQ(s.columns[21].table, 3);
  EXPECT_THAT(s.primary_keys, ElementsAre(1, 8, 15, 20));
  EXPECT_THAT(s.foreign_keys, ElementsAre(Pair(18, 1), Pair(21, 8), Pair(20, 15)));

  EXPECT_EQ(SerializeSpiderInput("How many singers do we have?", s),
            "How many singers do we have? | concert_singer | * | stadium : stadium_id , location , "
            "name , capacity , highest , lowest , average | singer : singer_id , name , country , "
            "song_name , song_release_year , age , is_male | concert : concert_id , concert_name "
            ", theme , stadium_id , year | singer_in_concert : concert_id , singer_id");
}

TEST(SpiderRealDataTest, DevAndTrainLoadWithKnownDatabases) {
  absl::StatusOr<SpiderSchemas> schemas = LoadSpiderTables(SpiderDir() + "/tables.json");
  ASSERT_TRUE(schemas.ok()) << schemas.status();

  absl::StatusOr<std::vector<SpiderExample>> dev =
      LoadSpiderExamples(SpiderDir() + "/dev.json", *schemas);
  ASSERT_TRUE(dev.ok()) << dev.status();
  ASSERT_EQ(dev->size(), 1034u);
  EXPECT_EQ((*dev)[0].question, "How many singers do we have?");
  EXPECT_EQ((*dev)[0].query, "SELECT count(*) FROM singer");
  EXPECT_EQ((*dev)[0].db_id, "concert_singer");
  // Curly quotes survive as UTF-8.
  EXPECT_EQ((*dev)[77].question,
            "Find the id of the pet owned by student whose last name is \u2018Smith\u2019.");
  EXPECT_EQ((*dev)[77].db_id, "pets_1");

  absl::StatusOr<std::vector<SpiderExample>> train =
      LoadSpiderExamples(SpiderDir() + "/train_spider.json", *schemas);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_EQ(train->size(), 7000u);
  EXPECT_EQ((*train)[0].query, "SELECT count(*) FROM head WHERE age  >  56");
  EXPECT_EQ((*train)[0].db_id, "department_management");

  for (const auto* set : {&*dev, &*train}) {
    for (const SpiderExample& e : *set) {
      EXPECT_EQ(schemas->count(e.db_id), 1u) << e.db_id;
      EXPECT_FALSE(e.question.empty());
      EXPECT_FALSE(e.query.empty());
    }
  }
}

// ---- Hand-made fixtures ----

TEST(SpiderSerializeTest, HandMadeSchema) {
  SpiderSchema schema;
  schema.db_id = "Pets_DB";  // kept as is
  schema.table_names_original = {"People", "Pets", "Empty_Table"};
  schema.table_names = {"people", "pets", "empty table"};
  // Columns of different tables interleave; each table lists its own in column-id order.
  schema.columns = {{"*", "*", "text", -1},
                    {"person id", "Person_ID", "number", 0},
                    {"pet id", "Pet_ID", "number", 1},
                    {"full name", "Full_Name", "text", 0},
                    {"owner id", "OWNER_ID", "number", 1}};
  EXPECT_EQ(SerializeSpiderInput("  Who owns Rex?\n", schema),
            "Who owns Rex? | Pets_DB | * | people : person_id , full_name | pets : pet_id , "
            "owner_id | empty_table :");
}

TEST_F(SpiderReaderTest, FixtureTablesAndExamplesLoad) {
  TableFixture composite;
  composite.db_id = "other_db";
  composite.primary_keys = "[[1, 2], 3]";  // nested composite key, as in some Spider versions
  const SpiderSchemas schemas = WriteAndLoadTables({TableFixture(), composite});
  ASSERT_EQ(schemas.size(), 2u);
  const SpiderSchema& pets = schemas.at("pets_db");
  EXPECT_THAT(pets.primary_keys, ElementsAre(1, 3));
  EXPECT_THAT(pets.foreign_keys, ElementsAre(Pair(4, 1)));
  EXPECT_EQ(pets.columns[2].name, "name");
  EXPECT_EQ(pets.columns[2].name_original, "Name");
  EXPECT_EQ(pets.columns[2].type, "text");
  EXPECT_EQ(pets.columns[2].table, 0);
  EXPECT_THAT(schemas.at("other_db").primary_keys, ElementsAre(1, 2, 3));

  fathom::testing::WriteTextFile(
      examples_path_,
      R"([{"question": "  How many pets?\n", "query": "\tSELECT count(*) FROM Pets ", )"
      R"("db_id": "pets_db", "extra": [1, 2]},
          {"question": "Caf\u00e9 \u2018x\u2019", "query": "SELECT  1", "db_id": "other_db"}])");
  absl::StatusOr<std::vector<SpiderExample>> examples = LoadSpiderExamples(examples_path_, schemas);
  ASSERT_TRUE(examples.ok()) << examples.status();
  ASSERT_EQ(examples->size(), 2u);
  EXPECT_EQ((*examples)[0].question, "How many pets?");
  EXPECT_EQ((*examples)[0].query, "SELECT count(*) FROM Pets");
  EXPECT_EQ((*examples)[0].db_id, "pets_db");
  EXPECT_EQ((*examples)[1].question, "Caf\u00e9 \u2018x\u2019");
  EXPECT_EQ((*examples)[1].query, "SELECT  1");  // inner whitespace kept
  EXPECT_EQ(SerializeSpiderInput((*examples)[0].question, schemas.at("pets_db")),
            "How many pets? | pets_db | * | people : person_id , name | pets : pet_id , owner_id");
}

// ---- Errors ----

TEST_F(SpiderReaderTest, MissingFilesAreNotFound) {
  const std::string missing = dir_.File("no_such_tables.json");
  absl::Status status = LoadSpiderTables(missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(status), HasSubstr(missing));

  const std::string missing_examples = dir_.File("no_such_dev.json");
  status = LoadSpiderExamples(missing_examples, SpiderSchemas()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(status), HasSubstr(missing_examples));
}

TEST_F(SpiderReaderTest, MalformedJsonNamesOffsetLineAndColumn) {
  // The stray comma is on line 3; the curly quotes before it are 3 bytes but 1 column each.
  const std::string text =
      "[\n  {\"question\": \"a\", \"query\": \"b\", \"db_id\": \"pets_db\"},\n"
      "  {\"question\": \"\u2018q\u2019\",, \"query\": \"b\"}\n]\n";
  const size_t offset = text.find(",,") + 1;
  const absl::Status status = ExamplesError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr(absl::StrCat("byte offset ", offset, " ")));
  // Column: `  {"question": "‘q’",` is 21 code points (25 bytes), so the second comma is column 22.
  EXPECT_THAT(Message(status), HasSubstr("(line 3, column 22)"));
}

TEST_F(SpiderReaderTest, TruncatedJsonPointsAtEndOfFile) {
  const std::string text = "[{\"db_id\": \"x\",\n \"table_names\": [";
  const absl::Status status = TablesError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
  EXPECT_THAT(Message(status), HasSubstr(absl::StrCat("byte offset ", text.size(), " ")));
  EXPECT_THAT(Message(status), HasSubstr("(line 2, column 18)"));
}

// Found by tests/fuzz/spider_fuzzer: a number beyond double made the JSON parser throw
// out_of_range rather than parse_error, which nothing caught, and `fathom prepare` aborted.
TEST_F(SpiderReaderTest, NumberBeyondDoubleIsMalformedJson) {
  absl::Status status = TablesError("1e319");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
  EXPECT_THAT(Message(status), HasSubstr("number overflow parsing '1e319'"));
  status = ExamplesError(R"([{"question": "q", "query": "q", "db_id": "pets_db", "n": -1e400}])");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
}

TEST_F(SpiderReaderTest, TopLevelMustBeArray) {
  absl::Status status = TablesError(R"({"db_id": "x"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
  EXPECT_THAT(Message(status), HasSubstr("array"));

  status = ExamplesError(R"("just a string")");
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr("array"));
}

TEST_F(SpiderReaderTest, ExampleStructureErrorsNameElementAndField) {
  const std::string good = R"({"question": "q", "query": "SELECT 1", "db_id": "pets_db"})";
  absl::Status status = ExamplesError(JsonArray({good, "42"}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 1: expected an object"));

  status = ExamplesError(JsonArray({good, R"({"query": "SELECT 1", "db_id": "pets_db"})"}));
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 1: field \"question\" missing"));

  status = ExamplesError(
      JsonArray({good, good, R"({"question": "q", "query": 7, "db_id": "pets_db"})"}));
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 2: field \"query\": expected a string"));

  status = ExamplesError(JsonArray({R"({"question": "q", "query": "q", "db_id": null})"}));
  EXPECT_THAT(Message(status), HasSubstr("element 0: field \"db_id\": expected a string"));
}

TEST_F(SpiderReaderTest, UnknownDbIdNamesExampleAndTablesFile) {
  const std::string good = R"({"question": "q", "query": "SELECT 1", "db_id": "pets_db"})";
  const absl::Status status = ExamplesError(
      JsonArray({good, good, good, R"({"question": "q", "query": "q", "db_id": "zoo_db"})"}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(examples_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 3"));
  EXPECT_THAT(Message(status), HasSubstr("\"zoo_db\""));
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
}

TEST_F(SpiderReaderTest, DuplicateDbIdIsAnError) {
  TableFixture other;
  other.db_id = "other_db";
  const absl::Status status =
      TablesError(JsonArray({TableFixture().ToJson(), other.ToJson(), TableFixture().ToJson()}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 2"));
  EXPECT_THAT(Message(status), HasSubstr("duplicate db_id \"pets_db\" (first at element 0)"));
}

TEST_F(SpiderReaderTest, ColumnTableIndexOutOfRange) {
  TableFixture bad;
  bad.column_names =
      R"([[-1, "*"], [0, "person id"], [5, "name"], [1, "pet id"], [1, "owner id"]])";
  TableFixture other;
  other.db_id = "other_db";
  const absl::Status status = TablesError(JsonArray({other.ToJson(), bad.ToJson()}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(tables_path_));
  EXPECT_THAT(Message(status), HasSubstr("element 1 (db_id \"pets_db\")"));
  EXPECT_THAT(Message(status),
              HasSubstr("field \"column_names\"[2]: table index 5 out of range [-1, 2)"));

  bad = TableFixture();
  bad.column_names_original =
      R"([[-2, "*"], [0, "Person_ID"], [0, "Name"], [1, "Pet_ID"], [1, "Owner_ID"]])";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("field \"column_names_original\"[0]: table index -2 out of range"));
}

TEST_F(SpiderReaderTest, OtherSchemaInconsistencies) {
  TableFixture bad;
  bad.primary_keys = "[1, [2, 9]]";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("field \"primary_keys\"[1][1]: column id 9 out of range [0, 5)"));

  bad = TableFixture();
  bad.foreign_keys = "[[4, 1], [7, 1]]";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("field \"foreign_keys\"[1]: column id 7 out of range"));

  bad = TableFixture();
  bad.column_types = R"(["text", "number"])";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("\"column_types\" has 2 entries but \"column_names\" has 5"));

  bad = TableFixture();
  bad.column_names_original =
      R"([[-1, "*"], [0, "Person_ID"], [1, "Name"], [1, "Pet_ID"], [1, "Owner_ID"]])";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("field \"column_names_original\"[2]: table index 1 differs"));

  bad = TableFixture();
  bad.table_names = R"(["people", 3])";
  EXPECT_THAT(TablesError(JsonArray({bad.ToJson()})).ToString(),
              HasSubstr("field \"table_names\"[1]: expected a string, found number"));
}

}  // namespace
}  // namespace fathom::prepare
