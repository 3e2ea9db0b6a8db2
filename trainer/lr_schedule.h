// Learning-rate schedules, as a pure function of the update number (1-based), so a resumed
// run needs no schedule state beyond the step. Formulas and sources: docs/algorithms.md,
// "Optimisers and learning-rate schedules".
#ifndef FATHOM_TRAINER_LR_SCHEDULE_H_
#define FATHOM_TRAINER_LR_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "proto/config.pb.h"

namespace fathom::trainer {

// The warm-up of INVERSE_SQRT and LINEAR_DECAY when optim.warmup_steps is -1 (unset).
inline constexpr int64_t kDefaultWarmupSteps = 4000;

struct LrScheduleOptions {
  // Never AUTO: FromProto resolves it from init.method.
  proto::OptimConfig::Schedule schedule = proto::OptimConfig::INVERSE_SQRT;
  bool implied = false;  // chosen by AUTO from init.method, not named by the config
  proto::InitConfig::Method method = proto::InitConfig::POST_LN;  // init.method
  double lr = 7e-4;                                               // optim.lr, the peak
  int64_t warmup_steps = kDefaultWarmupSteps;                     // optim.warmup_steps, -1 resolved
  int64_t decay_steps = 4000;                                     // optim.decay_steps
  int64_t max_steps = 0;                                          // optim.max_steps

  // The config is validated (ValidateRunConfig) before this is called.
  static LrScheduleOptions FromProto(const proto::OptimConfig& optim,
                                     proto::InitConfig::Method method);
};

class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleOptions& options) : options_(options) {}
  // lr for update `step` (1-based).
  double At(int64_t step) const;
  // One line: the schedule, why it was chosen, its formula with the numbers filled in.
  std::string Describe() const;
  // Non-empty when a T-Fixup or DT-Fixup run warms up (a named schedule with warm-up steps):
  // the papers train without, so it is worth a warning, not an error.
  std::string Warning() const;
  const LrScheduleOptions& options() const { return options_; }

 private:
  LrScheduleOptions options_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_LR_SCHEDULE_H_
