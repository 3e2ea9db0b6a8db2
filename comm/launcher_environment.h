// What the launcher says about this process: Open MPI's mpirun (OMPI_COMM_WORLD_*), srun
// (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID) and MPICH/Hydra (PMI_RANK, PMI_SIZE,
// MPI_LOCALRANKID) each put the rank, the world size and the local rank in every rank's
// environment. MPI itself is the authority once initialised; the launcher's view catches the
// classic misconfiguration where they disagree, e.g. `srun` without `--mpi=pmix` starting N
// processes that each initialise MPI as a world of one and train N unrelated copies.
#ifndef FATHOM_COMM_LAUNCHER_ENVIRONMENT_H_
#define FATHOM_COMM_LAUNCHER_ENVIRONMENT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "comm/communicator_factory.h"

namespace fathom::comm {

struct LauncherView {
  std::string launcher;  // "mpirun", "srun", "hydra"
  int rank = 0;
  int size = 1;
  std::optional<int> local_rank;  // when the launcher says
};

// The first launcher whose variables are all present and numeric, in the order Open MPI,
// srun, Hydra; nullopt when none (a plain process, or sbatch's batch shell).
std::optional<LauncherView> ReadLauncherEnvironment(const GetEnvFunction& getenv);

// OK when the launcher's rank and size (if any) equal MPI's; otherwise an error naming both
// and what to change. A different local rank only matters for GPU binding and is not checked
// here (MPI's shared-memory split is what binds the GPU).
absl::Status CheckAgainstLauncher(const std::optional<LauncherView>& launcher, int mpi_rank,
                                  int mpi_size);

}  // namespace fathom::comm

#endif  // FATHOM_COMM_LAUNCHER_ENVIRONMENT_H_
