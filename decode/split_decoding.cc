#include "decode/split_decoding.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "decode/shard_sources.h"

namespace fathom::decode {

absl::StatusOr<SplitDecoded> DecodeSplitExamples(
    models::Seq2SeqImpl& model, const data::ShardDataset& dataset,
    const data::RelationStore* relations, const data::SpecialIds& special,
    absl::Span<const int64_t> examples, const DecodeOptions& options, const Progress& progress) {
  for (int64_t e : examples) {
    if (e < 0 || e >= dataset.size()) {
      return absl::OutOfRangeError(absl::StrCat("validation example ", e, " is outside split \"",
                                                dataset.header().split(), "\" (", dataset.size(),
                                                " examples)"));
    }
  }
  // Ascending example order = the order of the lines `fathom translate` reads (and the input
  // order of SQL prediction), so ties in length fall into the same batches.
  SplitDecoded out;
  out.sorted.assign(examples.begin(), examples.end());
  std::sort(out.sorted.begin(), out.sorted.end());
  const ShardSources sources(dataset, relations, special);
  out.hyps = DecodeSentences(model, sources, out.sorted, options, progress);
  return out;
}

std::vector<std::string> InExampleOrder(absl::Span<const int64_t> examples,
                                        absl::Span<const int64_t> sorted,
                                        const std::vector<std::string>& decoded) {
  std::vector<std::string> ordered;
  ordered.reserve(examples.size());
  for (int64_t e : examples) {
    const size_t at = std::lower_bound(sorted.begin(), sorted.end(), e) - sorted.begin();
    ordered.push_back(decoded[at]);
  }
  return ordered;
}

}  // namespace fathom::decode
