// Preemption signals. SLURM warns a job with SIGUSR1 (`--signal`) before its time limit and
// sends SIGTERM when it preempts or cancels it; a process that dies there loses everything since
// its last checkpoint. The handlers only record the signal; the training loop asks each step,
// all ranks agree on one stop step, save, and exit 75 so the job script requeues.
#ifndef FATHOM_TRAINER_STOP_SIGNAL_H_
#define FATHOM_TRAINER_STOP_SIGNAL_H_

namespace fathom::trainer {

// Installs handlers for SIGTERM and SIGUSR1 while any StopSignal lives and restores the previous
// ones after the last. A handler cannot reach an object, so the recorded signal is one
// process-wide flag that every live StopSignal sees; it is cleared when the first one installs.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // The first signal received (SIGTERM or SIGUSR1), or 0 when none has come.
  int received() const;
};

// "SIGTERM", "SIGUSR1", "SIGINT", or "a signal".
const char* SignalName(int signal_number);

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_STOP_SIGNAL_H_
