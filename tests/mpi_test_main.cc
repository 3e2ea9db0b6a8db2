// The shared main() of the tests/*_mpi_test binaries: what it does and how a binary changes it
// is in tests/mpi_test_main.h.
#include "tests/mpi_test_main.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace fathom::testing {
namespace {

struct State {
  MpiTestOptions options;
  bool registered = false;
  std::unique_ptr<comm::Communicator> comm;
  int rank = 0;
  int size = 1;
  std::string skip_reason;
};

// Never destroyed: registrations run during static initialisation, in any order.
State& GetState() {
  static State* state = new State;
  return *state;
}

int EnvironmentInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

// Replaces GoogleTest's printer on ranks other than 0: it prints only failures, tagged with the
// rank, so that an assertion that fails on one rank alone is explained in the log too.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}

  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() != nullptr ? result.file_name() : "unknown file",
                 result.line_number(), result.message());
    std::fflush(stderr);
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    std::fprintf(stderr, "[rank %d] [  FAILED  ] %s.%s\n", rank_, info.test_suite_name(),
                 info.name());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

void ReportOnRankZero(int rank) {
  if (rank == 0) return;
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new FailurePrinter(rank));
}

// Every rank's RUN_ALL_TESTS() result, in rank order.
absl::StatusOr<std::vector<int64_t>> GatherResults(State& state, int failed) {
  if (state.comm != nullptr) return state.comm->AllGather(static_cast<int64_t>(failed));
  std::vector<int> all(state.size);
  const int rc = MPI_Allgather(&failed, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return absl::InternalError("MPI_Allgather failed");
  return std::vector<int64_t>(all.begin(), all.end());
}

// Starts MPI as `options.start` says and sets the rank and size; returns a message on failure.
std::string StartMpi(State& state, int* argc, char*** argv) {
  const MpiTestOptions& options = state.options;
  if (options.start == MpiStart::kInitThread) {
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
      return "MPI_Init_thread failed";
    }
    if (provided < MPI_THREAD_SERIALIZED) {
      return "MPI_Init_thread gave a thread level below MPI_THREAD_SERIALIZED";
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &state.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &state.size);
    return "";
  }
  auto comm = comm::CreateCommunicator(options.backend, options.cuda);
  if (!comm.ok()) return std::string(comm.status().message());
  state.comm = std::move(*comm);
  state.rank = state.comm->rank();
  state.size = state.comm->size();
  if (state.rank == 0) std::printf("%s\n", state.comm->Describe().c_str());
  return "";
}

void StopMpi(State& state) {
  if (state.comm != nullptr) {
    state.comm.reset();  // finalises MPI when the communicator initialised it
  } else {
    MPI_Finalize();
  }
}

}  // namespace

MpiTestRegistration::MpiTestRegistration(MpiTestOptions options) {
  State& state = GetState();
  if (state.registered) {
    std::fprintf(stderr, "tests/mpi_test_main: MpiTestOptions registered twice in one binary\n");
    std::abort();
  }
  state.registered = true;
  state.options = std::move(options);
}

comm::Communicator* MpiTestComm() { return GetState().comm.get(); }
int MpiTestRank() { return GetState().rank; }
int MpiTestSize() { return GetState().size; }
const std::string& MpiTestSkipReason() { return GetState().skip_reason; }

}  // namespace fathom::testing

int main(int argc, char** argv) {
  using fathom::testing::GetState;
  ::testing::InitGoogleTest(&argc, argv);
  auto& state = GetState();
  const fathom::testing::MpiTestOptions& options = state.options;
  if (options.skip_reason) state.skip_reason = options.skip_reason();
  if (!state.skip_reason.empty()) {
    // No MPI: each rank runs the tests, which skip; the launcher's variables say who reports.
    state.rank = fathom::testing::EnvironmentInt("OMPI_COMM_WORLD_RANK", 0);
    state.size = fathom::testing::EnvironmentInt("OMPI_COMM_WORLD_SIZE", 1);
    fathom::testing::ReportOnRankZero(state.rank);
    return RUN_ALL_TESTS();
  }
  const std::string error = fathom::testing::StartMpi(state, &argc, &argv);
  if (!error.empty()) {
    std::fprintf(stderr, "tests/mpi_test_main: %s\n", error.c_str());
    return 1;
  }
  fathom::testing::ReportOnRankZero(state.rank);
  if (options.before_tests) options.before_tests();
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  if (options.after_tests) options.after_tests();
  const auto results = fathom::testing::GatherResults(state, failed);
  int exit_code = failed;
  if (!results.ok()) {
    std::fprintf(stderr, "[rank %d] cannot gather the ranks' results: %s\n", state.rank,
                 std::string(results.status().message()).c_str());
    exit_code = 1;
  } else {
    std::string failing;
    for (size_t r = 0; r < results->size(); ++r) {
      if ((*results)[r] != 0) failing += (failing.empty() ? "" : ", ") + std::to_string(r);
    }
    if (!failing.empty()) {
      exit_code = 1;
      if (state.rank == 0) {
        std::printf(
            "Tests failed on rank(s) %s (other ranks' failures are printed with their "
            "rank).\n",
            failing.c_str());
      }
    }
  }
  std::fflush(stdout);
  fathom::testing::StopMpi(state);
  return exit_code;
}
