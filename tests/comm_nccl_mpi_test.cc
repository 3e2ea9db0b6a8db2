// The NCCL communicator on every rank of the launch, one GPU each: CTest runs it with one rank
// (any machine with a GPU: NCCL's stream and event handling run even when there is nobody to talk
// to) and with two (a host with two GPUs or more). In a build without the NCCL backend, or with
// fewer GPUs than ranks, every test is skipped and says why. CUDA tensors go through NCCL, CPU
// tensors and host values through the MPI communicator inside it; every test issues the same
// collectives in the same order on every rank, and its expected values hold for any rank count.
#include <torch/cuda.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "comm/communicator.h"
#include "comm/communicator_factory.h"
#include "comm/device_selection.h"
#include "comm/nccl_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi_test_main.h"

namespace fathom::comm {
namespace {

using ::testing::HasSubstr;

// The shared main (tests/mpi_test_main.cc) makes the NCCL communicator, unless this build or
// host cannot: then it starts no MPI and every test skips, saying why. The launcher's size is
// read before MPI starts.
std::string SkipReason() {
  const char* size_variable = std::getenv("OMPI_COMM_WORLD_SIZE");
  const int size = size_variable != nullptr ? std::atoi(size_variable) : 1;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (!NcclBackendBuilt()) {
    return "this build has no NCCL backend (CPU LibTorch, or NCCL not found)";
  }
  if (gpus < size) {
    return absl::StrCat(gpus, " GPU(s) visible for ", size,
                        " rank(s); the test needs one per rank");
  }
  return "";
}

const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.backend = Backend::kNccl;
  options.cuda = true;
  options.skip_reason = SkipReason;
  return options;
}());

#define SKIP_WITHOUT_NCCL() \
  if (testing::MpiTestComm() == nullptr) GTEST_SKIP() << testing::MpiTestSkipReason()

Communicator& Comm() { return *testing::MpiTestComm(); }
int Size() { return Comm().size(); }
// The GPU the communicator chose: the one of the local rank, as for training.
torch::Device Gpu() {
  return *SelectDevice("cuda", Comm().local_rank(), Comm().local_size(),
                       static_cast<int>(torch::cuda::device_count()));
}

TEST(NcclCommunicatorTest, KnowsRanksAndDevice) {
  SKIP_WITHOUT_NCCL();
  EXPECT_THAT(Comm().Describe(), HasSubstr("NCCL communicator (NCCL 2."));
  EXPECT_THAT(Comm().Describe(), HasSubstr(Gpu().str()));
  EXPECT_THAT(Comm().Describe(), HasSubstr("MPI communicator"));
  auto ranks = Comm().AllGather(Comm().rank());
  ASSERT_TRUE(ranks.ok()) << ranks.status();
  std::vector<int64_t> expected(Size());
  for (int r = 0; r < Size(); ++r) expected[r] = r;
  EXPECT_EQ(*ranks, expected);
}

// Small integers, exact in every dtype, with odd negative sums for the integer average; a
// different pattern on each rank.
torch::Tensor RankValues(int rank, int64_t n) {
  torch::Tensor i = torch::arange(n, torch::kLong);
  return (i + 3 * rank).remainder(7 + 2 * rank) * (rank % 2 == 0 ? 1 : 2) - 3 - 2 * rank;
}

TEST(NcclCommunicatorTest, AllReduceEveryDtypeAndOpExactlyOnTheGpu) {
  SKIP_WITHOUT_NCCL();
  const int64_t n = 1000;
  torch::Tensor sum = torch::zeros({n}, torch::kLong), max = RankValues(0, n);
  for (int r = 0; r < Size(); ++r) {
    sum += RankValues(r, n);
    max = torch::maximum(max, RankValues(r, n));
  }
  for (torch::ScalarType dtype :
       {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kBFloat16, torch::kHalf}) {
    const bool integral = dtype == torch::kLong || dtype == torch::kInt;
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kAvg}) {
      torch::Tensor expected = op == ReduceOp::kSum   ? sum
                               : op == ReduceOp::kMax ? max
                               : integral             ? sum.div(Size(), "trunc")
                                                      : sum.to(torch::kDouble) / Size();
      torch::Tensor t = RankValues(Comm().rank(), n).to(Gpu(), dtype).reshape({10, 100}).clone();
      const absl::Status status = Comm().AllReduce(t, op);
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(t.scalar_type(), dtype);
      EXPECT_EQ(t.device(), Gpu());
      EXPECT_TRUE(
          torch::equal(t.reshape({n}).cpu().to(torch::kDouble), expected.to(torch::kDouble)))
          << c10::toString(dtype) << " " << ReduceOpName(op);
    }
  }
}

