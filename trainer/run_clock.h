// A run's training time: the seconds its earlier runs trained (restored from a checkpoint) plus
// this run's, counted from Start(), so set-up (data-dependent passes, resuming) is never charged
// to the wall-time budget or to the time saved in checkpoints.
#ifndef FATHOM_TRAINER_RUN_CLOCK_H_
#define FATHOM_TRAINER_RUN_CLOCK_H_

#include <chrono>

namespace fathom::trainer {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class RunClock {
 public:
  void Start() { start_ = std::chrono::steady_clock::now(); }
  void set_seconds_before(double seconds) { seconds_before_ = seconds; }
  // This run's seconds, since Start().
  double ThisRun() const { return SecondsSince(start_); }
  // Earlier runs' and this run's.
  double Total() const { return seconds_before_ + ThisRun(); }

 private:
  double seconds_before_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_RUN_CLOCK_H_
