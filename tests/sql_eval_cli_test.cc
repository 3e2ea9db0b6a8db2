// `fathom sql-eval` on real gold SQL: Spider's dev_gold.sql (concert_singer slice) with the real
// tables.json for exact match by hardness, on a database built here in Spider's layout (the
// Spider databases are not in ../shared/data), and GeoQuery's real database dump.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
using Result = testing::CommandResult;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing::RunFathom;

std::string SpiderDir() { return testing::SharedDataDir() + "/spider"; }

// The first `n` lines of dev_gold.sql.
std::vector<std::string> DevGold(int n) {
  auto text = ReadFileToString(SpiderDir() + "/dev_gold.sql");
  EXPECT_TRUE(text.ok()) << text.status();
  std::vector<std::string> lines = absl::StrSplit(text.ok() ? *text : "", '\n');
  lines.resize(n);
  return lines;
}

// concert_singer's schema (tables.json) with a few rows of made-up data.
constexpr char kConcertSinger[] = R"(
CREATE TABLE stadium (Stadium_ID int PRIMARY KEY, Location text, Name text, Capacity int, Highest int,
                      Lowest int, Average int);
CREATE TABLE singer (Singer_ID int PRIMARY KEY, Name text, Country text, Song_Name text,
                     Song_release_year text, Age int, Is_male bool);
CREATE TABLE concert (concert_ID int PRIMARY KEY, concert_Name text, Theme text, Stadium_ID text, Year text);
CREATE TABLE singer_in_concert (concert_ID int, Singer_ID text);
INSERT INTO stadium VALUES (1, 'Raith Rovers', 'Stark''s Park', 10104, 4812, 1294, 2106),
                           (2, 'Ayr United', 'Somerset Park', 11998, 2363, 1057, 1477);
INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands', 'You', '1992', 52, 'F'),
                          (2, 'Timbaland', 'United States', 'Dangerous', '2008', 32, 'T'),
                          (3, 'Justin Brown', 'France', 'Hey Oh', '2013', 29, 'T'),
                          (4, 'Rose White', 'France', 'Sun', '2003', 41, 'F'),
                          (5, 'John Nizinik', 'France', 'Gentleman', '2014', 43, 'T');
INSERT INTO concert VALUES (1, 'Auditions', 'Free choice', '1', '2014'), (2, 'Super bootcamp', 'Bleeding Love', '2', '2014');
INSERT INTO singer_in_concert VALUES (1, '2'), (1, '3'), (2, '5');
)";

TEST(SqlEvalCliTest, SpiderExactMatchByHardnessAndExecutionPerDatabase) {
  if (std::system("command -v sqlite3 > /dev/null") != 0) GTEST_SKIP() << "sqlite3 not installed";
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("database/concert_singer"));
  testing::WriteTextFile(dir.File("schema.sql"), kConcertSinger);
  ASSERT_EQ(std::system(absl::StrCat("sqlite3 ",
                                     dir.File("database/concert_singer/concert_singer.sqlite"),
                                     " < ", dir.File("schema.sql"))
                            .c_str()),
            0);
  const std::vector<std::string> gold = DevGold(12);
  ASSERT_EQ(gold[0], "SELECT count(*) FROM singer\tconcert_singer");
  std::vector<std::string> pred;
  for (const std::string& line : gold) pred.push_back(line.substr(0, line.find('\t')));
  pred[2] = "SELECT name, country, age FROM singer ORDER BY age ASC";  // wrong order: both wrong
  pred[4] =
      "SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'Netherlands'";  // value:
                                                                                        // exec only
  pred[5] = "SELEC avg(age) FROM singer";  // does not parse, does not run
  testing::WriteLines(dir.File("gold.sql"), gold);
  testing::WriteLines(dir.File("pred.sql"), pred);

  Result result = RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                         dir.File("pred.sql"), " --tables ", SpiderDir(),
                                         "/tables.json --db_dir ", dir.File("database")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::printf("%s", result.output.c_str());
  // evaluation.py's layout: a column per level, 20 wide.
  EXPECT_THAT(result.output,
              HasSubstr("                     easy                 medium               hard  "));
  EXPECT_THAT(result.output, HasSubstr("count                "));
  EXPECT_THAT(result.output,
              HasSubstr("=====================   EXECUTION ACCURACY     ====================="));
  EXPECT_THAT(result.output,
              HasSubstr("====================== EXACT MATCHING ACCURACY ====================="));
  // 12 examples: exact match fails 3 and 6; execution fails 3, 5 and 6.
  EXPECT_THAT(result.output,
              MatchesRegex("(.|\n)*exact match +([01]\\.[0-9]{3} +){4}0\\.833 *\n(.|\n)*"));
  EXPECT_THAT(result.output,
              MatchesRegex("(.|\n)*execution +([01]\\.[0-9]{3} +){4}0\\.750 *\n(.|\n)*"));
  EXPECT_THAT(result.output,
              HasSubstr("exact match: 10 of 12 (83.33%); predictions that do not parse: 1"));
  EXPECT_THAT(result.output,
              HasSubstr("execution: 9 of 12 correct (75.00%); incorrect 2, prediction errors 1"));

  // Exact match alone needs no database.
  Result exact =
      RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                             dir.File("pred.sql"), " --tables ", SpiderDir(), "/tables.json"));
  ASSERT_EQ(exact.exit_code, 0) << exact.output;
  EXPECT_THAT(exact.output, AllOf(HasSubstr("exact match: 10 of 12"), Not(HasSubstr("EXECUTION"))));

  // A db_id without a database names the file it looked for.
  std::vector<std::string> other = gold;
  other[1] = "SELECT count(*) FROM singer\tpets_1";
  testing::WriteLines(dir.File("gold2.sql"), other);
  Result missing =
      RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold2.sql"), " --pred ",
                             dir.File("pred.sql"), " --db_dir ", dir.File("database")));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, AllOf(HasSubstr(dir.File("gold2.sql") + ":2"),
                                    HasSubstr(dir.File("database") + "/pets_1/pets_1.sqlite")));
}

