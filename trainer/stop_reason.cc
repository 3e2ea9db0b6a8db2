#include "trainer/stop_reason.h"

namespace fathom::trainer {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kMaxSteps:
      return "max_steps";
    case StopReason::kMaxEpochs:
      return "max_epochs";
    case StopReason::kMaxSeconds:
      return "max_seconds";
    case StopReason::kPatience:
      return "patience";
    case StopReason::kSignal:
      return "signal";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, StopReason reason) {
  return out << StopReasonName(reason);
}

}  // namespace fathom::trainer
