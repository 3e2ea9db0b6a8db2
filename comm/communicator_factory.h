// Picks and creates the communicator for this process.
#ifndef FATHOM_COMM_COMMUNICATOR_FACTORY_H_
#define FATHOM_COMM_COMMUNICATOR_FACTORY_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace fathom::comm {

enum class Backend {
  kAuto,    // started by an MPI launcher (mpirun, srun): NCCL for CUDA tensors, MPI for CPU
            // ones; otherwise single-process
  kMpi,     // MPI for CPU tensors, even without a launcher (an MPI singleton of size 1)
  kNccl,    // NCCL for CUDA tensors (ranks found through MPI), even without a launcher
  kSingle,  // one rank, no communication
};

// `cuda`: the tensors to communicate live on GPUs. Across ranks that needs the NCCL backend
// (built when CMake finds a CUDA LibTorch and NCCL); without it, cuda with more than one process
// is an error. A single process needs no communication and works with tensors on any device.
// kMpi with CUDA tensors and kNccl with CPU tensors are InvalidArgument (MPI here moves host
// memory only; NCCL only device memory). Every refusal comes before MPI is initialised.
absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(Backend backend, bool cuda);

// Whether this process was started by an MPI launcher, judged from the variables that Open MPI
// (OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK), MPICH/Hydra (PMI_SIZE) and srun (SLURM_STEP_ID
// with SLURM_PROCID; sbatch alone sets SLURM_PROCID too) put in each rank's environment.
// `getenv` is replaceable for tests.
using GetEnvFunction = std::function<const char*(const char*)>;
bool StartedByMpiLauncher(const GetEnvFunction& getenv);
bool StartedByMpiLauncher();

// LibTorch threads for this rank: `configured` when > 0, otherwise the host's cores shared
// evenly by the ranks on it (at least 1).
int ThreadsPerRank(const Communicator& comm, int configured);

}  // namespace fathom::comm

#endif  // FATHOM_COMM_COMMUNICATOR_FACTORY_H_
