// The MPI communicator in a program that initialised MPI itself (MPI_THREAD_SERIALIZED): the
// factory adopts that initialisation, leaves MPI_COMM_WORLD alone, and does not finalise MPI.
// The shared main (tests/mpi_test_main.cc) plays that program: MpiStart::kInitThread.
#include <mpi.h>

#include "comm/communicator_factory.h"
#include "comm/mpi_runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi_test_main.h"

namespace fathom::comm {
namespace {

using ::testing::HasSubstr;

const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.start = testing::MpiStart::kInitThread;
  return options;
}());

TEST(PreinitialisedMpiTest, AdoptsTheProgramsMpiAndLeavesItRunning) {
  for (int round = 0; round < 2; ++round) {  // a second communicator after the first is gone
    auto comm = CreateCommunicator(Backend::kAuto, /*cuda=*/false);
    ASSERT_TRUE(comm.ok()) << comm.status();
    EXPECT_THAT((*comm)->Describe(), HasSubstr("MPI communicator"));
    int world_rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    EXPECT_EQ((*comm)->rank(), world_rank);
    torch::Tensor t = torch::full({5}, static_cast<double>(world_rank + 1), torch::kDouble);
    ASSERT_TRUE((*comm)->AllReduce(t, ReduceOp::kSum).ok());
    EXPECT_TRUE(torch::equal(t, torch::full({5}, 3.0, torch::kDouble)));
  }
  int finalised = 1;
  MPI_Finalized(&finalised);
  EXPECT_EQ(finalised, 0);
  // The program's own collectives on MPI_COMM_WORLD still work.
  int one = 1, sum = 0;
  ASSERT_EQ(MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), MPI_SUCCESS);
  EXPECT_EQ(sum, 2);
}

TEST(PreinitialisedMpiTest, ThreadLevelBelowSerializedIsRefusedWithAHint) {
  EXPECT_TRUE(CheckThreadLevel(MPI_THREAD_SERIALIZED, false).ok());
  EXPECT_TRUE(CheckThreadLevel(MPI_THREAD_MULTIPLE, false).ok());
  const absl::Status single = CheckThreadLevel(MPI_THREAD_SINGLE, /*initialised_here=*/false);
  EXPECT_EQ(single.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(single.message(), HasSubstr("initialised MPI with MPI_THREAD_SINGLE"));
  EXPECT_THAT(single.message(), HasSubstr("MPI_Init_thread"));
  EXPECT_FALSE(CheckThreadLevel(MPI_THREAD_FUNNELED, false).ok());
}

}  // namespace
}  // namespace fathom::comm
