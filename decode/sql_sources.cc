#include "decode/sql_sources.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "data/relations.h"

namespace fathom::decode {

SqlSources::SqlSources(const std::vector<prepare::SpiderExample>& examples,
                       const prepare::SpiderSchemas& schemas, const data::Vocabulary& vocab,
                       const data::SpecialIds& special, bool relations)
    : encoded_(examples.size()),
      problems_(examples.size()),
      special_(special),
      relations_(relations) {
  // One encoder for all: it caches each schema's pieces by db_id, as prepare's does.
  prepare::SpiderInputEncoder encoder(vocab);
  for (size_t i = 0; i < examples.size(); ++i) {
    const prepare::SpiderExample& example = examples[i];
    if (example.problem.empty()) {
      const auto schema = schemas.find(example.db_id);
      if (schema == schemas.end()) {
        problems_[i] = absl::StrCat("example ", i, ": unknown db_id \"", example.db_id, "\"");
      } else {
        absl::StatusOr<prepare::EncodedSpiderInput> input =
            encoder.Encode(example.question, schema->second);
        if (input.ok()) {
          encoded_[i] = *std::move(input);
        } else {
          problems_[i] = absl::StrCat("example ", i, " (db_id ", example.db_id,
                                      "): ", input.status().message());
        }
      }
    } else {
      problems_[i] = example.problem;
    }
    if (!problems_[i].empty()) {
      encoded_[i] = prepare::EncodedSpiderInput();
      ++num_problems_;
    }
  }
}

SourceBatch SqlSources::MakeBatch(const std::vector<int64_t>& rows, int64_t width) const {
  // data::MakeBatch's layout (pieces, EOS, padding; relations of EOS and padding 0), cut as
  // ShardSources cuts: a source over width - 1 pieces keeps its first width - 1 and EOS. A
  // piece's relations depend only on its segment and its own position, so expanding the kept
  // pieces alone gives the cut of the full expansion.
  int64_t columns = 1;
  for (int64_t i : rows) columns = std::max(columns, std::min(length(i), width - 1) + 1);
  const int64_t n = static_cast<int64_t>(rows.size());
  SourceBatch batch;
  batch.source = torch::full({n, columns}, special_.pad, torch::kLong);
  auto source = batch.source.accessor<int64_t, 2>();
  std::vector<uint8_t> relations;
  if (relations_) relations.assign(n * columns * columns, 0);
  for (int64_t r = 0; r < n; ++r) {
    const prepare::EncodedSpiderInput& input = encoded_[rows[r]];
    const int64_t kept = std::min<int64_t>(length(rows[r]), width - 1);
    for (int64_t t = 0; t < kept; ++t) source[r][t] = input.ids[t];
    source[r][kept] = special_.eos;
    if (relations_ && kept > 0) {
      data::ExpandRelationsToPieces(input.segment_relations.data(), input.num_segments,
                                    input.piece_segments.data(), static_cast<int>(kept), columns,
                                    relations.data() + r * columns * columns);
    }
  }
  if (relations_) {
    batch.relations =
        torch::from_blob(relations.data(), {n, columns, columns}, torch::kUInt8).to(torch::kLong);
  }
  return batch;
}

}  // namespace fathom::decode
