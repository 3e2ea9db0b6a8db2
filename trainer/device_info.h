// What the progress line says of the training device: its name (for the MFU peak) and the
// memory the caching allocator has handed out. CUDA answers come from the CUDA runtime and
// LibTorch's allocator in builds against a CUDA LibTorch (FATHOM_TORCH_CUDA); elsewhere a CPU
// device has no such figures.
#ifndef FATHOM_TRAINER_DEVICE_INFO_H_
#define FATHOM_TRAINER_DEVICE_INFO_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace fathom::trainer {

// "cpu", or the GPU's name as the CUDA runtime gives it ("NVIDIA H200").
std::string DeviceName(const torch::Device& device);

// Peak bytes allocated on a CUDA `device` since the last ResetPeakMemory; -1 on the CPU or in
// builds without CUDA.
int64_t PeakMemoryBytes(const torch::Device& device);
void ResetPeakMemory(const torch::Device& device);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_DEVICE_INFO_H_