TEST(SqlEvalCliTest, GeoQueryExecutionOnItsDumpCountsErrorsAndTimeouts) {
  testing::TempDir dir;
  const std::string texas = "SELECT city_name FROM city WHERE state_name = 'texas'";
  const std::string rivers = "SELECT river_name FROM river WHERE traverse = 'ohio'";
  testing::WriteLines(dir.File("gold.sql"), {texas, rivers, texas, texas});
  testing::WriteLines(
      dir.File("pred.sql"),
      {texas, "SELECT river_name FROM river WHERE traverse = 'texas'", "SELECT nothing FROM city",
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"});
  Result result = RunFathom(absl::StrCat(
      "sql-eval --gold ", dir.File("gold.sql"), " --pred ", dir.File("pred.sql"), " --db_sql ",
      testing::SharedDataDir(), "/text2sql/geography-db.sql", " --timeout_ms 300"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::printf("%s", result.output.c_str());
  // No tables.json, no hardness: the "all" column alone.
  EXPECT_THAT(result.output, Not(HasSubstr("easy")));
  EXPECT_THAT(result.output, MatchesRegex("(.|\n)*execution +0\\.250 *\n(.|\n)*"));
  EXPECT_THAT(result.output,
              HasSubstr("execution: 1 of 4 correct (25.00%); incorrect 1, prediction errors 1, "
                        "prediction timeouts 1, gold errors 0, gold timeouts 0"));
}

TEST(SqlEvalCliTest, BadInputIsNamedAndBadUsageExitsWithTwo) {
  testing::TempDir dir;
  const std::string tables = SpiderDir() + "/tables.json";
  testing::WriteLines(dir.File("gold.sql"), DevGold(3));
  testing::WriteLines(dir.File("pred.sql"), {"SELECT count(*) FROM singer"});
  Result lengths = RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                          dir.File("pred.sql"), " --tables ", tables));
  EXPECT_EQ(lengths.exit_code, 1) << lengths.output;
  EXPECT_THAT(lengths.output, AllOf(HasSubstr(dir.File("pred.sql")), HasSubstr("has 1 lines"),
                                    HasSubstr(dir.File("gold.sql")), HasSubstr("has 3")));
  testing::WriteTextFile(dir.File("empty.sql"), "");
  Result empty = RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                        dir.File("empty.sql"), " --tables ", tables));
  EXPECT_EQ(empty.exit_code, 1) << empty.output;
  EXPECT_THAT(empty.output, AllOf(HasSubstr(dir.File("empty.sql")), HasSubstr("empty")));
  Result no_dump =
      RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                             dir.File("gold.sql"), " --db_sql ", dir.File("none.sql")));
  EXPECT_EQ(no_dump.exit_code, 1) << no_dump.output;
  EXPECT_THAT(no_dump.output, HasSubstr(dir.File("none.sql")));

  EXPECT_EQ(RunFathom(absl::StrCat("sql-eval --gold ", dir.File("gold.sql"), " --pred ",
                                   dir.File("pred.sql")))
                .exit_code,
            2);  // nothing to compute
  EXPECT_EQ(RunFathom(absl::StrCat("sql-eval --gold a --pred b --db x --db_sql y")).exit_code, 2);
  EXPECT_EQ(RunFathom("sql-eval --gold a --pred b --tables t --beam 2").exit_code, 2);
  Result help = RunFathom("sql-eval --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, AllOf(HasSubstr("--db_dir"), HasSubstr("--timeout_ms")));
  EXPECT_THAT(RunFathom("help").output, HasSubstr("sql-eval"));
}

}  // namespace
}  // namespace fathom
