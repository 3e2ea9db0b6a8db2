// A data::Batch as the model consumes it: int64 tensors on the training device.
#ifndef FATHOM_TRAINER_DEVICE_BATCH_H_
#define FATHOM_TRAINER_DEVICE_BATCH_H_

#include <torch/torch.h>

#include <vector>

#include "data/batch.h"
#include "models/flops.h"

namespace fathom::trainer {

struct DeviceBatch {
  torch::Tensor source;         // [B, S]
  torch::Tensor target_input;   // [B, T]
  torch::Tensor target_output;  // [B, T]
  torch::Tensor relations;      // [B, S, S] or undefined
  int64_t target_tokens = 0;    // real target tokens (the loss normaliser), known on the host
  int64_t source_tokens = 0;
  // Per-example source and target positions (EOS/BOS included), summed on the host for the
  // step's FLOPs (models/flops.h) without reading anything back from the device.
  models::LengthSums lengths;
};

DeviceBatch ToDevice(const data::Batch& batch, const torch::Device& device);

// The same tensors in host memory, page-locked when `pinned` (needs LibTorch with CUDA), so that
// a copy to CUDA can run without blocking the host. Plain loops, no LibTorch kernels: safe and
// cheap on a background thread (it never enters the intra-op thread pool). Values equal
// ToDevice's.
DeviceBatch ToHost(const data::Batch& batch, bool pinned);
// `host` (from ToHost) on `device`, the counts carried over. With `non_blocking` and pinned
// memory the copies are queued on the current CUDA stream and the host moves on at once.
DeviceBatch CopyTo(const DeviceBatch& host, const torch::Device& device, bool non_blocking);

// The batches stacked into one, each padded (with `pad_id`, relations with 0 as data::MakeBatch
// does) to the widest source and target: the union of their examples, which a padding-aware
// consumer treats as one batch.
DeviceBatch Concatenate(const std::vector<DeviceBatch>& batches, int64_t pad_id);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_DEVICE_BATCH_H_
