#include "decode/text_sources.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace fathom::decode {

TextSources::TextSources(const std::vector<std::string>& lines, const data::Vocabulary& vocab,
                         const data::SpecialIds& special)
    : ids_(lines.size()), special_(special) {
  for (size_t i = 0; i < lines.size(); ++i) {
    // A blank line has no pieces, whatever the SentencePiece model makes of whitespace (one
    // trained without whitespace removal would give it a "▁"), so it is never decoded.
    if (absl::StripAsciiWhitespace(lines[i]).empty()) continue;
    vocab.Encode(lines[i], &ids_[i]);
  }
}

SourceBatch TextSources::MakeBatch(const std::vector<int64_t>& rows, int64_t width) const {
  int64_t columns = 1;
  for (int64_t i : rows) columns = std::max(columns, std::min(length(i), width - 1) + 1);
  SourceBatch batch;
  batch.source =
      torch::full({static_cast<int64_t>(rows.size()), columns}, special_.pad, torch::kLong);
  auto source = batch.source.accessor<int64_t, 2>();
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<int>& ids = ids_[rows[r]];
    const int64_t kept = std::min<int64_t>(static_cast<int64_t>(ids.size()), width - 1);
    for (int64_t t = 0; t < kept; ++t) source[r][t] = ids[t];
    source[r][kept] = special_.eos;
  }
  return batch;
}

}  // namespace fathom::decode
