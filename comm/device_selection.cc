#include "comm/device_selection.h"

#include "absl/strings/str_cat.h"

namespace fathom::comm {

absl::StatusOr<torch::Device> SelectDevice(absl::string_view requested, int local_rank,
                                           int local_size, int visible_gpus) {
  if (requested != "auto" && requested != "cpu" && requested != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.device: must be auto, cpu or cuda (got \"", requested, "\")"));
  }
  if (local_size < 1 || local_rank < 0 || local_rank >= local_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("SelectDevice: local rank ", local_rank, " is not in [0, ", local_size, ")"));
  }
  if (requested == "cpu" || (requested == "auto" && visible_gpus <= 0)) {
    return torch::Device(torch::kCPU);
  }
  if (visible_gpus <= 0) {
    return absl::FailedPreconditionError(
        "distributed.device: cuda, but no GPU is visible (this LibTorch has no CUDA, the driver "
        "is missing, or CUDA_VISIBLE_DEVICES is empty); set device: \"cpu\" or \"auto\"");
  }
  if (visible_gpus >= local_size) {
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  }
  if (visible_gpus == 1) return torch::Device(torch::kCUDA, 0);
  return absl::FailedPreconditionError(absl::StrCat(
      "distributed.device: local rank ", local_rank, " of ", local_size, " sees ", visible_gpus,
      " GPUs: start at most one rank per GPU (mpirun -np <GPUs per host> per host), or give each "
      "rank one GPU through CUDA_VISIBLE_DEVICES"));
}

}  // namespace fathom::comm
