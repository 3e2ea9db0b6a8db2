// Encodes a Spider question + schema segment by segment (spider_segments.h) with the source
// vocabulary, recording each piece's segment, and computes the segment relations. Prepare's
// Spider path uses it in place of encoding the serialised string whole.
#ifndef FATHOM_PREPARE_SPIDER_INPUT_ENCODER_H_
#define FATHOM_PREPARE_SPIDER_INPUT_ENCODER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/vocabulary.h"
#include "prepare/spider_reader.h"

namespace fathom::prepare {

struct EncodedSpiderInput {
  std::vector<int> ids;                  // source pieces, without EOS
  std::vector<uint16_t> piece_segments;  // per piece: the segment it came from
  int num_segments = 0;
  std::vector<uint8_t> segment_relations;  // num_segments x num_segments, row-major
};

// Not thread-safe: it caches each database's encoded schema by db_id, which every question on
// that database shares (Spider has ~7k questions over ~200 schemas).
class SpiderInputEncoder {
 public:
  explicit SpiderInputEncoder(const data::Vocabulary& vocab) : vocab_(vocab) {}

  // Fails when the input has more segments than a uint16 segment index can name.
  absl::StatusOr<EncodedSpiderInput> Encode(const std::string& question,
                                            const SpiderSchema& schema);

 private:
  const data::Vocabulary& vocab_;
  std::map<std::string, std::vector<std::vector<int>>> schema_ids_;  // by db_id, per schema segment
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SPIDER_INPUT_ENCODER_H_
