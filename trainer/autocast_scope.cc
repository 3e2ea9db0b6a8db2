#include "trainer/autocast_scope.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace fathom::trainer {
namespace {

// LibTorch 2.4 made autocast's functions take the device type and deprecated the per-device
// ones (is_enabled for CUDA, is_cpu_enabled, ...) that 1.13 has only.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool Enabled(torch::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
void SetEnabled(torch::DeviceType device, bool on) {
  at::autocast::set_autocast_enabled(device, on);
}
torch::ScalarType Dtype(torch::DeviceType device) {
  return at::autocast::get_autocast_dtype(device);
}
void SetDtype(torch::DeviceType device, torch::ScalarType dtype) {
  at::autocast::set_autocast_dtype(device, dtype);
}
#else
bool Enabled(torch::DeviceType device) {
  return device == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void SetEnabled(torch::DeviceType device, bool on) {
  if (device == torch::kCUDA) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
torch::ScalarType Dtype(torch::DeviceType device) {
  return device == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                                : at::autocast::get_autocast_cpu_dtype();
}
void SetDtype(torch::DeviceType device, torch::ScalarType dtype) {
  if (device == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

AutocastScope::AutocastScope(torch::DeviceType device, std::optional<torch::ScalarType> dtype)
    : device_(device), active_(dtype.has_value()) {
  if (!active_) return;
  previous_enabled_ = Enabled(device_);
  previous_dtype_ = Dtype(device_);
  SetDtype(device_, *dtype);
  SetEnabled(device_, true);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  SetEnabled(device_, previous_enabled_);
  SetDtype(device_, previous_dtype_);
  if (!previous_enabled_) at::autocast::clear_cache();
}

bool AutocastEnabled(torch::DeviceType device) { return Enabled(device); }

}  // namespace fathom::trainer