TEST(NcclCommunicatorTest, AsyncReductionsCompleteInOrderAroundCpuOnes) {
  SKIP_WITHOUT_NCCL();
  const float r = static_cast<float>(Comm().rank()), size = static_cast<float>(Size());
  // Produced on the caller's stream just before: NCCL must wait for these kernels.
  torch::Tensor big = torch::full({1 << 22}, r + 1, Gpu()).mul_(2);  // sum: size (size + 1)
  torch::Tensor small = torch::full({10}, 10 * r - 4, Gpu());        // max: 10 (size - 1) - 4
  std::shared_ptr<Work> first = Comm().AllReduceAsync(big, ReduceOp::kSum);
  std::shared_ptr<Work> second = Comm().AllReduceAsync(small, ReduceOp::kMax);
  // A CPU tensor goes through MPI after both, as issued.
  torch::Tensor host = torch::full({3}, 1.0 + r, torch::kDouble);
  ASSERT_TRUE(Comm().AllReduce(host, ReduceOp::kAvg).ok());
  EXPECT_TRUE(first->Done());
  EXPECT_TRUE(second->Done());
  ASSERT_TRUE(second->Wait().ok());
  ASSERT_TRUE(first->Wait().ok());
  ASSERT_TRUE(first->Wait().ok());  // repeatable
  EXPECT_TRUE(torch::equal(host, torch::full({3}, 1.0 + (size - 1) / 2, torch::kDouble)));
  EXPECT_EQ(big.min().item<float>(), size * (size + 1));
  EXPECT_EQ(big.max().item<float>(), size * (size + 1));
  EXPECT_TRUE(torch::equal(small.cpu(), torch::full({10}, 10 * (size - 1) - 4)));
}

TEST(NcclCommunicatorTest, BroadcastOnGpuAndCpu) {
  SKIP_WITHOUT_NCCL();
  const int root_rank = Size() - 1;
  const bool root = Comm().rank() == root_rank;
  torch::Tensor gpu = root
                          ? torch::arange(12, torch::TensorOptions(Gpu()).dtype(torch::kBFloat16))
                          : torch::zeros({12}, torch::TensorOptions(Gpu()).dtype(torch::kBFloat16));
  torch::Tensor cpu =
      root ? torch::full({5}, int64_t{1} << 40, torch::kLong) : torch::zeros({5}, torch::kLong);
  ASSERT_TRUE(Comm().Broadcast(gpu, root_rank).ok());
  ASSERT_TRUE(Comm().Broadcast(cpu, root_rank).ok());
  EXPECT_TRUE(torch::equal(gpu.cpu(), torch::arange(12, torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(cpu, torch::full({5}, int64_t{1} << 40, torch::kLong)));
  EXPECT_EQ(Comm().Broadcast(gpu, Size()).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Comm().Barrier().ok());
}

TEST(NcclCommunicatorTest, ArgumentErrorsNameRankDeviceAndOperation) {
  SKIP_WITHOUT_NCCL();
  // Checked on each rank alone, before anything is sent: no collective is left half-issued.
  torch::Tensor strided = torch::zeros({4, 4}, Gpu()).t();
  absl::Status status = Comm().AllReduce(strided, ReduceOp::kSum);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not contiguous"));
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("rank ", Comm().rank(), " of ", Size())));

  torch::Tensor bools = torch::zeros({4}, torch::TensorOptions(Gpu()).dtype(torch::kBool));
  status = Comm().AllReduceAsync(bools, ReduceOp::kSum)->Wait();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  // A tensor on another GPU than the communicator's (only where this process sees two).
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus > 1) {
    torch::Tensor elsewhere =
        torch::zeros({4}, torch::Device(torch::kCUDA, (Gpu().index() + 1) % gpus));
    status = Comm().AllReduce(elsewhere, ReduceOp::kSum);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("this communicator moves tensors on " + Gpu().str()));
  }

  // Still usable afterwards.
  torch::Tensor ok = torch::ones({2}, Gpu());
  ASSERT_TRUE(Comm().AllReduce(ok, ReduceOp::kSum).ok());
  EXPECT_TRUE(torch::equal(ok.cpu(), torch::full({2}, static_cast<float>(Size()))));
}

}  // namespace
}  // namespace fathom::comm
