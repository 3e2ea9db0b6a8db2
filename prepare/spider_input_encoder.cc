#include "prepare/spider_input_encoder.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "prepare/spider_relations.h"
#include "prepare/spider_segments.h"

namespace fathom::prepare {

absl::StatusOr<EncodedSpiderInput> SpiderInputEncoder::Encode(const std::string& question,
                                                              const SpiderSchema& schema) {
  const std::vector<SpiderSegment> segments = SegmentSpiderInput(question, schema);
  if (segments.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input has ", segments.size(), " segments, more than a uint16 segment index holds"));
  }
  size_t num_question = 0;
  while (num_question < segments.size() &&
         segments[num_question].kind == SegmentKind::kQuestionWord) {
    ++num_question;
  }
  std::vector<std::vector<int>>& schema_ids = schema_ids_[schema.db_id];
  if (schema_ids.size() != segments.size() - num_question) {  // first use (or another schema)
    schema_ids.resize(segments.size() - num_question);
    for (size_t s = num_question; s < segments.size(); ++s) {
      vocab_.Encode(segments[s].text, &schema_ids[s - num_question]);
    }
  }

  EncodedSpiderInput out;
  out.num_segments = static_cast<int>(segments.size());
  std::vector<int> ids;
  for (size_t s = 0; s < segments.size(); ++s) {
    const std::vector<int>* piece_ids = &ids;
    if (s < num_question) {
      vocab_.Encode(segments[s].text, &ids);
    } else {
      piece_ids = &schema_ids[s - num_question];
    }
    out.ids.insert(out.ids.end(), piece_ids->begin(), piece_ids->end());
    out.piece_segments.insert(out.piece_segments.end(), piece_ids->size(),
                              static_cast<uint16_t>(s));
  }
  out.segment_relations = ComputeSegmentRelations(segments, schema);
  return out;
}

}  // namespace fathom::prepare
