// Learning-rate schedules, as a pure function of the update number (1-based), so a resumed
// run needs no schedule state beyond the step.
#ifndef FATHOM_TRAINER_LR_SCHEDULE_H_
#define FATHOM_TRAINER_LR_SCHEDULE_H_

#include <cstdint>

#include "proto/config.pb.h"

namespace fathom::trainer {

class LrSchedule {
 public:
  explicit LrSchedule(const proto::OptimConfig& config);
  // lr for update `step` (1-based).
  double At(int64_t step) const;

 private:
  proto::OptimConfig::Schedule kind_;
  double peak_;
  int64_t warmup_;
  int64_t max_steps_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_LR_SCHEDULE_H_
