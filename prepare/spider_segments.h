// Splits a Spider model input (question + serialised schema) into segments: the units that
// schema relations are defined over (spider_relations.h). Prepare encodes each segment on its
// own, so every source piece knows the question word, table or column it came from. The segment
// texts joined by single spaces are the serialisation, so the model sees the same text either way.
#ifndef FATHOM_PREPARE_SPIDER_SEGMENTS_H_
#define FATHOM_PREPARE_SPIDER_SEGMENTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "prepare/spider_reader.h"

namespace fathom::prepare {

enum class SegmentKind : uint8_t {
  kQuestionWord,  // one whitespace-separated token of the question, punctuation attached
  kDbId,
  kSeparator,  // "|", ":" or ","
  kTable,
  kColumn,
};

struct SpiderSegment {
  SegmentKind kind = SegmentKind::kSeparator;
  std::string text;  // as serialised
  // kQuestionWord: the word's position in the question (which is also its segment index);
  // kTable: index into SpiderSchema::table_names; kColumn: Spider column id (0 is "*"); else -1.
  int item = -1;
};

// The segments of
//   "question words | db_id | * | table : col , col | table : col ..."
// Question words are split on ASCII whitespace only, so encoding them one by one gives the
// pieces SentencePiece gives the whole question. Table and column names are the *original*
// ones, lower-cased, so the model can copy them into SQL; the db_id is kept as is, as PICARD
// does. "*" (column 0) comes first, on its own, belonging to no table; tables keep their file
// order and list their columns in column-id order. A table without columns is "table :".
std::vector<SpiderSegment> SegmentSpiderInput(absl::string_view question,
                                              const SpiderSchema& schema);

// The model input text: the segment texts joined by single spaces, e.g.
//   "How many singers do we have? | concert_singer | * | stadium : stadium_id , location | ..."
std::string SerializeSpiderInput(absl::string_view question, const SpiderSchema& schema);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SPIDER_SEGMENTS_H_
