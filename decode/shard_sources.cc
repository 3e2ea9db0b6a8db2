#include "decode/shard_sources.h"

namespace fathom::decode {

SourceBatch ShardSources::MakeBatch(const std::vector<int64_t>& rows, int64_t width) const {
  data::BatchPlan plan;
  plan.examples = rows;
  const data::Batch batch = data::MakeBatch(dataset_, plan, special_, relations_);
  SourceBatch out;
  out.source = torch::from_blob(const_cast<int32_t*>(batch.source.data()),
                                {batch.size, batch.source_length}, torch::kInt)
                   .to(torch::kLong);
  if (!batch.relations.empty()) {
    out.relations =
        torch::from_blob(const_cast<uint8_t*>(batch.relations.data()),
                         {batch.size, batch.source_length, batch.source_length}, torch::kUInt8)
            .to(torch::kLong);
  }
  if (batch.source_length > width) {
    out.source = out.source.narrow(1, 0, width).clone();
    for (int64_t r = 0; r < batch.size; ++r) {
      if (batch.source_lengths[r] > width) out.source[r][width - 1] = special_.eos;
    }
    if (out.relations.defined()) {
      // EOS relates to nothing (MakeBatch leaves its row and column 0).
      out.relations = out.relations.narrow(1, 0, width).narrow(2, 0, width).clone();
      for (int64_t r = 0; r < batch.size; ++r) {
        if (batch.source_lengths[r] <= width) continue;
        out.relations[r].select(0, width - 1).zero_();
        out.relations[r].select(1, width - 1).zero_();
      }
    }
  }
  return out;
}

}  // namespace fathom::decode
