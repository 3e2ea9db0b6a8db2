// The text2sql-data readers (GeoQuery, ATIS: prepare/text2sql_data.h) on a fuzzed JSON file and
// schema CSV, then what `fathom prepare` and execution accuracy do with them: every query with
// every question's values put in, the questions of a split as Spider examples, and their model
// input (segments and relations) against the schema.
//
// Input: the JSON file, tests/fuzz/fuzz_util.h's kTextSeparator, the schema CSV (without a
// separator the schema is empty).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "prepare/spider_relations.h"
#include "prepare/spider_segments.h"
#include "prepare/text2sql_data.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  namespace prepare = fathom::prepare;
  const std::vector<std::string_view> parts =
      fuzz::SplitText({reinterpret_cast<const char*>(data), size}, 2);
  static const std::string path = fuzz::ScratchPath("geography.json");
  static const std::string schema_path = fuzz::ScratchPath("geography-schema.csv");
  fuzz::WriteFileOrDie(path, parts[0]);
  fuzz::WriteFileOrDie(schema_path, parts.size() > 1 ? parts[1] : std::string_view());

  size_t sum = 0;
  auto entries = prepare::LoadText2SqlData(path);
  if (entries.ok()) {
    for (const prepare::Text2SqlEntry& entry : *entries) {
      for (const std::string& sql : entry.sql) {
        sum += prepare::SubstituteVariables(sql, entry.examples).size();
        for (const prepare::Text2SqlQuestion& question : entry.questions) {
          const auto values = prepare::QuestionVariables(entry, question);
          sum += prepare::SubstituteVariables(sql, values).size();
          sum += prepare::SubstituteQuestion(question.text, values).size();
        }
      }
    }
  }
  auto schema = prepare::Text2SqlSchemaFor(parts.size() > 1 ? schema_path : "", "geography");
  if (!schema.ok()) return 0;
  for (const char* split : {"train", "dev"}) {
    auto examples = prepare::LoadText2SqlExamples(path, split);
    if (!examples.ok()) continue;
    for (const prepare::SpiderExample& example : *examples) {
      const auto segments = prepare::SegmentSpiderInput(example.question, *schema);
      // Relations are quadratic in the segments; a few hundred cover every code path.
      if (segments.size() > 400) continue;
      for (uint8_t relation : prepare::ComputeSegmentRelations(segments, *schema)) sum += relation;
    }
  }
  return sum == 1 ? 1 : 0;
}
