// The one main() of every tests/*_mpi_test binary (tests/mpi_test_main.cc), and what its tests
// may ask of it. mpirun starts the binary on every rank; main starts MPI once for all the tests
// (MPI cannot be initialised twice in a process), lets only rank 0 print GoogleTest's report
// (ctest's log then reads like one test) while every rank's failed assertions are still printed
// with their rank, and gives every rank the same exit code: non-zero when a test failed on any
// rank, so a failure seen by one rank alone cannot pass.
//
// By default main creates the process's communicator (comm::CreateCommunicator(kAuto, CPU)),
// which initialises MPI itself and finalises it when destroyed; tests reach it through
// MpiTestComm(). A binary that needs something else registers options once, at namespace scope:
//
//   const fathom::testing::MpiTestRegistration kMpiTest([] {
//     fathom::testing::MpiTestOptions options;
//     options.start = fathom::testing::MpiStart::kInitThread;
//     return options;
//   }());
//
// This header needs only comm/ (and base/): the comm_* tests must not see other layers.
#ifndef FATHOM_TESTS_MPI_TEST_MAIN_H_
#define FATHOM_TESTS_MPI_TEST_MAIN_H_

#include <functional>
#include <string>

#include "comm/communicator.h"
#include "comm/communicator_factory.h"

namespace fathom::testing {

enum class MpiStart {
  // main creates the communicator of `backend` and `cuda` before the tests and destroys it
  // after them (which finalises MPI).
  kCommunicator,
  // main calls MPI_Init_thread(MPI_THREAD_SERIALIZED) and MPI_Finalize itself and creates no
  // communicator: for tests of a communicator inside a program that initialised MPI on its own
  // (comm_preinit_mpi_test), and for tests that make raw MPI calls on MPI_COMM_WORLD from their
  // own thread, which must not run beside a communicator's thread (prepare_batches_mpi_test).
  kInitThread,
};

struct MpiTestOptions {
  MpiStart start = MpiStart::kCommunicator;
  comm::Backend backend = comm::Backend::kAuto;  // kCommunicator only
  bool cuda = false;                             // kCommunicator only
  // Asked before MPI starts. A non-empty reason (e.g. fewer GPUs than ranks) means the tests
  // cannot run here: MPI is never started, every rank runs the tests alone (they skip, quoting
  // MpiTestSkipReason()), rank 0 reports, and each rank exits with its own code.
  std::function<std::string()> skip_reason;
  // Run on every rank right before the tests, and after them while MPI still runs (e.g. rank 0
  // removes data it shared with the other ranks). Either may be empty.
  std::function<void()> before_tests;
  std::function<void()> after_tests;
};

// Registers the options of this binary; at most one registration per binary.
class MpiTestRegistration {
 public:
  explicit MpiTestRegistration(MpiTestOptions options);
};

// The communicator main created; null with kInitThread or when skipped.
comm::Communicator* MpiTestComm();
// This process's rank and the number of ranks in MPI_COMM_WORLD (when skipped: the launcher's
// OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE, or 0 and 1).
int MpiTestRank();
int MpiTestSize();
// Why the tests cannot run here; empty when they can.
const std::string& MpiTestSkipReason();

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_MPI_TEST_MAIN_H_
