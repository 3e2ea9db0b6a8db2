#include "trainer/device_batch.h"

#include <algorithm>

namespace fathom::trainer {
namespace {

torch::Tensor Ids(const std::vector<int32_t>& ids, int64_t rows, int64_t cols,
                  const torch::Device& device) {
  // from_blob borrows; the copy to int64 owns its memory.
  return torch::from_blob(const_cast<int32_t*>(ids.data()), {rows, cols}, torch::kInt)
      .to(device, torch::kLong, /*non_blocking=*/false, /*copy=*/true);
}

// x [B, L] or [B, L, L] padded with `value` to `width` in every position dimension.
torch::Tensor PadTo(const torch::Tensor& x, int64_t width, int64_t value) {
  std::vector<int64_t> pad;
  for (int64_t d = x.dim() - 1; d >= 1; --d) pad.insert(pad.end(), {0, width - x.size(d)});
  return torch::constant_pad_nd(x, pad, value);
}

// values [rows, cols(, cols2)] widened to int64 in a new host tensor.
template <typename T>
torch::Tensor HostLong(const std::vector<T>& values, std::vector<int64_t> shape, bool pinned) {
  torch::Tensor out = torch::empty(shape, torch::TensorOptions(torch::kLong).pinned_memory(pinned));
  TORCH_CHECK(out.numel() == static_cast<int64_t>(values.size()), "ToHost: ", values.size(),
              " values for a tensor of shape ", out.sizes());
  int64_t* dst = out.data_ptr<int64_t>();
  for (size_t i = 0; i < values.size(); ++i) dst[i] = static_cast<int64_t>(values[i]);
  return out;
}

// The host-side counts of `batch` into `out`.
void Count(const data::Batch& batch, DeviceBatch* out) {
  out->target_tokens = batch.target_tokens();
  for (int32_t length : batch.source_lengths) out->source_tokens += length;
  for (int64_t i = 0; i < batch.size; ++i) {
    out->lengths.Add(batch.source_lengths[i], batch.target_lengths[i]);
  }
}

}  // namespace

DeviceBatch Concatenate(const std::vector<DeviceBatch>& batches, int64_t pad_id) {
  TORCH_CHECK(!batches.empty(), "Concatenate: no batches");
  int64_t source_width = 0, target_width = 0;
  for (const DeviceBatch& b : batches) {
    source_width = std::max(source_width, b.source.size(1));
    target_width = std::max(target_width, b.target_input.size(1));
  }
  std::vector<torch::Tensor> source, target_input, target_output, relations;
  DeviceBatch out;
  for (const DeviceBatch& b : batches) {
    TORCH_CHECK(b.relations.defined() == batches[0].relations.defined(),
                "Concatenate: batches with and without relations");
    source.push_back(PadTo(b.source, source_width, pad_id));
    target_input.push_back(PadTo(b.target_input, target_width, pad_id));
    target_output.push_back(PadTo(b.target_output, target_width, pad_id));
    if (b.relations.defined()) relations.push_back(PadTo(b.relations, source_width, 0));
    out.target_tokens += b.target_tokens;
    out.source_tokens += b.source_tokens;
    out.lengths += b.lengths;
  }
  out.source = torch::cat(source);
  out.target_input = torch::cat(target_input);
  out.target_output = torch::cat(target_output);
  if (!relations.empty()) out.relations = torch::cat(relations);
  return out;
}

DeviceBatch ToDevice(const data::Batch& batch, const torch::Device& device) {
  DeviceBatch out;
  out.source = Ids(batch.source, batch.size, batch.source_length, device);
  out.target_input = Ids(batch.target_input, batch.size, batch.target_length, device);
  out.target_output = Ids(batch.target_output, batch.size, batch.target_length, device);
  if (!batch.relations.empty()) {
    out.relations =
        torch::from_blob(const_cast<uint8_t*>(batch.relations.data()),
                         {batch.size, batch.source_length, batch.source_length}, torch::kUInt8)
            .to(device, torch::kLong, false, true);
  }
  Count(batch, &out);
  return out;
}

DeviceBatch ToHost(const data::Batch& batch, bool pinned) {
  DeviceBatch out;
  out.source = HostLong(batch.source, {batch.size, batch.source_length}, pinned);
  out.target_input = HostLong(batch.target_input, {batch.size, batch.target_length}, pinned);
  out.target_output = HostLong(batch.target_output, {batch.size, batch.target_length}, pinned);
  if (!batch.relations.empty()) {
    out.relations =
        HostLong(batch.relations, {batch.size, batch.source_length, batch.source_length}, pinned);
  }
  Count(batch, &out);
  return out;
}

DeviceBatch CopyTo(const DeviceBatch& host, const torch::Device& device, bool non_blocking) {
  DeviceBatch out = host;
  if (device == host.source.device()) return out;
  for (torch::Tensor* t : {&out.source, &out.target_input, &out.target_output, &out.relations}) {
    if (t->defined()) *t = t->to(device, t->scalar_type(), non_blocking);
  }
  return out;
}

}  // namespace fathom::trainer
