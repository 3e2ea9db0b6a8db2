// The SQL tokenizer and the Spider SQL parser: tokens, name resolution, the printed canonical
// form, errors for SQL outside the Spider subset, and every gold query of Spider dev.
#include "eval/sql/sql_parser.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "eval/sql/sql_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/spider_reader.h"
#include "tests/test_util.h"

namespace fathom::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string SpiderDir() { return fathom::testing::SharedDataDir() + "/spider"; }

const prepare::SpiderSchemas& Schemas() {
  static const prepare::SpiderSchemas* const schemas = [] {
    absl::StatusOr<prepare::SpiderSchemas> loaded =
        prepare::LoadSpiderTables(SpiderDir() + "/tables.json");
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return new prepare::SpiderSchemas(loaded.ok() ? *std::move(loaded) : prepare::SpiderSchemas());
  }();
  return *schemas;
}

SqlSchema Schema(const std::string& db_id) {
  const auto it = Schemas().find(db_id);
  EXPECT_NE(it, Schemas().end()) << db_id;
  return SqlSchema(it == Schemas().end() ? prepare::SpiderSchema() : it->second);
}

// The canonical form of `sql` on concert_singer (the parse must succeed).
std::string Canonical(const std::string& sql, const std::string& db_id = "concert_singer") {
  const SqlSchema schema = Schema(db_id);
  absl::StatusOr<SqlQuery> query = ParseSpiderSql(sql, schema);
  EXPECT_TRUE(query.ok()) << sql << ": " << query.status();
  return query.ok() ? ToSql(*query) : "";
}

std::string ParseError(const std::string& sql) {
  const SqlSchema schema = Schema("concert_singer");
  absl::StatusOr<SqlQuery> query = ParseSpiderSql(sql, schema);
  EXPECT_FALSE(query.ok()) << sql << " parsed as " << (query.ok() ? ToSql(*query) : "");
  return std::string(query.status().message());
}

std::vector<std::string> Texts(const std::vector<SqlToken>& tokens) {
  std::vector<std::string> out;
  for (const SqlToken& t : tokens) out.push_back(t.text);
  return out;
}

TEST(SqlTokenizerTest, LowerCasesWordsKeepsStringsAndJoinsOperators) {
  absl::StatusOr<std::vector<SqlToken>> tokens =
      TokenizeSql("SELECT T1.Name, count(*) FROM x WHERE a>=1.5 AND b != 'It''s' AND c = \"Q\";");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(Texts(*tokens), ElementsAre("select", "t1.name", ",", "count", "(", "*", ")", "from",
                                          "x", "where", "a", ">=", "1.5", "and", "b",
                                          "!=", "'It''s'", "and", "c", "=", "\"Q\"", ";"));
  EXPECT_EQ((*tokens)[12].kind, SqlTokenKind::kNumber);
  EXPECT_EQ((*tokens)[16].kind, SqlTokenKind::kString);
  EXPECT_EQ((*tokens)[1].offset, 7u);
}

TEST(SqlTokenizerTest, ReportsUnterminatedStringsAndStrayCharacters) {
  EXPECT_THAT(std::string(TokenizeSql("SELECT 'abc").status().message()),
              HasSubstr("unterminated string at offset 7"));
  EXPECT_THAT(std::string(TokenizeSql("SELECT a ? b").status().message()),
              HasSubstr("unexpected character '?' at offset 9"));
}

TEST(SqlTokenizerTest, FindsOnlyTopLevelOrderBy) {
  auto ordered = [](const std::string& sql) { return HasTopLevelOrderBy(*TokenizeSql(sql)); };
  EXPECT_TRUE(ordered("SELECT a FROM t ORDER BY a"));
  EXPECT_FALSE(ordered("SELECT a FROM t WHERE a IN (SELECT b FROM u ORDER BY b LIMIT 1)"));
  EXPECT_FALSE(ordered("SELECT a FROM t"));
}

TEST(SpiderParserTest, ResolvesAliasesAndBareColumnsToTableColumns) {
  EXPECT_EQ(Canonical("SELECT T1.Name, count(*) FROM singer AS T1 JOIN singer_in_concert AS T2 "
                      "ON T1.Singer_ID = T2.Singer_ID GROUP BY T2.singer_id"),
            "select singer.name, count(*) from singer join singer_in_concert on "
            "singer.singer_id = singer_in_concert.singer_id group by singer_in_concert.singer_id");
  // A bare column takes the first FROM table that has it.
  EXPECT_EQ(
      Canonical("select NAME from SINGER where AGE > 20 order by age desc limit 3"),
      "select singer.name from singer where singer.age > 20 order by singer.age desc limit 3");
}

