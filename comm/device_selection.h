// Which device a rank trains on, from the config's `distributed.device`, the rank's place on its
// host and the GPUs it can see. A pure function, so the rule is testable on a machine without
// GPUs; the caller asks LibTorch for the GPU count.
#ifndef FATHOM_COMM_DEVICE_SELECTION_H_
#define FATHOM_COMM_DEVICE_SELECTION_H_

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::comm {

// `requested`: "cpu"; "cuda"; or "auto", which is cuda when a GPU is visible and cpu otherwise.
// `local_rank` of `local_size` ranks on this host; `visible_gpus` as torch::cuda::device_count()
// reports it (0 for a LibTorch without CUDA).
//
// cuda picks GPU local_rank when the host shows at least one GPU per local rank, and GPU 0 when
// the rank sees exactly one: launchers that bind a GPU to each rank (srun --gpus-per-task=1, a
// CUDA_VISIBLE_DEVICES per rank) show every rank its own GPU as device 0. Anything else (fewer
// GPUs than ranks, so two ranks would share one) is an error naming the counts, never a silent
// wrap-around.
absl::StatusOr<torch::Device> SelectDevice(absl::string_view requested, int local_rank,
                                           int local_size, int visible_gpus);

}  // namespace fathom::comm

#endif  // FATHOM_COMM_DEVICE_SELECTION_H_
