// One split's relation records (layout in proto/shard.proto), memory-mapped beside its
// ShardDataset: RelationStore::Open checks every record once, so batch building reads them
// without checks.
#ifndef FATHOM_DATA_RELATION_STORE_H_
#define FATHOM_DATA_RELATION_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "data/shard_dataset.h"

namespace fathom::data {

class RelationStore {
 public:
  // Opens the relations of `dataset`, the split opened from `dir`. Fails (naming the file) when
  // the header records none (check dataset.header().has_relations() first), when they were
  // written with another relation vocabulary, or when a size, offset, piece count (must equal the
  // source length), segment or relation id is out of place.
  static absl::StatusOr<std::unique_ptr<RelationStore>> Open(const std::string& dir,
                                                             const ShardDataset& dataset);
  ~RelationStore();
  RelationStore(const RelationStore&) = delete;
  RelationStore& operator=(const RelationStore&) = delete;

  int64_t size() const { return num_examples_; }
  int num_segments(int64_t i) const { return static_cast<int>(Record(i)[0]); }
  int num_pieces(int64_t i) const { return static_cast<int>(Record(i)[1]); }
  // num_pieces(i) segment indices.
  const uint16_t* piece_segments(int64_t i) const {
    return reinterpret_cast<const uint16_t*>(Record(i) + 2);
  }
  // num_segments(i)^2 relation ids, row-major.
  const uint8_t* segment_relations(int64_t i) const {
    return reinterpret_cast<const uint8_t*>(piece_segments(i) + num_pieces(i));
  }
  // Writes example i's piece relations (relations.h, ExpandRelationsToPieces) to
  // out[r * row_stride + c] for r, c < num_pieces(i).
  void CopyPieceRelations(int64_t i, int64_t row_stride, uint8_t* out) const;

 private:
  RelationStore() = default;
  const uint32_t* Record(int64_t i) const {
    return reinterpret_cast<const uint32_t*>(records_ + offsets_[i]);
  }

  int64_t num_examples_ = 0;
  const uint64_t* offsets_ = nullptr;
  const uint8_t* records_ = nullptr;
  size_t offsets_bytes_ = 0;
  size_t records_bytes_ = 0;
};

}  // namespace fathom::data

#endif  // FATHOM_DATA_RELATION_STORE_H_
