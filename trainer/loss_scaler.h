// Dynamic loss scaling for float16 training (Micikevicius et al. 2018, "Mixed Precision
// Training"; the schedule of PyTorch's GradScaler and fairseq's DynamicLossScaler). Float16
// gradients below 2^-24 vanish; multiplying the loss by a large scale before backward lifts
// them into range, and the gradients are divided by it again before the update. Too large a
// scale overflows instead: such an update is skipped and the scale backed off, and after
// growth_interval clean updates it grows again, so it stays near the largest scale that fits.
//
// Only numbers live here, so it is device-agnostic and testable on CPU; StepRunner multiplies
// the loss, unscales the gradients and reports overflow (decided identically on every rank).
#ifndef FATHOM_TRAINER_LOSS_SCALER_H_
#define FATHOM_TRAINER_LOSS_SCALER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace fathom::trainer {

struct LossScalerOptions {
  double init_scale = 65536.0;     // 2^16
  int64_t growth_interval = 2000;  // clean updates in a row before the scale grows
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  // The scale never goes below this; an overflow at it is an error (the loss is diverging).
  double min_scale = 1e-4;

  // distributed.{init_loss_scale, loss_scale_window, min_loss_scale}; errors name the field.
  static absl::StatusOr<LossScalerOptions> FromProto(const proto::DistributedConfig& config);
};

class LossScaler {
 public:
  // What a checkpoint keeps, so a resumed run scales exactly as an uninterrupted one.
  struct State {
    double scale = 0;
    int64_t growth_tracker = 0;
  };

  // `options` must be valid (LossScalerOptions::FromProto checks a config's).
  explicit LossScaler(const LossScalerOptions& options);

  // The factor for the next update's loss.
  double scale() const { return scale_; }
  // Clean updates since the scale last changed.
  int64_t growth_tracker() const { return growth_tracker_; }

  // Records an update: `overflow` when its gradients were not finite and it was skipped. The
  // scale backs off (not below min_scale) or, after growth_interval clean updates, grows. An
  // overflow with the scale already at min_scale is an error.
  absl::Status Update(bool overflow);

  State state() const { return {scale_, growth_tracker_}; }
  // Restores a saved state; refuses a scale that is not positive and finite, or a negative
  // tracker.
  absl::Status Restore(const State& state);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_LOSS_SCALER_H_
