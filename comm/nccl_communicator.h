// NCCL backend for CUDA tensors, one rank per GPU.
//
// MPI starts it and carries what is not a CUDA tensor: rank 0 makes the ncclUniqueId and MPI
// broadcasts it; AllGather, AllGatherBytes, Barrier and collectives on CPU tensors go through
// an MPI communicator owned by this one. CUDA tensors are reduced and broadcast by NCCL on a
// stream of the communicator's own, which first waits (through an event) for what the caller's
// current stream has queued, so the tensor is complete when NCCL reads it; the caller's stream is
// never blocked by communication. An AllReduceAsync's Work is done when the NCCL operation's
// completion event has fired; Wait() blocks the calling thread until then, watching for NCCL's
// asynchronous errors, and aborts the communicator once SetTimeout's deadline has passed.
//
// The device is cuda:local_rank (comm/device_selection.h). float32, float64, int32 and int64 go
// to NCCL as they are; bfloat16 and float16 are summed in a float32 copy and rounded once, as
// the MPI backend does, so every backend gives the same numbers. kAvg is a sum divided by size()
// (integers truncated). Operations keep the issue order of communicator.h: NCCL operations run
// in order on the one stream, and an MPI operation first waits for every NCCL operation issued
// before it.
//
// This file is compiled when CMake finds a CUDA LibTorch and NCCL (cmake/FathomCuda.cmake);
// otherwise nccl_unavailable.cc provides the same functions, which say the backend is absent.
#ifndef FATHOM_COMM_NCCL_COMMUNICATOR_H_
#define FATHOM_COMM_NCCL_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace fathom::comm {

// Whether this build has the NCCL backend.
bool NcclBackendBuilt();

// Creates the MPI communicator (initialising MPI; see mpi_communicator.h) and the NCCL one on
// top of it; collective over all ranks. One per process at a time. A rank that cannot pick its
// GPU or make the unique id fails, and tells the others so that none is left waiting in NCCL's
// initialisation. Destroying it waits for the operations issued (up to the timeout), frees
// NCCL, then the MPI communicator.
absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator();

}  // namespace fathom::comm

#endif  // FATHOM_COMM_NCCL_COMMUNICATOR_H_
