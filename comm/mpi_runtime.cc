#include "comm/mpi_runtime.h"

#include <mpi.h>

#include <atomic>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {
namespace {

// Thread level. All collectives run on the communicator's own thread, but MPI_Init_thread and
// MPI_Finalize run on the thread that creates and destroys the communicator: FUNNELED would
// require both to be the same thread, and it would forbid the program's own MPI calls from its
// main thread (e.g. a test's final MPI_Allreduce after the communicator is gone). SERIALIZED is
// exactly our pattern, one thread inside MPI at a time, and avoids the locking that Open MPI
// adds for MULTIPLE. It also means two communicators, each with its own thread, could enter
// MPI at once, so only one MpiRuntime may exist at a time.
constexpr int kRequiredThreadLevel = MPI_THREAD_SERIALIZED;

std::atomic<bool> g_runtime_alive{false};

// "rank 1 of 2 (host)" once MPI is up, "host" before.
std::string SetupLabel() {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (!initialised || finalised) return HostName();
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return RankLabel(rank, size, HostName());
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::Acquire() {
  if (g_runtime_alive.exchange(true)) {
    return absl::FailedPreconditionError(absl::StrCat(
        SetupLabel(),
        ": CreateMpiCommunicator: an MPI communicator already exists in this "
        "process; pass that one around (one communication thread per process may call MPI)"));
  }
  auto release = absl::MakeCleanup([] { g_runtime_alive = false; });
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (finalised) {
    return absl::FailedPreconditionError(
        absl::StrCat(HostName(),
                     ": CreateMpiCommunicator: MPI was already finalised in this process and "
                     "cannot be initialised again; keep one communicator for the whole run"));
  }
  int initialised = 0;
  MPI_Initialized(&initialised);
  int provided = MPI_THREAD_SINGLE;
  if (!initialised) {
    const int rc = MPI_Init_thread(nullptr, nullptr, kRequiredThreadLevel, &provided);
    if (rc != MPI_SUCCESS) {
      return absl::InternalError(absl::StrCat(
          HostName(), ": CreateMpiCommunicator: MPI_Init_thread failed: ", MpiErrorString(rc)));
    }
  } else {
    MPI_Query_thread(&provided);
  }
  absl::Status level = CheckThreadLevel(provided, !initialised);
  if (!level.ok()) {
    level = absl::Status(level.code(),
                         absl::StrCat(SetupLabel(), ": CreateMpiCommunicator: ", level.message()));
    if (!initialised) MPI_Finalize();
    return level;
  }
  std::move(release).Cancel();
  return std::unique_ptr<MpiRuntime>(new MpiRuntime(!initialised, provided));
}

MpiRuntime::~MpiRuntime() {
  if (initialised_here_) {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
  g_runtime_alive = false;
}

absl::Status CheckThreadLevel(int provided, bool initialised_here) {
  if (provided >= kRequiredThreadLevel) return absl::OkStatus();
  if (initialised_here) {
    return absl::FailedPreconditionError(
        absl::StrCat("this MPI library provides only ", ThreadLevelName(provided),
                     "; the communicator calls MPI from its own thread and needs ",
                     ThreadLevelName(kRequiredThreadLevel)));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the program initialised MPI with ", ThreadLevelName(provided),
                   ", but the communicator calls MPI from its own thread and needs ",
                   ThreadLevelName(kRequiredThreadLevel), ": call MPI_Init_thread(&argc, &argv, ",
                   ThreadLevelName(kRequiredThreadLevel),
                   ", &provided) instead of MPI_Init, or let the communicator initialise MPI"));
}

std::string ThreadLevelName(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
  }
  return absl::StrCat("thread level ", level);
}

std::string MpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return absl::StrCat("MPI error code ", code);
  }
  // Open MPI's strings name the class already ("MPI_ERR_TRUNCATE: message truncated").
  std::string message(text, length);
  if (absl::StartsWith(message, "MPI_ERR")) return message;
  return absl::StrCat("MPI error code ", code, ": ", message);
}

std::string MpiLibraryName() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  if (MPI_Get_library_version(version, &length) != MPI_SUCCESS) return "unknown MPI";
  std::string name(version, length);
  const size_t comma = name.find(',');
  return comma == std::string::npos ? name : name.substr(0, comma);
}

}  // namespace fathom::comm
