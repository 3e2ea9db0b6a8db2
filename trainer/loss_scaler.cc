#include "trainer/loss_scaler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fathom::trainer {

absl::StatusOr<LossScalerOptions> LossScalerOptions::FromProto(
    const proto::DistributedConfig& config) {
  LossScalerOptions options;
  options.init_scale = config.init_loss_scale();
  options.growth_interval = config.loss_scale_window();
  options.min_scale = config.min_loss_scale();
  if (!(std::isfinite(options.init_scale) && options.init_scale > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed.init_loss_scale: must be > 0 and finite (got ", options.init_scale, ")"));
  }
  if (options.growth_interval <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed.loss_scale_window: must be > 0 (got ", options.growth_interval, ")"));
  }
  if (!(std::isfinite(options.min_scale) && options.min_scale > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed.min_loss_scale: must be > 0 and finite (got ", options.min_scale, ")"));
  }
  if (options.min_scale > options.init_scale) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.min_loss_scale: must be <= distributed.init_loss_scale (got ",
                     options.min_scale, " > ", options.init_scale, ")"));
  }
  return options;
}

LossScaler::LossScaler(const LossScalerOptions& options)
    : options_(options), scale_(options.init_scale) {}

absl::Status LossScaler::Update(bool overflow) {
  if (!overflow) {
    if (++growth_tracker_ >= options_.growth_interval) {
      scale_ *= options_.growth_factor;
      growth_tracker_ = 0;
    }
    return absl::OkStatus();
  }
  growth_tracker_ = 0;
  if (scale_ <= options_.min_scale) {
    return absl::FailedPreconditionError(absl::StrCat(
        "float16 gradients overflow at the minimum loss scale ", scale_,
        " (distributed.min_loss_scale): the loss is diverging, not the scale too high. Lower "
        "optim.lr, set optim.clip_norm, or train with precision: BF16"));
  }
  scale_ = std::max(scale_ * options_.backoff_factor, options_.min_scale);
  return absl::OkStatus();
}

absl::Status LossScaler::Restore(const State& state) {
  if (!(std::isfinite(state.scale) && state.scale > 0) || state.growth_tracker < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "loss scaler state: scale ", state.scale, " and growth tracker ", state.growth_tracker,
        " are not a state it can be in (scale > 0 and finite, tracker >= 0)"));
  }
  scale_ = state.scale;
  growth_tracker_ = state.growth_tracker;
  return absl::OkStatus();
}

}  // namespace fathom::trainer
