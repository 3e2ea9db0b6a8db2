#include "trainer/device_batch.h"

namespace fathom::trainer {
namespace {

torch::Tensor Ids(const std::vector<int32_t>& ids, int64_t rows, int64_t cols, const torch::Device& device) {
  // from_blob borrows; the copy to int64 owns its memory.
  return torch::from_blob(const_cast<int32_t*>(ids.data()), {rows, cols}, torch::kInt)
      .to(device, torch::kLong, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

DeviceBatch ToDevice(const data::Batch& batch, const torch::Device& device) {
  DeviceBatch out;
  out.source = Ids(batch.source, batch.size, batch.source_length, device);
  out.target_input = Ids(batch.target_input, batch.size, batch.target_length, device);
  out.target_output = Ids(batch.target_output, batch.size, batch.target_length, device);
  if (!batch.relations.empty()) {
    out.relations = torch::from_blob(const_cast<uint8_t*>(batch.relations.data()),
                                     {batch.size, batch.source_length, batch.source_length}, torch::kUInt8)
                        .to(device, torch::kLong, false, true);
  }
  out.target_tokens = batch.target_tokens();
  for (int32_t length : batch.source_lengths) out.source_tokens += length;
  return out;
}

}  // namespace fathom::trainer
