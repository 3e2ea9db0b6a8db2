// The relations of relation-aware encoder layers on Spider inputs (RAT-SQL, Wang et al. 2020;
// docs/algorithms.md, "Relation-aware self-attention") computed over the segments of
// spider_segments.h. The ids, their names and their expansion to SentencePiece pieces when
// batches are built are the read side's (data/relations.h).
#ifndef FATHOM_PREPARE_SPIDER_RELATIONS_H_
#define FATHOM_PREPARE_SPIDER_RELATIONS_H_

#include <cstdint>
#include <vector>

#include "data/relations.h"
#include "prepare/spider_reader.h"
#include "prepare/spider_segments.h"

namespace fathom::prepare {

// Row-major num_segments x num_segments segment relations (ids as uint8_t). The "*" column is a
// column of no table: it matches no name and has no schema relations.
std::vector<uint8_t> ComputeSegmentRelations(const std::vector<SpiderSegment>& segments,
                                             const SpiderSchema& schema);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SPIDER_RELATIONS_H_
