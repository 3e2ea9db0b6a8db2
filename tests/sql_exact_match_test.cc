// Spider exact-set match: pairs that the official metric treats as equal or different, every
// dev gold query against itself, and the file-level scorer's errors.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/file_util.h"
#include "eval/sql/exact_match.h"
#include "eval/sql/sql_scoring.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/spider_reader.h"
#include "tests/test_util.h"

namespace fathom::eval {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string SpiderDir() { return fathom::testing::SharedDataDir() + "/spider"; }
std::string Message(const absl::Status& status) { return std::string(status.message()); }

const SqlSchema& ConcertSinger() {
  static const SqlSchema* const schema = [] {
    absl::StatusOr<prepare::SpiderSchemas> schemas =
        prepare::LoadSpiderTables(SpiderDir() + "/tables.json");
    EXPECT_TRUE(schemas.ok()) << schemas.status();
    return new SqlSchema(schemas.ok() ? schemas->at("concert_singer") : prepare::SpiderSchema());
  }();
  return *schema;
}

ExactMatchResult Match(const std::string& pred, const std::string& gold) {
  absl::StatusOr<ExactMatchResult> result = SpiderExactMatch(pred, gold, ConcertSinger());
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : ExactMatchResult();
}

int ComponentIndex(const std::string& name) {
  for (int i = 0; i < kNumExactMatchComponents; ++i) {
    if (name == kExactMatchComponents[i]) return i;
  }
  ADD_FAILURE() << "no component " << name;
  return 0;
}

// The components that disagree, by name, so a failure says which one changed.
std::vector<std::string> Mismatched(const ExactMatchResult& r) {
  std::vector<std::string> out;
  for (int i = 0; i < kNumExactMatchComponents; ++i) {
    if (!r.components[i].match) out.push_back(kExactMatchComponents[i]);
  }
  if (!r.tables_match) out.push_back("tables");
  return out;
}

struct Pair {
  std::string pred;
  std::string gold;
};

TEST(SpiderExactMatchTest, EquivalentFormsMatch) {
  const std::vector<Pair> pairs = {
      // Alias renaming, and aliases against none.
      {"SELECT A.name FROM singer AS A JOIN singer_in_concert AS B ON A.singer_id = B.singer_id",
       "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = "
       "T2.singer_id"},
      {"SELECT name FROM singer", "SELECT T1.name FROM singer AS T1"},
      // Values are not compared.
      {"SELECT name FROM singer WHERE country = 'France' AND age > 20",
       "SELECT name FROM singer WHERE country = \"USA\" AND age > 45.5"},
      {"SELECT name FROM singer ORDER BY age LIMIT 1",
       "SELECT name FROM singer ORDER BY age LIMIT 3"},
      // Sets: SELECT columns, WHERE conditions, FROM tables.
      {"SELECT age, name, country FROM singer", "SELECT country, name, age FROM singer"},
      {"SELECT name FROM singer WHERE age > 1 AND country = 'x' AND is_male = 'T'",
       "SELECT name FROM singer WHERE is_male = 'F' AND country = 'y' AND age > 2"},
      {"SELECT T1.name FROM singer_in_concert AS T2 JOIN singer AS T1 ON T2.singer_id = "
       "T1.singer_id",
       "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = "
       "T2.singer_id"},
      // Keyword and name case.
      {"select NAME from SINGER where AGE > 1 order BY age DESC",
       "SELECT name FROM singer WHERE age > 1 ORDER BY age desc"},
      // DISTINCT is not compared officially.
      {"SELECT DISTINCT country FROM singer", "SELECT country FROM singer"},
      // A foreign key column stands for the column it references.
      {"SELECT count(*) FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = "
       "T2.singer_id GROUP BY T2.singer_id",
       "SELECT count(*) FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = "
       "T2.singer_id GROUP BY T1.singer_id"},
      // Subqueries match with their values masked.
      {"SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'a')",
       "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'b')"},
      {"SELECT name FROM singer WHERE age > 30 UNION SELECT name FROM singer WHERE age < 20",
       "SELECT name FROM singer WHERE age > 31 UNION SELECT name FROM singer WHERE age < 21"},
  };
  for (const Pair& p : pairs) {
    const ExactMatchResult r = Match(p.pred, p.gold);
    EXPECT_TRUE(r.match) << p.pred << "\n  vs " << p.gold << "\n  differs in "
                         << ::testing::PrintToString(Mismatched(r)) << "\n  " << r.pred_normalized
                         << "\n  " << r.gold_normalized;
    EXPECT_TRUE(r.pred_parsed);
  }
}

struct Mismatch {
  std::string pred;
  std::string gold;
  std::vector<std::string> components;  // exactly these disagree
};

TEST(SpiderExactMatchTest, DifferentQueriesDoNotMatchInTheRightComponent) {
  const std::vector<Mismatch> cases = {
      {"SELECT country FROM singer", "SELECT name FROM singer", {"select", "select(no AGG)"}},
      {"SELECT name FROM singer WHERE age > 1",
       "SELECT name FROM singer WHERE age > 1 AND country = 'x'",
       {"where", "where(no OP)", "and/or"}},
      {"SELECT name FROM singer WHERE age < 1", "SELECT name FROM singer WHERE age > 1", {"where"}},
      {"SELECT max(age) FROM singer", "SELECT min(age) FROM singer", {"select"}},
      {"SELECT name FROM singer ORDER BY age ASC",
       "SELECT name FROM singer ORDER BY age DESC",
       {"order", "keywords"}},
      {"SELECT name FROM singer ORDER BY age",
       "SELECT name FROM singer ORDER BY age LIMIT 1",
       {"order", "keywords"}},
      {"SELECT name FROM singer WHERE age > 1 OR age < 0",
       "SELECT name FROM singer WHERE age > 1 AND age < 0",
       {"and/or", "keywords"}},
      {"SELECT name FROM singer WHERE name NOT LIKE 'a'",
       "SELECT name FROM singer WHERE name LIKE 'a'",
       {"where", "keywords"}},
      {"SELECT name FROM singer INTERSECT SELECT name FROM singer",
       "SELECT name FROM singer UNION SELECT name FROM singer",
       {"IUEN", "keywords"}},
      // GROUP BY is a set for "group(no Having)" but a list for "group", as officially.
      {"SELECT count(*) FROM singer GROUP BY country, age",
       "SELECT count(*) FROM singer GROUP BY age, country",
       {"group"}},
      {"SELECT count(*) FROM singer GROUP BY country HAVING count(*) > 1",
       "SELECT count(*) FROM singer GROUP BY country",
       {"group", "keywords"}},
      {"SELECT name FROM stadium",
       "SELECT name FROM singer",
       {"select", "select(no AGG)", "tables"}},
      {"SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.concert_id",
       "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = "
       "T2.singer_id",
       {"tables"}},
      {"SELECT name FROM singer WHERE age > (SELECT min(age) FROM singer)",
       "SELECT name FROM singer WHERE age > (SELECT max(age) FROM singer)",
       {"where"}},
  };
  for (const Mismatch& m : cases) {
    const ExactMatchResult r = Match(m.pred, m.gold);
    EXPECT_FALSE(r.match) << m.pred << "\n  vs " << m.gold;
    EXPECT_EQ(Mismatched(r), m.components) << m.pred << "\n  vs " << m.gold;
  }
}

TEST(SpiderExactMatchTest, UnparseablePredictionIsAMismatchWithItsReason) {
  const ExactMatchResult r = Match("SELECT nme FROM singer WHERE", "SELECT name FROM singer");
  EXPECT_FALSE(r.match);
  EXPECT_FALSE(r.pred_parsed);
  EXPECT_THAT(r.pred_error, HasSubstr("unknown column 'nme'"));
  EXPECT_EQ(r.components[ComponentIndex("select")].pred_total, 0);
  EXPECT_EQ(r.components[ComponentIndex("select")].gold_total, 1);
  EXPECT_EQ(r.gold_normalized, "select singer.name from singer");

  EXPECT_FALSE(Match("", "SELECT name FROM singer").match);
  EXPECT_FALSE(Match("DROP TABLE singer", "SELECT name FROM singer").match);
}

TEST(SpiderExactMatchTest, GoldThatDoesNotParseIsAnError) {
  absl::StatusOr<ExactMatchResult> r =
      SpiderExactMatch("SELECT name FROM singer", "SELECT nme FROM singer", ConcertSinger());
  EXPECT_THAT(Message(r.status()), AllOf(HasSubstr("gold SQL does not parse"),
                                         HasSubstr("concert_singer"), HasSubstr("'nme'")));
}

TEST(SpiderExactMatchTest, NormalisedFormMasksValuesAndMapsForeignKeys) {
  const ExactMatchResult r = Match(
      "SELECT T2.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id "
      "= T2.singer_id WHERE T1.age > 30",
      "SELECT name FROM singer");
  EXPECT_EQ(r.pred_normalized,
            "select singer.singer_id from singer join singer_in_concert on singer.singer_id = "
            "value where singer.age > value");
}

// The gold file scored against itself: every query parses and matches, with the hardness
// breakdown of the official script (easy 248, medium 446, hard 174, extra 166).
TEST(SpiderExactMatchFileTest, DevGoldAgainstItselfScoresOneHundredPercent) {
  const std::string gold = SpiderDir() + "/dev_gold.sql";
  absl::StatusOr<ExactMatchScore> score =
      ScoreSpiderExactMatch(gold, gold, SpiderDir() + "/tables.json");
  ASSERT_TRUE(score.ok()) << score.status();
  std::printf("Spider dev gold vs itself: %d of %d match, %d predictions unparseable\n",
              score->matched, score->total, score->pred_parse_failures);
  EXPECT_EQ(score->total, 1034);
  EXPECT_EQ(score->matched, 1034);
  EXPECT_EQ(score->pred_parse_failures, 0);
  EXPECT_DOUBLE_EQ(score->accuracy, 1.0);
  EXPECT_EQ(score->hardness_total, (std::array<int, 4>{248, 446, 174, 166}));
  EXPECT_EQ(score->hardness_matched, score->hardness_total);
  for (int c = 0; c < kNumExactMatchComponents; ++c) {
    EXPECT_EQ(score->components[c].matched_when_in_gold, score->components[c].in_gold)
        << kExactMatchComponents[c];
  }
}

TEST(SpiderExactMatchFileTest, ScoresPredictionsLineByLine) {
  fathom::testing::TempDir dir;
  const std::string tables = SpiderDir() + "/tables.json";
  fathom::testing::WriteLines(dir.File("gold.sql"),
                              {"SELECT count(*) FROM singer\tconcert_singer",
                               "SELECT name FROM singer ORDER BY age DESC\tconcert_singer",
                               "SELECT name FROM singer\tconcert_singer"});
  // Right, wrong direction, unparseable (and a tab-separated db_id is ignored).
  fathom::testing::WriteLines(dir.File("pred.sql"),
                              {"select count(*) from singer\tconcert_singer",
                               "SELECT name FROM singer ORDER BY age ASC", "SELECT"});
  absl::StatusOr<ExactMatchScore> score =
      ScoreSpiderExactMatch(dir.File("pred.sql"), dir.File("gold.sql"), tables);
  ASSERT_TRUE(score.ok()) << score.status();
  EXPECT_EQ(score->total, 3);
  EXPECT_EQ(score->matched, 1);
  EXPECT_EQ(score->pred_parse_failures, 1);
  EXPECT_DOUBLE_EQ(score->accuracy, 1.0 / 3);
  ASSERT_EQ(score->examples.size(), 3u);
  EXPECT_TRUE(score->examples[0].match);
  EXPECT_FALSE(score->examples[1].match);
  EXPECT_THAT(score->examples[2].pred_error, HasSubstr("'from' not found"));
}

TEST(SpiderExactMatchFileTest, FileErrorsNameTheFile) {
  fathom::testing::TempDir dir;
  const std::string tables = SpiderDir() + "/tables.json";
  const std::string gold = dir.File("gold.sql");
  const std::string pred = dir.File("pred.sql");
  fathom::testing::WriteLines(
      gold, {"SELECT name FROM singer\tconcert_singer", "SELECT age FROM singer\tconcert_singer"});
  fathom::testing::WriteLines(pred, {"SELECT name FROM singer"});

  EXPECT_THAT(Message(ScoreSpiderExactMatch(dir.File("missing.sql"), gold, tables).status()),
              AllOf(HasSubstr("predictions"), HasSubstr("missing.sql")));
  EXPECT_THAT(
      Message(ScoreSpiderExactMatch(pred, gold, tables).status()),
      AllOf(HasSubstr(pred), HasSubstr("has 1 lines"), HasSubstr(gold), HasSubstr("has 2")));
  EXPECT_THAT(Message(ScoreSpiderExactMatch(gold, gold, dir.File("tables.json")).status()),
              HasSubstr(dir.File("tables.json")));

  fathom::testing::WriteTextFile(dir.File("empty.sql"), "\n\n");
  EXPECT_THAT(
      Message(ScoreSpiderExactMatch(dir.File("empty.sql"), dir.File("empty.sql"), tables).status()),
      AllOf(HasSubstr("empty.sql"), HasSubstr("empty")));

  fathom::testing::WriteLines(gold, {"SELECT name FROM singer\tno_such_db"});
  EXPECT_THAT(
      Message(ScoreSpiderExactMatch(pred, gold, tables).status()),
      AllOf(HasSubstr(gold + ":1"), HasSubstr("unknown db_id 'no_such_db'"), HasSubstr(tables)));

  fathom::testing::WriteLines(gold, {"SELECT name FROM singer"});
  EXPECT_THAT(Message(ScoreSpiderExactMatch(pred, gold, tables).status()),
              AllOf(HasSubstr(gold + ":1"), HasSubstr("SQL<TAB>db_id")));

  fathom::testing::WriteLines(gold, {"SELECT nme FROM singer\tconcert_singer"});
  EXPECT_THAT(Message(ScoreSpiderExactMatch(pred, gold, tables).status()),
              AllOf(HasSubstr(gold + ":1"), HasSubstr("gold SQL does not parse")));
}

}  // namespace
}  // namespace fathom::eval
