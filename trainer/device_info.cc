#include "trainer/device_info.h"

#if FATHOM_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace fathom::trainer {

std::string DeviceName(const torch::Device& device) {
#if FATHOM_TORCH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp properties;
    const int index = device.has_index() ? device.index() : 0;
    if (cudaGetDeviceProperties(&properties, index) == cudaSuccess) return properties.name;
    return "cuda (unknown)";
  }
#endif
  return device.str();
}

int64_t PeakMemoryBytes(const torch::Device& device) {
#if FATHOM_TORCH_CUDA
  if (device.is_cuda()) {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    // Index 0 of the stat types is the aggregate over small and large pools.
    return stats.allocated_bytes[0].peak;
  }
#endif
  (void)device;
  return -1;
}

void ResetPeakMemory(const torch::Device& device) {
#if FATHOM_TORCH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
  }
#endif
  (void)device;
}

}  // namespace fathom::trainer
