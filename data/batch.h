// A padded batch of token ids, built from a BatchPlan over a ShardDataset, with the source
// relation ids of relation-aware encoders when the split has them. Plain row-major arrays so
// that data/ knows no tensor library; the trainer wraps them.
#ifndef FATHOM_DATA_BATCH_H_
#define FATHOM_DATA_BATCH_H_

#include <cstdint>
#include <vector>

#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"

namespace fathom::data {

struct Batch {
  int64_t size = 0;                   // examples
  int32_t source_length = 0;          // columns of `source`: longest source + EOS
  int32_t target_length = 0;          // columns of target_input / target_output: longest target + 1
  std::vector<int32_t> source;        // ids + EOS, then PAD
  std::vector<int32_t> target_input;  // BOS + ids, then PAD (teacher forcing input)
  std::vector<int32_t> target_output;   // ids + EOS, then PAD (what the loss predicts)
  std::vector<int32_t> source_lengths;  // with EOS
  std::vector<int32_t> target_lengths;  // with BOS/EOS (the count of non-pad target positions)
  std::vector<int64_t> examples;        // example indices in the split
  // [size x source_length x source_length], filled only when built with a RelationStore:
  // relations[(b * source_length + i) * source_length + j] is the relation id (< kNumRelations,
  // data/relations.h) of source position i to position j of example b. Rows and columns
  // of EOS and padding are 0 (kNone).
  std::vector<uint8_t> relations;
  int64_t target_tokens() const;  // non-pad target positions (the loss normaliser)
};

struct SpecialIds {
  int32_t pad = 0;
  int32_t bos = 2;
  int32_t eos = 3;
};

Batch MakeBatch(const ShardDataset& dataset, const BatchPlan& plan, const SpecialIds& ids);
// The same, and fills `relations` from `relations` (the store opened beside `dataset`) unless
// it is null.
Batch MakeBatch(const ShardDataset& dataset, const BatchPlan& plan, const SpecialIds& ids,
                const RelationStore* relations);

}  // namespace fathom::data

#endif  // FATHOM_DATA_BATCH_H_
