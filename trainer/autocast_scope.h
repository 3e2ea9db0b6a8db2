// Mixed precision for the forward pass: LibTorch's autocast for one device type, on for the
// life of the scope, the previous settings restored afterwards and the cast cache (this step's
// low-precision copies of the weights) dropped.
#ifndef FATHOM_TRAINER_AUTOCAST_SCOPE_H_
#define FATHOM_TRAINER_AUTOCAST_SCOPE_H_

#include <torch/types.h>

#include <optional>

namespace fathom::trainer {

class AutocastScope {
 public:
  // `dtype`: torch::kBFloat16 or torch::kHalf, or nullopt for a scope that changes nothing.
  // `device`: torch::kCPU or torch::kCUDA, the device the forward pass runs on.
  AutocastScope(torch::DeviceType device, std::optional<torch::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  const torch::DeviceType device_;
  const bool active_;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat;
};

// Whether autocast is on for `device` in this thread (for tests and checks).
bool AutocastEnabled(torch::DeviceType device);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_AUTOCAST_SCOPE_H_
