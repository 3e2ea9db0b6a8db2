// The Spider reader on a fuzzed tables.json and examples file (LoadSpiderTables,
// LoadSpiderExamples, and LoadSpiderExamplesForPrediction as prediction reads an input file),
// then what `fathom prepare` does next with each example: its segments (question words and the
// serialised schema) and their relations.
//
// Input: the tables file, tests/fuzz/fuzz_util.h's kTextSeparator, the examples file (without a
// separator the whole input is both). The examples are read against the schemas loaded, or
// against none when the tables file fails.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "prepare/spider_reader.h"
#include "prepare/spider_relations.h"
#include "prepare/spider_segments.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  namespace prepare = fathom::prepare;
  const std::vector<std::string_view> parts =
      fuzz::SplitText({reinterpret_cast<const char*>(data), size}, 2);
  static const std::string tables_path = fuzz::ScratchPath("tables.json");
  static const std::string examples_path = fuzz::ScratchPath("examples.json");
  fuzz::WriteFileOrDie(tables_path, parts[0]);
  fuzz::WriteFileOrDie(examples_path, parts.back());

  auto schemas = prepare::LoadSpiderTables(tables_path);
  const prepare::SpiderSchemas none;
  const prepare::SpiderSchemas& loaded = schemas.ok() ? *schemas : none;
  size_t sum = 0;
  auto predict = prepare::LoadSpiderExamplesForPrediction(examples_path, loaded);
  if (predict.ok()) {
    for (const prepare::SpiderExample& example : *predict) sum += example.problem.size();
  }
  auto examples = prepare::LoadSpiderExamples(examples_path, loaded);
  if (!examples.ok()) return 0;
  for (const prepare::SpiderExample& example : *examples) {
    const prepare::SpiderSchema& schema = loaded.at(example.db_id);
    const std::vector<prepare::SpiderSegment> segments =
        prepare::SegmentSpiderInput(example.question, schema);
    sum += prepare::SerializeSpiderInput(example.question, schema).size();
    // Relations are quadratic in the segments; a few hundred cover every code path.
    if (segments.size() > 400) continue;
    for (uint8_t relation : prepare::ComputeSegmentRelations(segments, schema)) sum += relation;
  }
  return sum == 1 ? 1 : 0;
}
