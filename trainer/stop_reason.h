// Why a training run stopped. Every rank reaches the same reason at the same step.
#ifndef FATHOM_TRAINER_STOP_REASON_H_
#define FATHOM_TRAINER_STOP_REASON_H_

#include <ostream>
#include <string_view>

namespace fathom::trainer {

enum class StopReason {
  kNone,        // still training
  kMaxSteps,    // optim.max_steps updates done
  kMaxEpochs,   // optim.max_epochs epochs done
  kMaxSeconds,  // optim.max_seconds of training spent (rank 0's clock decides)
  kPatience,    // eval.patience validations in a row without improvement
  kSignal,      // SIGTERM or SIGUSR1 on some rank: saved; requeue and resume (exit 75)
};

// "max_steps", "max_epochs", "max_seconds", "patience", "signal" ("none" for kNone): the words
// the log's last line uses.
std::string_view StopReasonName(StopReason reason);
std::ostream& operator<<(std::ostream& out, StopReason reason);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_STOP_REASON_H_
