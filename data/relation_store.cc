#include "data/relation_store.h"

#include <sys/mman.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/file_io.h"
#include "data/relations.h"
#include "data/shard_format.h"

namespace fathom::data {
namespace {

uint64_t PaddedRecordBytes(uint64_t num_segments, uint64_t num_pieces) {
  const uint64_t bytes =
      2 * sizeof(uint32_t) + num_pieces * sizeof(uint16_t) + num_segments * num_segments;
  return (bytes + kRelationRecordAlignment - 1) / kRelationRecordAlignment *
         kRelationRecordAlignment;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RelationStore>> RelationStore::Open(const std::string& dir,
                                                                   const ShardDataset& dataset) {
  const proto::ShardHeader& header = dataset.header();
  const std::string split = header.split();
  const std::string header_path = ShardHeaderFile(dir, split);
  if (!header.has_relations()) {
    return absl::FailedPreconditionError(
        absl::StrCat(header_path, ": no relations recorded (only TEXT_TO_SQL splits have them)"));
  }
  if (header.relations().num_relations() != kNumRelations) {
    return absl::FailedPreconditionError(absl::StrCat(
        header_path, ": relations written with ", header.relations().num_relations(),
        " relation ids, this build has ", kNumRelations, "; run `fathom prepare` again"));
  }
  const std::string records_path = ShardRelationsFile(dir, split);
  const std::string index_path = ShardRelationsIndexFile(dir, split);
  std::unique_ptr<RelationStore> store(new RelationStore());
  const uint8_t* index_data = nullptr;
  RETURN_IF_ERROR(MapFile(index_path, &index_data, &store->offsets_bytes_));
  store->offsets_ = reinterpret_cast<const uint64_t*>(index_data);
  RETURN_IF_ERROR(MapFile(records_path, &store->records_, &store->records_bytes_));

  // Sizes are compared by division so a corrupt count cannot overflow into a match.
  const int64_t n = dataset.size();
  store->num_examples_ = n;
  const size_t index_bytes = store->offsets_bytes_;
  if (index_bytes % sizeof(uint64_t) != 0 ||
      index_bytes / sizeof(uint64_t) != static_cast<uint64_t>(n) + 1 ||
      static_cast<int64_t>(index_bytes) != header.relations().index_file_bytes()) {
    return absl::DataLossError(absl::StrCat(
        index_path, ": ", index_bytes, " bytes, but the split's ", n, " examples need ",
        (static_cast<uint64_t>(n) + 1) * sizeof(uint64_t), " and the header records ",
        header.relations().index_file_bytes(), " (truncated or from another run)"));
  }
  const size_t records_bytes = store->records_bytes_;
  if (static_cast<int64_t>(records_bytes) != header.relations().file_bytes()) {
    return absl::DataLossError(
        absl::StrCat(records_path, ": ", records_bytes, " bytes, the header says ",
                     header.relations().file_bytes(), " (truncated or from another run)"));
  }
  const uint64_t* o = store->offsets_;
  if (o[0] != 0 || o[n] != records_bytes) {
    return absl::DataLossError(absl::StrCat(index_path, ": offsets do not span ", records_path));
  }
  for (int64_t i = 0; i < n; ++i) {
    const std::string where = absl::StrCat(records_path, ": example ", i);
    if (o[i + 1] < o[i] || o[i + 1] > records_bytes || o[i + 1] - o[i] < 2 * sizeof(uint32_t) ||
        o[i] % kRelationRecordAlignment != 0) {
      return absl::DataLossError(absl::StrCat(index_path, ": bad offsets ", o[i], ", ", o[i + 1],
                                              " of example ", i, " (corrupt index)"));
    }
    const uint64_t segments = static_cast<uint32_t>(store->num_segments(i));
    const uint64_t pieces = static_cast<uint32_t>(store->num_pieces(i));
    if (pieces != static_cast<uint64_t>(dataset.source_length(i))) {
      return absl::DataLossError(absl::StrCat(where, ": ", pieces, " pieces, but its source has ",
                                              dataset.source_length(i)));
    }
    if (segments > 0xFFFF || PaddedRecordBytes(segments, pieces) != o[i + 1] - o[i]) {
      return absl::DataLossError(absl::StrCat(where, ": record of ", o[i + 1] - o[i],
                                              " bytes does not hold ", segments, " segments and ",
                                              pieces, " pieces"));
    }
    const uint16_t* piece_segments = store->piece_segments(i);
    for (uint64_t p = 0; p < pieces; ++p) {
      if (piece_segments[p] >= segments) {
        return absl::DataLossError(absl::StrCat(where, ": piece ", p, " has segment ",
                                                piece_segments[p], " of ", segments));
      }
    }
    const uint8_t* relations = store->segment_relations(i);
    for (uint64_t k = 0; k < segments * segments; ++k) {
      if (relations[k] >= kNumRelations) {
        return absl::DataLossError(absl::StrCat(
            where, ": relation id ", static_cast<int>(relations[k]), " >= ", kNumRelations));
      }
    }
  }
  return store;
}

RelationStore::~RelationStore() {
  if (offsets_ != nullptr) ::munmap(const_cast<uint64_t*>(offsets_), offsets_bytes_);
  if (records_ != nullptr) ::munmap(const_cast<uint8_t*>(records_), records_bytes_);
}

void RelationStore::CopyPieceRelations(int64_t i, int64_t row_stride, uint8_t* out) const {
  ExpandRelationsToPieces(segment_relations(i), num_segments(i), piece_segments(i), num_pieces(i),
                          row_stride, out);
}

}  // namespace fathom::data
