#include "data/batch.h"

#include <algorithm>

namespace fathom::data {

int64_t Batch::target_tokens() const {
  int64_t total = 0;
  for (int32_t length : target_lengths) total += length;
  return total;
}

Batch MakeBatch(const ShardDataset& dataset, const BatchPlan& plan, const SpecialIds& ids) {
  return MakeBatch(dataset, plan, ids, nullptr);
}

Batch MakeBatch(const ShardDataset& dataset, const BatchPlan& plan, const SpecialIds& ids,
                const RelationStore* relations) {
  Batch batch;
  batch.size = static_cast<int64_t>(plan.examples.size());
  batch.examples = plan.examples;
  int32_t max_source = 0;
  int32_t max_target = 0;
  for (int64_t e : plan.examples) {
    max_source = std::max(max_source, dataset.source_length(e));
    max_target = std::max(max_target, dataset.target_length(e));
  }
  batch.source_length = max_source + 1;
  batch.target_length = max_target + 1;
  batch.source.assign(batch.size * batch.source_length, ids.pad);
  batch.target_input.assign(batch.size * batch.target_length, ids.pad);
  batch.target_output.assign(batch.size * batch.target_length, ids.pad);
  batch.source_lengths.resize(batch.size);
  batch.target_lengths.resize(batch.size);
  for (int64_t row = 0; row < batch.size; ++row) {
    const int64_t e = plan.examples[row];
    const int32_t src_len = dataset.source_length(e);
    const int32_t tgt_len = dataset.target_length(e);
    int32_t* src = batch.source.data() + row * batch.source_length;
    dataset.CopySource(e, src);
    src[src_len] = ids.eos;
    int32_t* out = batch.target_output.data() + row * batch.target_length;
    dataset.CopyTarget(e, out);
    out[tgt_len] = ids.eos;
    int32_t* in = batch.target_input.data() + row * batch.target_length;
    in[0] = ids.bos;
    std::copy(out, out + tgt_len, in + 1);
    batch.source_lengths[row] = src_len + 1;
    batch.target_lengths[row] = tgt_len + 1;
  }
  if (relations != nullptr) {
    const int64_t length = batch.source_length;
    batch.relations.assign(batch.size * length * length, 0);
    for (int64_t row = 0; row < batch.size; ++row) {
      relations->CopyPieceRelations(plan.examples[row], length,
                                    batch.relations.data() + row * length * length);
    }
  }
  return batch;
}

}  // namespace fathom::data
