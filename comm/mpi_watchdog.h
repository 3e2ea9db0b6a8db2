// Waiting for an MPI request without hanging forever. A rank that dies is usually reported by
// the launcher (mpirun, srun), but one that stalls (a stuck file system, a deadlock, a GPU hang)
// leaves every other rank blocked in its next collective. Here each wait has a deadline; when it
// passes, the rank tells every other rank on a side communicator that it is stuck, listens for
// the same message from the others for a grace period, names the ranks it never heard from, and
// aborts the whole job (MPI_Abort), so the job ends, non-zero, with the culprit in the log.
// comm-internal: only the MPI backend includes it.
#ifndef FATHOM_COMM_MPI_WATCHDOG_H_
#define FATHOM_COMM_MPI_WATCHDOG_H_

#include <mpi.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fathom::comm {

class MpiWatchdog {
 public:
  // `side` is a communicator of the same group as the collectives', used only for the messages
  // ranks exchange once a deadline has passed. `where` labels this rank in messages.
  MpiWatchdog(MPI_Comm side, int rank, int size, std::string where)
      : side_(side), rank_(rank), size_(size), where_(std::move(where)) {}

  // InfiniteDuration() (the default) waits forever.
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }
  absl::Duration timeout() const { return timeout_; }

  // Completes `request` (of the collective described by `operation`, e.g. "AllReduce(float32[4],
  // sum)"). Returns its MPI error, if any, as a Status; never returns when the deadline passes.
  absl::Status Await(MPI_Request* request, const std::string& operation, const char* call);

 private:
  [[noreturn]] void DiagnoseAndAbort(const std::string& operation, double waited_seconds);

  MPI_Comm side_;
  int rank_;
  int size_;
  std::string where_;
  absl::Duration timeout_ = absl::InfiniteDuration();
  int64_t sequence_ = 0;  // MPI requests awaited so far (each chunk of a large one counts)
};

}  // namespace fathom::comm

#endif  // FATHOM_COMM_MPI_WATCHDOG_H_
