#include "comm/communicator_factory.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "comm/single_process_communicator.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {
namespace {

bool IsSet(const GetEnvFunction& getenv, const char* name) {
  const char* value = getenv(name);
  return value != nullptr && value[0] != '\0';
}

}  // namespace

bool StartedByMpiLauncher(const GetEnvFunction& getenv) {
  return IsSet(getenv, "OMPI_COMM_WORLD_SIZE") || IsSet(getenv, "PMIX_RANK") ||
         IsSet(getenv, "PMI_SIZE") ||
         (IsSet(getenv, "SLURM_STEP_ID") && IsSet(getenv, "SLURM_PROCID"));
}

bool StartedByMpiLauncher() {
  return StartedByMpiLauncher([](const char* name) { return std::getenv(name); });
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(Backend backend, bool cuda) {
  if (backend == Backend::kMpi && cuda) {
    return absl::InvalidArgumentError(
        absl::StrCat(HostName(),
                     ": CreateCommunicator: the MPI backend moves CPU tensors only; CUDA tensors "
                     "need the NCCL backend (or AUTO)"));
  }
  if (backend == Backend::kNccl && !cuda) {
    return absl::InvalidArgumentError(
        absl::StrCat(HostName(),
                     ": CreateCommunicator: the NCCL backend moves CUDA tensors only; on the CPU "
                     "use the MPI backend (or AUTO)"));
  }
  const bool launched = StartedByMpiLauncher();
  const bool mpi = backend == Backend::kMpi || backend == Backend::kNccl ||
                   (backend == Backend::kAuto && launched);
  if (!mpi) return CreateSingleProcessCommunicator();
  if (!cuda) return CreateMpiCommunicator();
  if (!NcclBackendBuilt()) {
    // Checked before MPI is initialised, so the error is all that happens.
    return absl::UnimplementedError(absl::StrCat(
        HostName(),
        ": CreateCommunicator: CUDA tensors across ranks need the NCCL backend, and "
        "this build has no NCCL",
        launched ? " (started by an MPI launcher)" : " (NCCL backend requested)",
        "; train on CPU, run a single process, or build against a CUDA LibTorch and NCCL"));
  }
  return CreateNcclCommunicator();
}

int ThreadsPerRank(const Communicator& comm, int configured) {
  if (configured > 0) return configured;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, comm.local_size()));
}

}  // namespace fathom::comm
