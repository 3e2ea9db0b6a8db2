#include "trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace fathom::trainer {

LrSchedule::LrSchedule(const proto::OptimConfig& config)
    : kind_(config.schedule()),
      peak_(config.lr()),
      warmup_(config.warmup_steps()),
      max_steps_(config.max_steps()) {}

double LrSchedule::At(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1));
  const double warm = static_cast<double>(warmup_);
  switch (kind_) {
    case proto::OptimConfig::CONSTANT:
      return peak_;
    case proto::OptimConfig::LINEAR_DECAY:
      if (warmup_ > 0 && s <= warm) return peak_ * s / warm;
      return peak_ * std::max(0.0, (static_cast<double>(max_steps_) - s) /
                                       std::max(1.0, static_cast<double>(max_steps_) - warm));
    case proto::OptimConfig::INVERSE_SQRT:
    default:
      // Linear warmup to the peak, then peak * sqrt(warmup / step) (Vaswani et al., fairseq).
      if (warmup_ == 0) return peak_;
      if (s <= warm) return peak_ * s / warm;
      return peak_ * std::sqrt(warm / s);
  }
}

}  // namespace fathom::trainer
