#include "comm/launcher_environment.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fathom::comm {
namespace {

std::optional<int> Number(const GetEnvFunction& getenv, const char* name) {
  const char* value = getenv(name);
  int number = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &number)) return std::nullopt;
  return number;
}

std::optional<LauncherView> View(const GetEnvFunction& getenv, const char* launcher,
                                 const char* rank, const char* size, const char* local_rank) {
  const std::optional<int> r = Number(getenv, rank), s = Number(getenv, size);
  if (!r || !s || *s < 1 || *r < 0 || *r >= *s) return std::nullopt;
  return LauncherView{launcher, *r, *s, Number(getenv, local_rank)};
}

}  // namespace

std::optional<LauncherView> ReadLauncherEnvironment(const GetEnvFunction& getenv) {
  if (auto view = View(getenv, "mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                       "OMPI_COMM_WORLD_LOCAL_RANK")) {
    return view;
  }
  // SLURM_STEP_NUM_TASKS exists only inside a job step (srun), not in the batch script.
  if (getenv("SLURM_STEP_ID") != nullptr) {
    if (auto view = View(getenv, "srun", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID"))
      return view;
  }
  return View(getenv, "hydra", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID");
}

absl::Status CheckAgainstLauncher(const std::optional<LauncherView>& launcher, int mpi_rank,
                                  int mpi_size) {
  if (!launcher || (launcher->rank == mpi_rank && launcher->size == mpi_size))
    return absl::OkStatus();
  std::string hint = "start the ranks with an MPI launcher that Open MPI can talk to";
  if (launcher->launcher == "srun") {
    hint = "use `srun --mpi=pmix` (see `srun --mpi=list`), or mpirun inside the allocation";
  } else if (launcher->launcher == "hydra") {
    hint = "this is MPICH's launcher; use the mpirun of the MPI Fathom was built with (Open MPI)";
  }
  return absl::FailedPreconditionError(
      absl::StrCat(launcher->launcher, " started this process as rank ", launcher->rank, " of ",
                   launcher->size, ", but MPI sees rank ", mpi_rank, " of ", mpi_size,
                   ": the ranks would train unrelated copies of the model; ", hint));
}

}  // namespace fathom::comm
