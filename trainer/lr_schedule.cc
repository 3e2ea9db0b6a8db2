#include "trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "proto/config_validation.h"

namespace fathom::trainer {

LrScheduleOptions LrScheduleOptions::FromProto(const proto::OptimConfig& optim,
                                               proto::InitConfig::Method method) {
  LrScheduleOptions o;
  o.schedule = ResolvedSchedule(optim, method);
  o.implied = optim.schedule() == proto::OptimConfig::AUTO;
  o.method = method;
  o.lr = optim.lr();
  o.decay_steps = optim.decay_steps();
  o.max_steps = optim.max_steps();
  // Only INVERSE_SQRT and LINEAR_DECAY warm up; -1 stands for their default.
  const bool warms_up = o.schedule == proto::OptimConfig::INVERSE_SQRT ||
                        o.schedule == proto::OptimConfig::LINEAR_DECAY;
  if (!warms_up) {
    o.warmup_steps = 0;
  } else {
    o.warmup_steps = optim.warmup_steps() >= 0 ? optim.warmup_steps() : kDefaultWarmupSteps;
  }
  return o;
}

double LrSchedule::At(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1));
  const double peak = options_.lr;
  const double warm = static_cast<double>(options_.warmup_steps);
  const double last = static_cast<double>(options_.max_steps);
  const double period = static_cast<double>(std::max<int64_t>(options_.decay_steps, 1));
  switch (options_.schedule) {
    case proto::OptimConfig::CONSTANT:
      return peak;
    case proto::OptimConfig::LINEAR_DECAY:
      if (warm > 0 && s <= warm) return peak * s / warm;
      return peak * std::max(0.0, (last - s) / std::max(1.0, last - warm));
    case proto::OptimConfig::SQRT_DECAY:
      // DT-Fixup (Xu et al. 2021): polynomial decay of power 0.5 from the first update.
      return peak * std::sqrt(std::max(0.0, 1.0 - s / std::max(1.0, last)));
    case proto::OptimConfig::INVERSE_SQRT:
      // Linear warm-up to the peak, then peak * sqrt(warmup / step) (Vaswani et al., fairseq).
      // Validation refuses no warm-up here; were it reached, it decays as below rather than
      // staying at the peak forever.
      if (warm > 0) return s <= warm ? peak * s / warm : peak * std::sqrt(warm / s);
      [[fallthrough]];
    case proto::OptimConfig::INVERSE_SQRT_NO_WARMUP:
    default:
      // T-Fixup (Huang et al. 2020): the peak at the first update, then an inverse square root
      // (the authors' scheduler sets the rate of update t after t - 1 updates).
      return peak * std::sqrt(period / (period + s - 1.0));
  }
}

std::string LrSchedule::Describe() const {
  const LrScheduleOptions& o = options_;
  std::string formula;
  switch (o.schedule) {
    case proto::OptimConfig::CONSTANT:
      formula = absl::StrCat(o.lr);
      break;
    case proto::OptimConfig::LINEAR_DECAY:
      formula = absl::StrCat(o.lr, " * t / ", o.warmup_steps, " up to t = ", o.warmup_steps,
                             ", then ", o.lr, " * (", o.max_steps, " - t) / (", o.max_steps, " - ",
                             o.warmup_steps, ")");
      break;
    case proto::OptimConfig::SQRT_DECAY:
      formula = absl::StrCat(o.lr, " * (1 - t / ", o.max_steps, ")^0.5, no warm-up");
      break;
    case proto::OptimConfig::INVERSE_SQRT:
      if (o.warmup_steps > 0) {
        formula = absl::StrCat(o.lr, " * t / ", o.warmup_steps, " up to t = ", o.warmup_steps,
                               ", then ", o.lr, " * sqrt(", o.warmup_steps, " / t)");
        break;
      }
      [[fallthrough]];
    default:
      formula = absl::StrCat(o.lr, " * sqrt(", o.decay_steps, " / (", o.decay_steps,
                             " + t - 1)), no warm-up");
  }
  return absl::StrCat("lr schedule ", proto::OptimConfig::Schedule_Name(o.schedule),
                      o.implied ? absl::StrCat(" (implied by init.method ",
                                               proto::InitConfig::Method_Name(o.method), ")")
                                : std::string(" (optim.schedule)"),
                      ": lr(t) = ", formula);
}

std::string LrSchedule::Warning() const {
  const LrScheduleOptions& o = options_;
  const bool fixup =
      o.method == proto::InitConfig::T_FIXUP || o.method == proto::InitConfig::DT_FIXUP;
  if (!fixup || o.warmup_steps == 0) return "";
  return absl::StrCat(proto::InitConfig::Method_Name(o.method),
                      " is meant to train without warm-up (its paper), but optim.schedule ",
                      proto::OptimConfig::Schedule_Name(o.schedule), " warms up over ",
                      o.warmup_steps, " updates; optim.schedule AUTO gives the paper's schedule");
}

}  // namespace fathom::trainer
