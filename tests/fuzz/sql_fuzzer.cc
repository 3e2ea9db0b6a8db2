// `fathom sql-eval`'s inputs: Spider exact match (ScoreSpiderExactMatch: the official SQL parser
// and component comparison) on fuzzed prediction and gold files against two real Spider schemas,
// and the MySQL dump reader of execution accuracy (MySqlDumpToSqlite, `--db_sql DUMP`).
//
// Input: one flags byte, then: with bit 0 set, a MySQL dump; otherwise the predictions, then
// tests/fuzz/fuzz_util.h's kTextSeparator, then the gold file ("SQL<TAB>db_id" a line). Model
// output reaches the same parser during training (validation exact match), so no prediction
// may crash it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eval/sql/mysql_dump.h"
#include "eval/sql/sql_scoring.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// tables.json's entries of concert_singer and pets_1 (Spider, ../shared/data/spider).
constexpr char kTables[] =
    R"json([{"column_names": [[-1, "*"], [0, "stadium id"], [0, "location"], [0, "name"], )json"
    R"json([0, "capacity"], [0, "highest"], [0, "lowest"], [0, "average"], [1, )json"
    R"json("singer id"], [1, "name"], [1, "country"], [1, "song name"], [1, )json"
    R"json("song release year"], [1, "age"], [1, "is male"], [2, "concert id"], [2, )json"
    R"json("concert name"], [2, "theme"], [2, "stadium id"], [2, "year"], [3, )json"
    R"json("concert id"], [3, "singer id"]], "column_names_original": [[-1, "*"], [0, )json"
    R"json("Stadium_ID"], [0, "Location"], [0, "Name"], [0, "Capacity"], [0, "Highest"], )json"
    R"json([0, "Lowest"], [0, "Average"], [1, "Singer_ID"], [1, "Name"], [1, "Country"], )json"
    R"json([1, "Song_Name"], [1, "Song_release_year"], [1, "Age"], [1, "Is_male"], [2, )json"
    R"json("concert_ID"], [2, "concert_Name"], [2, "Theme"], [2, "Stadium_ID"], [2, )json"
    R"json("Year"], [3, "concert_ID"], [3, "Singer_ID"]], "column_types": ["text", )json"
    R"json("number", "text", "text", "number", "number", "number", "number", "number", )json"
    R"json("text", "text", "text", "text", "number", "others", "number", "text", "text", )json"
    R"json("text", "text", "number", "text"], "db_id": "concert_singer", )json"
    R"json("foreign_keys": [[18, 1], [21, 8], [20, 15]], "primary_keys": [1, 8, 15, 20], )json"
    R"json("table_names": ["stadium", "singer", "concert", "singer in concert"], )json"
    R"json("table_names_original": ["stadium", "singer", "concert", "singer_in_concert"]}, )json"
    R"json({"column_names": [[-1, "*"], [0, "student id"], [0, "last name"], [0, )json"
    R"json("first name"], [0, "age"], [0, "sex"], [0, "major"], [0, "advisor"], [0, )json"
    R"json("city code"], [1, "student id"], [1, "pet id"], [2, "pet id"], [2, "pet type"], )json"
    R"json([2, "pet age"], [2, "weight"]], "column_names_original": [[-1, "*"], [0, )json"
    R"json("StuID"], [0, "LName"], [0, "Fname"], [0, "Age"], [0, "Sex"], [0, "Major"], [0, )json"
    R"json("Advisor"], [0, "city_code"], [1, "StuID"], [1, "PetID"], [2, "PetID"], [2, )json"
    R"json("PetType"], [2, "pet_age"], [2, "weight"]], "column_types": ["text", "number", )json"
    R"json("text", "text", "number", "text", "number", "number", "text", "number", )json"
    R"json("number", "number", "text", "number", "number"], "db_id": "pets_1", )json"
    R"json("foreign_keys": [[9, 1], [10, 11]], "primary_keys": [1, 11], )json"
    R"json("table_names": ["student", "has pet", "pets"], )json"
    R"json("table_names_original": ["Student", "Has_Pet", "Pets"]}])json";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    (void)fathom::eval::MySqlDumpToSqlite({input.data(), input.size()}, "dump.sql");
    return 0;
  }
  static const std::string tables_path = [] {
    const std::string path = fuzz::ScratchPath("tables.json");
    fuzz::WriteFileOrDie(path, kTables);
    return path;
  }();
  static const std::string pred_path = fuzz::ScratchPath("pred.sql");
  static const std::string gold_path = fuzz::ScratchPath("gold.sql");
  const std::vector<std::string_view> parts = fuzz::SplitText(input, 2);
  fuzz::WriteFileOrDie(pred_path, parts[0]);
  fuzz::WriteFileOrDie(gold_path, parts.back());
  auto score = fathom::eval::ScoreSpiderExactMatch(pred_path, gold_path, tables_path);
  return score.ok() && score->examples.size() > 1000000 ? 1 : 0;
}
