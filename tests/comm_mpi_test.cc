// The MPI communicator on 2 ranks. The communicator initialises MPI itself (the shared main,
// tests/mpi_test_main.cc, creates it and makes no MPI call), and one instance serves every test:
// MPI cannot be initialised twice in a process.
// Every test issues the same collectives in the same order on both ranks.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/communicator_factory.h"
#include "comm/mpi_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi_test_main.h"

namespace fathom::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Communicator& Comm() { return *testing::MpiTestComm(); }

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(MpiCommunicatorTest, KnowsRanksAndHosts) {
  ASSERT_EQ(Comm().size(), 2) << "launch with mpirun -np 2";
  EXPECT_THAT(Comm().Describe(), HasSubstr("MPI communicator"));
  EXPECT_THAT(Comm().Describe(), HasSubstr("MPI_THREAD_SERIALIZED"));
  // mpirun -np 2 on one machine: both ranks share the host.
  EXPECT_EQ(Comm().local_size(), 2);
  EXPECT_EQ(Comm().local_rank(), Comm().rank());
  auto ranks = Comm().AllGather(Comm().rank());
  ASSERT_TRUE(ranks.ok()) << ranks.status();
  EXPECT_THAT(*ranks, ElementsAre(0, 1));
}

// Rank-dependent integers small enough for bfloat16 and float16 to hold exactly, with negative
// odd sums so that the integer average shows its rounding toward zero.
torch::Tensor RankValues(int rank, int64_t n) {
  torch::Tensor i = torch::arange(n, torch::kLong);
  return rank == 0 ? i.remainder(7) - 3 : i.remainder(5) * 2 - 5;
}

TEST(MpiCommunicatorTest, AllReduceEveryDtypeAndOpExactly) {
  const int64_t n = 1000;
  const torch::Tensor mine = RankValues(Comm().rank(), n);
  const torch::Tensor a = RankValues(0, n), b = RankValues(1, n);
  for (torch::ScalarType dtype :
       {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kBFloat16, torch::kHalf}) {
    const bool integral = dtype == torch::kLong || dtype == torch::kInt;
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kAvg}) {
      torch::Tensor expected;
      switch (op) {
        case ReduceOp::kSum:
          expected = a + b;
          break;
        case ReduceOp::kMax:
          expected = torch::maximum(a, b);
          break;
        case ReduceOp::kAvg:
          expected = integral ? (a + b).div(2, "trunc") : (a + b).to(torch::kDouble) / 2;
          break;
      }
      torch::Tensor t = mine.to(dtype).reshape({10, 100}).clone();  // to(kLong) would alias
      const absl::Status status = Comm().AllReduce(t, op);
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(t.scalar_type(), dtype);
      EXPECT_TRUE(torch::equal(t.reshape({n}).to(torch::kDouble), expected.to(torch::kDouble)))
          << c10::toString(dtype) << " " << ReduceOpName(op);
    }
  }
  // Parameters (leaves that require grad) can be averaged in place, bfloat16 ones too.
  for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor weight = torch::full({4}, Comm().rank() + 1.0, dtype).requires_grad_();
    const absl::Status status = Comm().AllReduce(weight, ReduceOp::kAvg);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(torch::equal(weight.detach(), torch::full({4}, 1.5, dtype)));
  }
  // The rounding toward zero is really exercised: -2 + -5 = -7 averages to -3, not -4.
  EXPECT_TRUE((((a + b) < 0) & ((a + b).remainder(2) != 0)).any().item<bool>());
}

TEST(MpiCommunicatorTest, BroadcastFromRootOne) {
  const bool root = Comm().rank() == 1;
  torch::Tensor floats =
      root ? torch::arange(12, torch::kFloat).reshape({3, 4}) * 3 : torch::zeros({3, 4});
  torch::Tensor ints =
      root ? torch::full({5}, int64_t{1} << 40, torch::kLong) : torch::zeros({5}, torch::kLong);
  ASSERT_TRUE(Comm().Broadcast(floats, 1).ok());
  ASSERT_TRUE(Comm().Broadcast(ints, 1).ok());
  EXPECT_TRUE(torch::equal(floats, torch::arange(12, torch::kFloat).reshape({3, 4}) * 3));
  EXPECT_TRUE(torch::equal(ints, torch::full({5}, int64_t{1} << 40, torch::kLong)));

  absl::Status bad_root = Comm().Broadcast(floats, 2);
  EXPECT_EQ(bad_root.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_root.message(), HasSubstr("Broadcast"));
}

