#include "comm/mpi_watchdog.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "comm/mpi_runtime.h"

namespace fathom::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kStuckTag = 7301;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The ranks other than `self` not heard from, as "1, 3"; empty when every rank was.
std::string Missing(const std::vector<bool>& heard, int self) {
  std::string missing;
  for (int r = 0; r < static_cast<int>(heard.size()); ++r) {
    if (r == self || heard[r]) continue;
    absl::StrAppend(&missing, missing.empty() ? "" : ", ", r);
  }
  return missing;
}

}  // namespace

absl::Status MpiWatchdog::Await(MPI_Request* request, const std::string& operation,
                                const char* call) {
  ++sequence_;
  const auto start = Clock::now();
  const double limit = timeout_ == absl::InfiniteDuration() ? -1 : absl::ToDoubleSeconds(timeout_);
  while (true) {
    int done = 0;
    MPI_Status status;
    const int rc = MPI_Test(request, &done, &status);
    if (rc != MPI_SUCCESS) {
      return absl::InternalError(
          absl::StrCat(where_, ": ", operation, ": ", call, " failed: ", MpiErrorString(rc)));
    }
    if (done) return absl::OkStatus();
    // MPI progresses only inside MPI_Test, so keep calling it: flat out for the first
    // millisecond (small collectives), then yielding to the compute threads (a bucket that
    // overlaps backward), and after 100 ms, when a peer is plainly busy elsewhere, gently.
    const double waited = SecondsSince(start);
    if (waited > 0.1) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    } else if (waited > 1e-3) {
      sched_yield();
    }
    if (limit >= 0 && waited > limit) DiagnoseAndAbort(operation, waited);
  }
}

void MpiWatchdog::DiagnoseAndAbort(const std::string& operation, double waited_seconds) {
  // Ranks whose deadline also passed say so; ranks that entered the collective later time out
  // later, by at most about one training step, hence a grace period before judging.
  const int64_t message = rank_;
  std::vector<MPI_Request> sends(size_, MPI_REQUEST_NULL);
  for (int r = 0; r < size_; ++r) {
    if (r != rank_) MPI_Isend(&message, 1, MPI_INT64_T, r, kStuckTag, side_, &sends[r]);
  }
  const double grace = std::clamp(absl::ToDoubleSeconds(timeout_) / 10, 2.0, 60.0);
  std::vector<bool> heard(size_, false);
  heard[rank_] = true;
  const auto start = Clock::now();
  int heard_count = 1;
  while (SecondsSince(start) < grace && heard_count < size_) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kStuckTag, side_, &flag, &status);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    int64_t from = -1;
    MPI_Recv(&from, 1, MPI_INT64_T, status.MPI_SOURCE, kStuckTag, side_, MPI_STATUS_IGNORE);
    if (!heard[status.MPI_SOURCE]) ++heard_count;
    heard[status.MPI_SOURCE] = true;
  }
  const std::string missing = Missing(heard, rank_);
  FLOG(Error) << where_ << ": " << operation << " (MPI request #" << sequence_
              << ") did not finish within " << static_cast<int64_t>(waited_seconds)
              << " s (distributed.timeout_seconds); "
              << (missing.empty()
                      ? "every other rank is waiting too (a network or MPI failure)"
                      : absl::StrCat("rank(s) ", missing, " never arrived: dead or stalled"))
              << ". Aborting all ranks; the last saved checkpoint is intact.";
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

}  // namespace fathom::comm
