// A prepared split as decoding sources: the source ids `fathom prepare` wrote, with their
// relation ids for a relation-aware model, read from the memory-mapped shards (validation BLEU
// decodes what it trains on, never text rebuilt from ids).
#ifndef FATHOM_DECODE_SHARD_SOURCES_H_
#define FATHOM_DECODE_SHARD_SOURCES_H_

#include <vector>

#include "data/batch.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "decode/decode_sources.h"

namespace fathom::decode {

class ShardSources : public DecodeSources {
 public:
  // `dataset` and `relations` (null when the split has none) must outlive this object.
  ShardSources(const data::ShardDataset& dataset, const data::RelationStore* relations,
               const data::SpecialIds& special)
      : dataset_(dataset), relations_(relations), special_(special) {}

  int64_t size() const override { return dataset_.size(); }
  int64_t length(int64_t i) const override { return dataset_.source_length(i); }
  SourceBatch MakeBatch(const std::vector<int64_t>& rows, int64_t width) const override;

 private:
  const data::ShardDataset& dataset_;
  const data::RelationStore* relations_;
  data::SpecialIds special_;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_SHARD_SOURCES_H_
