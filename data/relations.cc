#include "data/relations.h"

#include <iterator>

namespace fathom::data {
namespace {

constexpr const char* kRelationNames[] = {
    "none",
    "question_distance_-2",
    "question_distance_-1",
    "question_distance_0",
    "question_distance_+1",
    "question_distance_+2",
    "question_column_exact",
    "question_column_partial",
    "column_question_exact",
    "column_question_partial",
    "question_table_exact",
    "question_table_partial",
    "table_question_exact",
    "table_question_partial",
    "column_belongs_to_table",
    "table_has_column",
    "column_same_table",
    "column_foreign_key_forward",
    "column_foreign_key_backward",
    "table_foreign_key_forward",
    "table_foreign_key_backward",
    "table_foreign_key_both",
    "column_primary_key_of_table",
    "table_primary_key_column",
    "same_segment",
};

static_assert(std::size(kRelationNames) == kNumRelations, "one name per relation");

}  // namespace

const char* RelationName(int relation) {
  return relation >= 0 && relation < kNumRelations ? kRelationNames[relation] : "invalid";
}

void ExpandRelationsToPieces(const uint8_t* segment_relations, int num_segments,
                             const uint16_t* piece_segments, int num_pieces, int64_t row_stride,
                             uint8_t* out) {
  constexpr uint8_t kNone = static_cast<uint8_t>(Relation::kNone);
  constexpr uint8_t kSame = static_cast<uint8_t>(Relation::kSameSegment);
  for (int i = 0; i < num_pieces; ++i) {
    const int si = piece_segments[i];
    const uint8_t* row = segment_relations + static_cast<size_t>(si) * num_segments;
    uint8_t* out_row = out + i * row_stride;
    for (int j = 0; j < num_pieces; ++j) {
      const int sj = piece_segments[j];
      const uint8_t relation = row[sj];
      out_row[j] = (si == sj && i != j && relation != kNone) ? kSame : relation;
    }
  }
}

}  // namespace fathom::data