TEST(MpiCommunicatorTest, AllGathersIntsDoublesAndBytes) {
  const int rank = Comm().rank();
  auto ints = Comm().AllGather(int64_t{rank * 1000 - 7} << 33);
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_THAT(*ints, ElementsAre(int64_t{-7} << 33, int64_t{993} << 33));
  auto doubles = Comm().AllGather(rank == 0 ? 0.1 : -1e300);
  ASSERT_TRUE(doubles.ok()) << doubles.status();
  EXPECT_THAT(*doubles, ElementsAre(0.1, -1e300));

  // Lengths differ between ranks, one is empty, and the bytes include zeros.
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 % 256);
  auto bytes = Comm().AllGatherBytes(rank == 0 ? std::string() : big);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, ElementsAre(std::string(), big));
  auto words = Comm().AllGatherBytes(rank == 0 ? "encoder.layers.17" : "x");
  ASSERT_TRUE(words.ok()) << words.status();
  EXPECT_THAT(*words, ElementsAre("encoder.layers.17", "x"));
}

TEST(MpiCommunicatorTest, AsyncAllReducesFinishInOrderWithRightResults) {
  const float r = static_cast<float>(Comm().rank());
  torch::Tensor big = torch::full({1 << 20}, r + 1);                       // sum: 3
  torch::Tensor small = torch::full({10}, 10 * r - 4);                     // max: 6
  torch::Tensor doubles = torch::full({100000}, 1.0 + r, torch::kDouble);  // avg: 1.5
  std::shared_ptr<Work> first = Comm().AllReduceAsync(big, ReduceOp::kSum);
  std::shared_ptr<Work> second = Comm().AllReduceAsync(small, ReduceOp::kMax);
  std::shared_ptr<Work> third = Comm().AllReduceAsync(doubles, ReduceOp::kAvg);

  // Unrelated work while they run, as backward would do.
  torch::Tensor x = torch::randn({256, 256});
  for (int i = 0; i < 20; ++i) x = torch::tanh(x.matmul(x.t()) / 256);

  // Last first: when it is done, the earlier ones must be too.
  ASSERT_TRUE(third->Wait().ok());
  EXPECT_TRUE(first->Done());
  EXPECT_TRUE(second->Done());
  ASSERT_TRUE(second->Wait().ok());
  ASSERT_TRUE(first->Wait().ok());
  EXPECT_TRUE(torch::equal(big, torch::full({1 << 20}, 3.0f)));
  EXPECT_TRUE(torch::equal(small, torch::full({10}, 6.0f)));
  EXPECT_TRUE(torch::equal(doubles, torch::full({100000}, 1.5, torch::kDouble)));

  // Order on one tensor: sum then max of {1, 2} gives 3 everywhere; max then sum would give 4.
  torch::Tensor same = torch::full({1000}, r + 1);
  std::shared_ptr<Work> sum = Comm().AllReduceAsync(same, ReduceOp::kSum);
  std::shared_ptr<Work> max = Comm().AllReduceAsync(same, ReduceOp::kMax);
  ASSERT_TRUE(max->Wait().ok());
  ASSERT_TRUE(sum->Wait().ok());
  EXPECT_TRUE(torch::equal(same, torch::full({1000}, 3.0f)));

  // A synchronous operation queues behind the asynchronous ones.
  torch::Tensor later = torch::full({1 << 20}, r);
  std::shared_ptr<Work> pending = Comm().AllReduceAsync(later, ReduceOp::kSum);
  ASSERT_TRUE(Comm().Barrier().ok());
  EXPECT_TRUE(pending->Done());
  EXPECT_TRUE(pending->Wait().ok());
}

TEST(MpiCommunicatorTest, AsyncAllReduceProgressesWithoutTheCaller) {
  // The reason for the communication thread: the caller never enters the communicator between
  // issuing and checking, and the all-reduce must still complete.
  torch::Tensor t = torch::full({4 << 20}, static_cast<float>(Comm().rank()));
  std::shared_ptr<Work> work = Comm().AllReduceAsync(t, ReduceOp::kSum);
  const Clock::time_point start = Clock::now();
  torch::Tensor x = torch::randn({128, 128});
  while (!work->Done() && SecondsSince(start) < 120) x = torch::tanh(x.matmul(x) / 128);
  EXPECT_TRUE(work->Done()) << "not finished after " << SecondsSince(start) << " s";
  ASSERT_TRUE(work->Wait().ok());
  EXPECT_TRUE(torch::equal(t, torch::ones({4 << 20})));
}

