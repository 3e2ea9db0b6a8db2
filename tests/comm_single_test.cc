// The single-process communicator (no MPI launcher involved) and the factory's choice of
// backend.
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "comm/communicator_factory.h"
#include "comm/nccl_communicator.h"
#include "comm/single_process_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SingleProcessCommunicatorTest, IsRankZeroOfOne) {
  SingleProcessCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.local_rank(), 0);
  EXPECT_EQ(comm.local_size(), 1);
  EXPECT_THAT(comm.Describe(), HasSubstr("single-process"));
  EXPECT_THAT(comm.Describe(), HasSubstr("rank 0 of 1"));
}

TEST(SingleProcessCommunicatorTest, AllReduceLeavesEveryDtypeAndOpUnchanged) {
  SingleProcessCommunicator comm;
  for (torch::ScalarType dtype :
       {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kBFloat16, torch::kHalf}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kAvg}) {
      const torch::Tensor expected = torch::arange(-5, 7, torch::dtype(dtype)).reshape({3, 4});
      torch::Tensor t = expected.clone();
      ASSERT_TRUE(comm.AllReduce(t, op).ok()) << c10::toString(dtype) << " " << ReduceOpName(op);
      EXPECT_TRUE(torch::equal(t, expected)) << c10::toString(dtype) << " " << ReduceOpName(op);
      std::shared_ptr<Work> work = comm.AllReduceAsync(t, op);
      EXPECT_TRUE(work->Done());
      EXPECT_TRUE(work->Wait().ok());
      EXPECT_TRUE(torch::equal(t, expected));
    }
  }
}

TEST(SingleProcessCommunicatorTest, RejectsWhatTheMpiBackendRejects) {
  SingleProcessCommunicator comm;
  torch::Tensor transposed = torch::zeros({4, 3}).t();
  absl::Status status = comm.AllReduce(transposed, ReduceOp::kSum);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("rank 0 of 1"));
  EXPECT_THAT(status.message(), HasSubstr("AllReduce"));
  EXPECT_THAT(status.message(), HasSubstr("not contiguous"));

  std::shared_ptr<Work> work = comm.AllReduceAsync(transposed, ReduceOp::kSum);
  EXPECT_TRUE(work->Done());
  EXPECT_THAT(work->Wait().message(), HasSubstr("not contiguous"));

  torch::Tensor flags = torch::zeros({3}, torch::kBool);
  EXPECT_THAT(comm.AllReduce(flags, ReduceOp::kMax).message(), HasSubstr("cannot reduce bool"));
  torch::Tensor undefined;
  EXPECT_THAT(comm.AllReduce(undefined, ReduceOp::kSum).message(), HasSubstr("undefined"));

  EXPECT_THAT(comm.Broadcast(transposed, 0).message(), HasSubstr("Broadcast"));
  torch::Tensor t = torch::ones({2});
  EXPECT_TRUE(comm.Broadcast(t, 0).ok());
  EXPECT_THAT(comm.Broadcast(t, 1).message(), HasSubstr("root 1 is not a rank"));
}

TEST(SingleProcessCommunicatorTest, GathersItsOwnValues) {
  SingleProcessCommunicator comm;
  EXPECT_THAT(*comm.AllGather(int64_t{-7}), ElementsAre(-7));
  EXPECT_THAT(*comm.AllGather(2.5), ElementsAre(2.5));
  EXPECT_THAT(*comm.AllGather(3), ElementsAre(3));  // int goes to the int64 overload
  const std::string bytes("a\0b", 3);
  EXPECT_THAT(*comm.AllGatherBytes(bytes), ElementsAre(bytes));
  EXPECT_TRUE(comm.Barrier().ok());
}

// Environments of a plain shell and of the launchers' ranks.
GetEnvFunction FakeEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> const char* {
    auto it = variables.find(name);
    return it == variables.end() ? nullptr : it->second.c_str();
  };
}

TEST(CommunicatorFactoryTest, RecognisesLaunchers) {
  EXPECT_FALSE(StartedByMpiLauncher(FakeEnvironment({{"HOME", "/root"}})));
  EXPECT_TRUE(StartedByMpiLauncher(FakeEnvironment({{"OMPI_COMM_WORLD_SIZE", "2"}})));
  EXPECT_TRUE(StartedByMpiLauncher(FakeEnvironment({{"PMIX_RANK", "0"}})));
  EXPECT_TRUE(StartedByMpiLauncher(FakeEnvironment({{"PMI_SIZE", "4"}})));
  EXPECT_TRUE(
      StartedByMpiLauncher(FakeEnvironment({{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "3"}})));
  // An sbatch script sets SLURM_PROCID without being one of many ranks.
  EXPECT_FALSE(
      StartedByMpiLauncher(FakeEnvironment({{"SLURM_PROCID", "0"}, {"SLURM_JOB_ID", "9"}})));
  EXPECT_FALSE(StartedByMpiLauncher(FakeEnvironment({{"OMPI_COMM_WORLD_SIZE", ""}})));
}

void ClearLauncherEnvironment() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "SLURM_STEP_ID"}) {
    ::unsetenv(name);
  }
}

TEST(CommunicatorFactoryTest, PicksSingleProcessWithoutLauncher) {
  ClearLauncherEnvironment();
  for (bool cuda : {false, true}) {
    auto comm = CreateCommunicator(Backend::kAuto, cuda);
    ASSERT_TRUE(comm.ok()) << comm.status();
    EXPECT_EQ((*comm)->size(), 1);
    EXPECT_THAT((*comm)->Describe(), HasSubstr("single-process"));
  }
  auto single = CreateCommunicator(Backend::kSingle, false);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_THAT((*single)->Describe(), HasSubstr("single-process"));
}

TEST(CommunicatorFactoryTest, EachBackendRefusesTheOtherDevice) {
  // Refused before MPI is touched, so this test needs no launcher.
  auto mpi = CreateCommunicator(Backend::kMpi, /*cuda=*/true);
  ASSERT_FALSE(mpi.ok());
  EXPECT_EQ(mpi.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mpi.status().message(), HasSubstr("MPI backend moves CPU tensors only"));
  auto nccl = CreateCommunicator(Backend::kNccl, /*cuda=*/false);
  ASSERT_FALSE(nccl.ok());
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nccl.status().message(), HasSubstr("NCCL backend moves CUDA tensors only"));
}

TEST(CommunicatorFactoryTest, CudaAcrossRanksNeedsNccl) {
  if (NcclBackendBuilt()) GTEST_SKIP() << "this build has the NCCL backend";
  // Refused before MPI is touched, so this test needs no launcher.
  auto nccl = CreateCommunicator(Backend::kNccl, /*cuda=*/true);
  ASSERT_FALSE(nccl.ok());
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(nccl.status().message(), HasSubstr("this build has no NCCL"));

  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  auto automatic = CreateCommunicator(Backend::kAuto, /*cuda=*/true);
  ClearLauncherEnvironment();
  ASSERT_FALSE(automatic.ok());
  EXPECT_THAT(automatic.status().message(), HasSubstr("this build has no NCCL"));
}

}  // namespace
}  // namespace fathom::comm
