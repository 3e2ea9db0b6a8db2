#ifndef FATHOM_DECODE_SPLIT_DECODING_H_
#define FATHOM_DECODE_SPLIT_DECODING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "data/batch.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "decode/beam_search.h"
#include "decode/decode_sentences.h"
#include "models/seq2seq.h"

namespace fathom::decode {

// Examples of a prepared split decoded in ascending order, with their hypotheses in that order.
struct SplitDecoded {
  std::vector<int64_t> sorted;
  std::vector<std::vector<Hypothesis>> hyps;
};

// Beam-searches `examples` of `dataset` on one process, as validation BLEU and validation exact
// match both do for `fathom translate`-equivalent output; an example outside the split is an
// OutOfRange error. Sorting first keeps batches the same whatever order the caller lists them in.
absl::StatusOr<SplitDecoded> DecodeSplitExamples(
    models::Seq2SeqImpl& model, const data::ShardDataset& dataset,
    const data::RelationStore* relations, const data::SpecialIds& special,
    absl::Span<const int64_t> examples, const DecodeOptions& options, const Progress& progress);

// `decoded` (one string per `sorted` example) put back into the order of `examples`.
std::vector<std::string> InExampleOrder(absl::Span<const int64_t> examples,
                                        absl::Span<const int64_t> sorted,
                                        const std::vector<std::string>& decoded);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_SPLIT_DECODING_H_
