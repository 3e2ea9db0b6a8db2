// The relation vocabulary of relation-aware encoder layers on Spider inputs (RAT-SQL, Wang et
// al. 2020; docs/algorithms.md, "Relation-aware self-attention"): the ids prepared shards store
// (SPLIT.relations, relation_store.h) and their expansion to SentencePiece pieces when batches
// are built. `fathom prepare` computes them (prepare/spider_relations.h).
//
// r[i][j] is how position i (the query) relates to position j (the key); names read "i j", so
// kColumnBelongsToTable sits at [column][table] and kTableHasColumn at [table][column]. Relations
// involving the db_id, separators ("|", ":", ","), EOS or padding are kNone.
#ifndef FATHOM_DATA_RELATIONS_H_
#define FATHOM_DATA_RELATIONS_H_

#include <cstdint>

namespace fathom::data {

// Ids are stored in prepared shards (SPLIT.relations): append new relations at the end and
// bump kNumRelations; the header records the count, so older shards are refused, not misread.
enum class Relation : uint8_t {
  kNone = 0,
  // Question word j is d words after question word i (i's own pieces: 0), d clipped to [-2, 2].
  kQuestionDistanceMinus2 = 1,
  kQuestionDistanceMinus1 = 2,
  kQuestionDistance0 = 3,
  kQuestionDistancePlus1 = 4,
  kQuestionDistancePlus2 = 5,
  // Schema linking (prepare/schema_linking.h): exact = the word is part of an occurrence of the
  // whole natural name; partial = the word is one of the name's words.
  kQuestionColumnExact = 6,
  kQuestionColumnPartial = 7,
  kColumnQuestionExact = 8,
  kColumnQuestionPartial = 9,
  kQuestionTableExact = 10,
  kQuestionTablePartial = 11,
  kTableQuestionExact = 12,
  kTableQuestionPartial = 13,
  // A column of the table that is not (part of) its primary key.
  kColumnBelongsToTable = 14,
  kTableHasColumn = 15,
  // Two different columns of one table, neither a foreign key of the other.
  kColumnSameTable = 16,
  // Column i is a foreign key referencing column j (forward) or is referenced by it (backward).
  kColumnForeignKeyForward = 17,
  kColumnForeignKeyBackward = 18,
  // Some column of table i references a column of table j (forward), the reverse (backward), or
  // both; a table referencing itself keeps its diagonal.
  kTableForeignKeyForward = 19,
  kTableForeignKeyBackward = 20,
  kTableForeignKeyBoth = 21,
  // Column i is (part of) the primary key of table j, and the reverse; replaces belongs-to.
  kColumnPrimaryKeyOfTable = 22,
  kTablePrimaryKeyColumn = 23,
  // Two pieces of one question word, table name or column name; also the diagonal of tables
  // and columns (a question word's own diagonal is kQuestionDistance0).
  kSameSegment = 24,
};

inline constexpr int kNumRelations = 25;

// "question_column_exact" etc., for logs and test messages; "invalid" out of range.
const char* RelationName(int relation);

// Piece-level relations of one example's source pieces: out[i * row_stride + j] for i, j in
// [0, num_pieces) is segment_relations[seg(i)][seg(j)], except that two different pieces of one
// segment are kSameSegment unless that segment's diagonal is kNone (db_id, separators). Question
// distances are thereby word distances. Writes nothing outside the num_pieces x num_pieces block.
void ExpandRelationsToPieces(const uint8_t* segment_relations, int num_segments,
                             const uint16_t* piece_segments, int num_pieces, int64_t row_stride,
                             uint8_t* out);

}  // namespace fathom::data

#endif  // FATHOM_DATA_RELATIONS_H_
