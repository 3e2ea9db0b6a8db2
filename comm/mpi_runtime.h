// This process's hold on the MPI library: initialises MPI (or adopts the program's own
// initialisation), checks the thread level, and finalises MPI when it initialised it.
// Keeps <mpi.h> out of the headers other folders include.
#ifndef FATHOM_COMM_MPI_RUNTIME_H_
#define FATHOM_COMM_MPI_RUNTIME_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fathom::comm {

class MpiRuntime {
 public:
  // At most one MpiRuntime lives at a time (see the .cc for why). Fails when one already
  // exists, when MPI was finalised before (it cannot be initialised twice in a process), or
  // when the program initialised MPI below MPI_THREAD_SERIALIZED.
  static absl::StatusOr<std::unique_ptr<MpiRuntime>> Acquire();
  // Calls MPI_Finalize if Acquire initialised MPI. Every MPI call of ours must be over.
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  bool initialised_here() const { return initialised_here_; }
  int thread_level() const { return thread_level_; }

 private:
  MpiRuntime(bool initialised_here, int thread_level)
      : initialised_here_(initialised_here), thread_level_(thread_level) {}
  bool initialised_here_;
  int thread_level_;
};

// OK when `provided` (an MPI_THREAD_* level) lets a thread other than the one that initialised
// MPI make every MPI call, one at a time; otherwise an error saying how to initialise MPI.
absl::Status CheckThreadLevel(int provided, bool initialised_here);
// "MPI_THREAD_SERIALIZED".
std::string ThreadLevelName(int level);
// "MPI_ERR_TRUNCATE: message truncated" for an MPI error code.
std::string MpiErrorString(int code);
// "Open MPI v4.1.4": the first part of MPI_Get_library_version.
std::string MpiLibraryName();

}  // namespace fathom::comm

#endif  // FATHOM_COMM_MPI_RUNTIME_H_
