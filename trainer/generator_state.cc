#include "trainer/generator_state.h"

#include <ATen/Context.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/mix64.h"

namespace fathom::trainer {
namespace {

// Default generators are process-wide and shared with LibTorch's own kernels: lock as they do.
std::string Save(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  const torch::Tensor state = generator.get_state();
  return std::string(static_cast<const char*>(state.data_ptr()), state.numel());
}

absl::Status Restore(at::Generator generator, const std::string& bytes, const std::string& label) {
  torch::Tensor state = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(state.data_ptr(), bytes.data(), bytes.size());
  try {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(label, ": ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace

void SeedRankGenerators(uint64_t seed, int rank, int64_t step) {
  const uint64_t mixed =
      Mix64(Mix64(Mix64(seed) ^ static_cast<uint64_t>(rank)) ^ static_cast<uint64_t>(step));
  torch::manual_seed(mixed);  // the CPU generator and, where CUDA is present, each device's
}

absl::StatusOr<GeneratorBytes> SaveGenerators(const torch::Device& device) {
  GeneratorBytes bytes;
  try {
    bytes.cpu = Save(at::globalContext().defaultGenerator(torch::kCPU));
    if (device.is_cuda()) bytes.device = Save(at::globalContext().defaultGenerator(device));
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("reading the random generators' state: ", e.what_without_backtrace()));
  }
  return bytes;
}

absl::Status RestoreGenerators(const torch::Device& device, const GeneratorBytes& bytes,
                               const std::string& what) {
  absl::Status status =
      Restore(at::globalContext().defaultGenerator(torch::kCPU), bytes.cpu,
              absl::StrCat(what, ": CPU generator state (", bytes.cpu.size(), " bytes)"));
  if (!status.ok() || !device.is_cuda() || bytes.device.empty()) return status;
  return Restore(at::globalContext().defaultGenerator(device), bytes.device,
                 absl::StrCat(what, ": CUDA generator state (", bytes.device.size(), " bytes)"));
}

}  // namespace fathom::trainer