TEST(MpiCommunicatorTest, ArgumentErrorsNameRankAndOperation) {
  // Both ranks fail the same local checks, so neither is left inside a collective.
  const std::string rank_label = "rank " + std::to_string(Comm().rank()) + " of 2";
  torch::Tensor transposed = torch::zeros({4, 3}).t();
  absl::Status status = Comm().AllReduce(transposed, ReduceOp::kSum);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(rank_label));
  EXPECT_THAT(status.message(), HasSubstr("AllReduce"));
  EXPECT_THAT(status.message(), HasSubstr("not contiguous"));

  std::shared_ptr<Work> work = Comm().AllReduceAsync(transposed, ReduceOp::kMax);
  EXPECT_TRUE(work->Done());
  EXPECT_THAT(work->Wait().message(), HasSubstr("AllReduce"));
  EXPECT_THAT(Comm().Broadcast(transposed, 0).message(), HasSubstr("Broadcast"));

  torch::Tensor bytes = torch::zeros({8}, torch::kUInt8);
  EXPECT_THAT(Comm().AllReduce(bytes, ReduceOp::kSum).message(), HasSubstr("cannot reduce uint8"));

  // The communicator still works afterwards.
  torch::Tensor ok = torch::ones({3});
  ASSERT_TRUE(Comm().AllReduce(ok, ReduceOp::kSum).ok());
  EXPECT_TRUE(torch::equal(ok, torch::full({3}, 2.0f)));
}

TEST(MpiCommunicatorTest, MpiErrorsComeBackAsStatus) {
  // Shapes that differ between ranks: rank 1 receives fewer bytes than rank 0 sends, which MPI
  // reports as truncation on rank 1 (MPI_ERRORS_RETURN instead of aborting the job).
  torch::Tensor t = torch::ones({Comm().rank() == 0 ? 64 : 16});
  absl::Status status = Comm().Broadcast(t, 0);
  if (Comm().rank() == 1) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(status.message(), HasSubstr("rank 1 of 2"));
    EXPECT_THAT(status.message(), HasSubstr("Broadcast(float32[16], root 0)"));
    EXPECT_THAT(status.message(), HasSubstr("MPI_Ibcast failed: MPI_ERR_TRUNCATE"));
  }
  ASSERT_TRUE(Comm().Barrier().ok());
}

TEST(MpiCommunicatorTest, BarrierWaitsForTheSlowestRank) {
  ASSERT_TRUE(Comm().Barrier().ok());
  if (Comm().rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(Comm().Barrier().ok());
  if (Comm().rank() == 0) EXPECT_GT(SecondsSince(start), 0.2);
}

TEST(MpiCommunicatorTest, OnlyOnePerProcess) {
  auto second = CreateMpiCommunicator();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("already exists"));
}

TEST(MpiCommunicatorTest, Time25MegabyteFloatAllReduce) {
  // Not an assertion on speed: a number for the log, nccl-tests style (busbw = algbw * 2(n-1)/n).
  const int64_t n = 25 * 1000 * 1000 / 4;
  torch::Tensor t = torch::empty({n});
  auto fill = [&] { t.fill_(static_cast<float>(Comm().rank() + 1)); };
  for (int i = 0; i < 3; ++i) {
    fill();
    ASSERT_TRUE(Comm().AllReduce(t, ReduceOp::kSum).ok());
  }
  const int iterations = 20;
  double seconds = 0;
  for (int i = 0; i < iterations; ++i) {
    fill();
    ASSERT_TRUE(Comm().Barrier().ok());
    const Clock::time_point start = Clock::now();
    ASSERT_TRUE(Comm().AllReduce(t, ReduceOp::kSum).ok());
    seconds += SecondsSince(start);
  }
  EXPECT_TRUE(torch::equal(t, torch::full({n}, 3.0f)));
  const double mean = seconds / iterations;
  const double algbw = n * 4 / mean / 1e9;
  if (Comm().rank() == 0) {
    std::printf(
        "all-reduce float32[%lld] (%.1f MB) over 2 ranks: %.2f ms, algbw %.2f GB/s, "
        "busbw %.2f GB/s\n",
        static_cast<long long>(n), n * 4 / 1e6, mean * 1e3, algbw, algbw);
  }
}

}  // namespace
}  // namespace fathom::comm
