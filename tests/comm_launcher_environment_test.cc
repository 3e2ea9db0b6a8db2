// The launcher's view of rank and size, and the check that catches ranks MPI never connected.
#include <map>
#include <string>

#include "comm/launcher_environment.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::comm {
namespace {

using ::testing::HasSubstr;

GetEnvFunction Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(LauncherEnvironmentTest, ReadsOpenMpiSrunAndHydra) {
  auto ompi = ReadLauncherEnvironment(Env({{"OMPI_COMM_WORLD_RANK", "3"},
                                           {"OMPI_COMM_WORLD_SIZE", "8"},
                                           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}}));
  ASSERT_TRUE(ompi.has_value());
  EXPECT_EQ(ompi->launcher, "mpirun");
  EXPECT_EQ(ompi->rank, 3);
  EXPECT_EQ(ompi->size, 8);
  EXPECT_EQ(ompi->local_rank, 1);

  auto srun = ReadLauncherEnvironment(Env({{"SLURM_STEP_ID", "0"},
                                           {"SLURM_PROCID", "5"},
                                           {"SLURM_STEP_NUM_TASKS", "16"},
                                           {"SLURM_LOCALID", "5"}}));
  ASSERT_TRUE(srun.has_value());
  EXPECT_EQ(srun->launcher, "srun");
  EXPECT_EQ(srun->rank, 5);
  EXPECT_EQ(srun->size, 16);

  auto hydra = ReadLauncherEnvironment(Env({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}}));
  ASSERT_TRUE(hydra.has_value());
  EXPECT_EQ(hydra->launcher, "hydra");
  EXPECT_FALSE(hydra->local_rank.has_value());
}

TEST(LauncherEnvironmentTest, NoLauncherBatchShellAndGarbageGiveNothing) {
  EXPECT_FALSE(ReadLauncherEnvironment(Env({})).has_value());
  // sbatch's batch shell has SLURM_PROCID but is not a job step.
  EXPECT_FALSE(
      ReadLauncherEnvironment(Env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}})).has_value());
  EXPECT_FALSE(
      ReadLauncherEnvironment(Env({{"OMPI_COMM_WORLD_RANK", "x"}, {"OMPI_COMM_WORLD_SIZE", "2"}}))
          .has_value());
  EXPECT_FALSE(
      ReadLauncherEnvironment(Env({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}}))
          .has_value());
}

TEST(LauncherEnvironmentTest, SrunWithoutPmixIsCaughtWithTheFix) {
  const LauncherView srun{"srun", 1, 2, 1};
  EXPECT_TRUE(CheckAgainstLauncher(srun, 1, 2).ok());
  EXPECT_TRUE(CheckAgainstLauncher(std::nullopt, 0, 1).ok());
  const absl::Status lonely = CheckAgainstLauncher(srun, 0, 1);
  EXPECT_EQ(lonely.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(lonely.message(),
              HasSubstr("srun started this process as rank 1 of 2, but MPI sees rank 0 of 1"));
  EXPECT_THAT(lonely.message(), HasSubstr("srun --mpi=pmix"));
}

}  // namespace
}  // namespace fathom::comm