TEST(SpiderParserTest, ParsesSubqueriesSetOperationsAndOperators) {
  EXPECT_EQ(Canonical("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM "
                      "concert) AND capacity BETWEEN 10 AND 20.0 OR name LIKE '%x%'"),
            "select stadium.name from stadium where stadium.stadium_id not in (select "
            "concert.stadium_id from concert) and stadium.capacity between 10 and 20 or "
            "stadium.name like \"%x%\"");
  EXPECT_EQ(Canonical("SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM "
                      "singer WHERE age < 30"),
            "select singer.country from singer where singer.age > 40 intersect select "
            "singer.country from singer where singer.age < 30");
  EXPECT_EQ(Canonical("SELECT avg(capacity), max(highest - lowest) FROM stadium"),
            "select avg(stadium.capacity), max(stadium.highest - stadium.lowest) from stadium");
  EXPECT_EQ(Canonical("SELECT count(DISTINCT country) FROM singer"),
            "select count(distinct singer.country) from singer");
  EXPECT_EQ(Canonical("SELECT count(*) FROM (SELECT name FROM singer)"),
            "select count(*) from (select singer.name from singer)");
}

TEST(SpiderParserTest, AliasesAreScopedToTheirQuery) {
  // T1 is stadium outside and singer inside: each resolves in its own query.
  EXPECT_EQ(Canonical("SELECT T1.name FROM stadium AS T1 WHERE T1.capacity > (SELECT avg(T1.age) "
                      "FROM singer AS T1)"),
            "select stadium.name from stadium where stadium.capacity > (select avg(singer.age) "
            "from singer)");
}

TEST(SpiderParserTest, RejectsSqlOutsideTheSpiderSubsetWithReasons) {
  EXPECT_THAT(ParseError("SELECT nme FROM singer"), HasSubstr("unknown column 'nme'"));
  EXPECT_THAT(ParseError("SELECT name FROM singers"), HasSubstr("unknown table 'singers'"));
  EXPECT_THAT(ParseError("SELECT T9.name FROM singer AS T1"),
              HasSubstr("unknown table or alias 't9'"));
  EXPECT_THAT(ParseError("SELECT name FROM singer, concert"), HasSubstr("comma joins"));
  EXPECT_THAT(ParseError("SELECT count(*) AS n FROM singer"), HasSubstr("column aliases"));
  EXPECT_THAT(ParseError("SELECT name FROM singer WHERE age IN (1, 2)"), HasSubstr("expected ')'"));
  EXPECT_THAT(ParseError("SELECT name FROM singer WHERE age IS NULL"), HasSubstr("NULL"));
  EXPECT_THAT(ParseError("SELECT name FROM singer WHERE age <> 1"), HasSubstr("'<>'"));
  EXPECT_THAT(ParseError("SELECT name"), HasSubstr("'from' not found"));
  EXPECT_THAT(ParseError(""), HasSubstr("empty query"));
  EXPECT_THAT(ParseError("SELECT name FROM singer WHERE name = 'x"), HasSubstr("unterminated"));
  EXPECT_THAT(ParseError(std::string(200, '(')), HasSubstr("expected 'select'"));
}

// Every gold query of Spider dev parses against its database's schema.
TEST(SpiderParserTest, ParsesEveryDevGoldQuery) {
  absl::StatusOr<std::string> text = ReadFileToString(SpiderDir() + "/dev_gold.sql");
  ASSERT_TRUE(text.ok()) << text.status();
  std::map<std::string, SqlSchema> schemas;
  int total = 0;
  int parsed = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    const std::vector<std::string> fields = absl::StrSplit(line, '\t');
    ASSERT_EQ(fields.size(), 2u) << line;
    auto it = schemas.find(fields[1]);
    if (it == schemas.end()) it = schemas.emplace(fields[1], Schema(fields[1])).first;
    absl::StatusOr<SqlQuery> query = ParseSpiderSql(fields[0], it->second);
    ++total;
    if (query.ok()) {
      ++parsed;
      // The canonical form is itself parseable SQL of the same query.
      absl::StatusOr<SqlQuery> again = ParseSpiderSql(ToSql(*query), it->second);
      EXPECT_TRUE(again.ok() && ToSql(*again) == ToSql(*query)) << ToSql(*query);
    } else {
      ADD_FAILURE() << fields[0] << "\n  " << query.status();
    }
  }
  std::printf("Spider dev gold: %d of %d queries parse\n", parsed, total);
  EXPECT_EQ(total, 1034);
  EXPECT_EQ(parsed, total);
}

}  // namespace
}  // namespace fathom::eval
