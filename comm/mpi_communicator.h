// Open MPI backend for CPU tensors.
//
// A dedicated communication thread makes every MPI call once the communicator exists: each
// operation, synchronous or not, is queued to it in issue order and run there with blocking
// MPI calls, so an all-reduce started from an autograd hook proceeds while backward continues
// (Open MPI would not progress a non-blocking collective on its own). Synchronous operations
// queue and wait. See communicator.h for the ordering contract every rank must keep.
//
// MPI is initialised with MPI_THREAD_SERIALIZED unless the program initialised it already (it
// must then have asked for MPI_THREAD_SERIALIZED or MULTIPLE, and make no MPI calls of its own
// while the communicator lives). Collectives run on a duplicate of MPI_COMM_WORLD with
// MPI_ERRORS_RETURN, so they never mix with the program's own and a failure comes back as a
// Status naming the rank, the operation and MPI's message instead of aborting the job.
#ifndef FATHOM_COMM_MPI_COMMUNICATOR_H_
#define FATHOM_COMM_MPI_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace fathom::comm {

// One per process at a time. Destroying it stops the thread after running what was queued,
// and finalises MPI if this call initialised it (MPI cannot be initialised again afterwards).
absl::StatusOr<std::unique_ptr<Communicator>> CreateMpiCommunicator();

}  // namespace fathom::comm

#endif  // FATHOM_COMM_MPI_COMMUNICATOR_H_
