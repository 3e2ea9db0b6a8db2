#include "comm/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "comm/launcher_environment.h"
#include "comm/mpi_runtime.h"
#include "comm/mpi_watchdog.h"
#include "comm/operation_queue.h"
#include "comm/pending_work.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {
namespace {

// MPI counts are ints; larger buffers go in pieces of this many elements.
constexpr int64_t kMaxCount = int64_t{1} << 30;

bool ReducedThroughFloat(torch::ScalarType type) {
  // MPI 3.1 has no 16-bit float types; Open MPI 4.1 none as extensions either.
  return type == torch::kBFloat16 || type == torch::kHalf;
}

MPI_Datatype MpiType(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kInt:
      return MPI_INT32_T;
    case torch::kLong:
      return MPI_INT64_T;
    default:
      return MPI_DATATYPE_NULL;  // excluded by CheckReducibleDtype and ReducedThroughFloat
  }
}

MPI_Op MpiOp(ReduceOp op) { return op == ReduceOp::kMax ? MPI_MAX : MPI_SUM; }

struct Topology {
  int rank = 0;
  int size = 0;
  int local_rank = 0;
  int local_size = 0;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(std::unique_ptr<MpiRuntime> runtime, MPI_Comm comm, MPI_Comm side,
                  Topology topology)
      : runtime_(std::move(runtime)),
        comm_(comm),
        side_(side),
        topology_(topology),
        where_(RankLabel(topology.rank, topology.size, HostName())),
        library_(MpiLibraryName()),
        watchdog_(side, topology.rank, topology.size, where_),
        queue_(std::make_unique<OperationQueue>("fathom-comm")) {}

  ~MpiCommunicator() override {
    // Runs behind whatever is still queued; then the thread stops, and MPI is finalised (when
    // we initialised it) only after our last call.
    queue_
        ->Run([this] {
          int finalised = 0;
          MPI_Finalized(&finalised);
          if (!finalised) {
            MPI_Comm_free(&comm_);
            MPI_Comm_free(&side_);
          }
          return absl::OkStatus();
        })
        .IgnoreError();
    queue_.reset();
    runtime_.reset();
  }

  int rank() const override { return topology_.rank; }
  int size() const override { return topology_.size; }
  int local_rank() const override { return topology_.local_rank; }
  int local_size() const override { return topology_.local_size; }

  absl::Status AllReduce(torch::Tensor& t, ReduceOp op) override {
    RETURN_IF_ERROR(CheckReduceArguments(t));
    return queue_->Run([this, t, op] { return RunAllReduceOrCatch(t, op); });
  }

  std::shared_ptr<Work> AllReduceAsync(torch::Tensor t, ReduceOp op) override {
    absl::Status arguments = CheckReduceArguments(t);
    if (!arguments.ok()) return PendingWork::Finished(std::move(arguments));
    return queue_->Submit([this, t = std::move(t), op] { return RunAllReduceOrCatch(t, op); });
  }

  absl::Status Broadcast(torch::Tensor& t, int root) override {
    RETURN_IF_ERROR(CheckTensor(t, "Broadcast", where_, /*cpu_only=*/true));
    RETURN_IF_ERROR(CheckRoot(root, size(), "Broadcast", where_));
    return queue_->Run([this, t, root] { return RunBroadcast(t, root); });
  }

  using Communicator::AllGather;
  absl::StatusOr<std::vector<int64_t>> AllGather(int64_t value) override {
    std::vector<int64_t> values(size());
    RETURN_IF_ERROR(queue_->Run([&] {
      return Collective("AllGather(int64)", "MPI_Iallgather", [&](MPI_Request* request) {
        return MPI_Iallgather(&value, 1, MPI_INT64_T, values.data(), 1, MPI_INT64_T, comm_,
                              request);
      });
    }));
    return values;
  }

  absl::StatusOr<std::vector<double>> AllGather(double value) override {
    std::vector<double> values(size());
    RETURN_IF_ERROR(queue_->Run([&] {
      return Collective("AllGather(double)", "MPI_Iallgather", [&](MPI_Request* request) {
        return MPI_Iallgather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, comm_, request);
      });
    }));
    return values;
  }

  absl::StatusOr<std::vector<std::string>> AllGatherBytes(const std::string& bytes) override {
    std::vector<std::string> result;
    RETURN_IF_ERROR(queue_->Run([&] { return RunAllGatherBytes(bytes, &result); }));
    return result;
  }

  absl::Status Barrier() override {
    return queue_->Run([this] {
      return Collective("Barrier", "MPI_Ibarrier",
                        [&](MPI_Request* request) { return MPI_Ibarrier(comm_, request); });
    });
  }

  void SetTimeout(absl::Duration timeout) override {
    queue_
        ->Run([this, timeout] {
          watchdog_.set_timeout(timeout);
          return absl::OkStatus();
        })
        .IgnoreError();
  }

  std::string Describe() const override {
    return absl::StrCat("MPI communicator (", library_, ", ",
                        ThreadLevelName(runtime_->thread_level()), "), ", where_, ", local rank ",
                        local_rank(), " of ", local_size());
  }

 private:
  absl::Status CheckReduceArguments(const torch::Tensor& t) const {
    RETURN_IF_ERROR(CheckTensor(t, "AllReduce", where_, /*cpu_only=*/true));
    return CheckReducibleDtype(t, "AllReduce", where_);
  }

  // An MPI return code as a Status: "rank 1 of 2 (host): AllReduce(float32[4], sum):
  // MPI_Allreduce failed: MPI_ERR_TRUNCATE: message truncated".
  absl::Status Check(int rc, const std::string& operation, const char* call) const {
    if (rc == MPI_SUCCESS) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat(where_, ": ", operation, ": ", call, " failed: ", MpiErrorString(rc)));
  }

  // The methods below run on the communication thread only.

  // Starts a non-blocking collective with `start` and waits for it under the watchdog's deadline.
  template <typename Start>
  absl::Status Collective(const std::string& operation, const char* call, Start start) {
    MPI_Request request = MPI_REQUEST_NULL;
    RETURN_IF_ERROR(Check(start(&request), operation, call));
    return watchdog_.Await(&request, operation, call);
  }

  // LibTorch reports failures (allocation, autograd misuse) as exceptions; name the rank and
  // operation, which the queue's own last-resort catch cannot.
  absl::Status RunAllReduceOrCatch(const torch::Tensor& t, ReduceOp op) {
    try {
      return RunAllReduce(t, op);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(where_, ": AllReduce(", DescribeTensor(t), ", ",
                                              ReduceOpName(op), "): ", e.what()));
    }
  }

  absl::Status RunAllReduce(const torch::Tensor& t, ReduceOp op) {
    const std::string operation =
        absl::StrCat("AllReduce(", DescribeTensor(t), ", ", ReduceOpName(op), ")");
    // Grad mode is per thread: without this, averaging a parameter (a leaf that requires grad)
    // in place would throw here although the caller's thread never records it.
    const torch::NoGradGuard no_grad;
    // 16-bit floats are summed in float32 and rounded once at the end; every rank rounds the
    // same float32 result, so they stay identical.
    const torch::Tensor buffer = ReducedThroughFloat(t.scalar_type()) ? t.to(torch::kFloat) : t;
    const MPI_Datatype type = MpiType(buffer.scalar_type());
    char* data = static_cast<char*>(buffer.data_ptr());
    for (int64_t done = 0; done < buffer.numel(); done += kMaxCount) {
      const int count = static_cast<int>(std::min(kMaxCount, buffer.numel() - done));
      RETURN_IF_ERROR(Collective(operation, "MPI_Iallreduce", [&](MPI_Request* request) {
        return MPI_Iallreduce(MPI_IN_PLACE, data + done * buffer.element_size(), count, type,
                              MpiOp(op), comm_, request);
      }));
    }
    if (op == ReduceOp::kAvg) {
      if (buffer.is_floating_point()) {
        buffer.div_(size());
      } else {
        buffer.div_(size(), "trunc");
      }
    }
    if (!buffer.is_same(t)) t.copy_(buffer);
    return absl::OkStatus();
  }

  absl::Status RunBroadcast(const torch::Tensor& t, int root) {
    const std::string operation =
        absl::StrCat("Broadcast(", DescribeTensor(t), ", root ", root, ")");
    char* data = static_cast<char*>(t.data_ptr());
    const int64_t bytes = t.nbytes();
    for (int64_t done = 0; done < bytes; done += kMaxCount) {
      const int count = static_cast<int>(std::min(kMaxCount, bytes - done));
      RETURN_IF_ERROR(Collective(operation, "MPI_Ibcast", [&](MPI_Request* request) {
        return MPI_Ibcast(data + done, count, MPI_BYTE, root, comm_, request);
      }));
    }
    return absl::OkStatus();
  }

  absl::Status RunAllGatherBytes(const std::string& bytes, std::vector<std::string>* result) {
    const std::string operation = absl::StrCat("AllGatherBytes(", bytes.size(), " bytes)");
    const int64_t length = static_cast<int64_t>(bytes.size());
    std::vector<int64_t> lengths(size());
    RETURN_IF_ERROR(Collective(operation, "MPI_Iallgather", [&](MPI_Request* request) {
      return MPI_Iallgather(&length, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, comm_,
                            request);
    }));
    // Every rank sees the same lengths, so every rank refuses together and none is left waiting.
    std::vector<int> counts(size()), offsets(size());
    int64_t total = 0;
    for (int r = 0; r < size(); ++r) {
      offsets[r] = static_cast<int>(total);
      counts[r] = static_cast<int>(lengths[r]);
      total += lengths[r];
      if (total > INT_MAX) {
        return absl::InvalidArgumentError(
            absl::StrCat(where_, ": ", operation, ": the ranks' strings come to more than ",
                         INT_MAX, " bytes, past MPI_Allgatherv's int offsets"));
      }
    }
    std::string all(total, '\0');
    RETURN_IF_ERROR(Collective(operation, "MPI_Iallgatherv", [&](MPI_Request* request) {
      return MPI_Iallgatherv(bytes.data(), counts[rank()], MPI_BYTE, all.data(), counts.data(),
                             offsets.data(), MPI_BYTE, comm_, request);
    }));
    result->clear();
    for (int r = 0; r < size(); ++r) result->push_back(all.substr(offsets[r], counts[r]));
    return absl::OkStatus();
  }

  std::unique_ptr<MpiRuntime> runtime_;
  MPI_Comm comm_;
  MPI_Comm side_;  // the watchdog's messages, kept apart from the collectives
  const Topology topology_;
  const std::string where_;
  const std::string library_;
  MpiWatchdog watchdog_;  // used on the communication thread only
  std::unique_ptr<OperationQueue> queue_;
};

// Duplicates MPI_COMM_WORLD with MPI_ERRORS_RETURN and learns the ranks; runs before the
// communication thread starts, so this thread is still the only one calling MPI.
absl::Status SetUp(MPI_Comm* comm, MPI_Comm* side, Topology* topology) {
  const std::string host = HostName();
  auto check = [&](int rc, const char* call) {
    if (rc == MPI_SUCCESS) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat(host, ": CreateMpiCommunicator: ", call, " failed: ", MpiErrorString(rc)));
  };
  RETURN_IF_ERROR(check(MPI_Comm_dup(MPI_COMM_WORLD, comm), "MPI_Comm_dup"));
  RETURN_IF_ERROR(
      check(MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
  RETURN_IF_ERROR(check(MPI_Comm_dup(*comm, side), "MPI_Comm_dup"));
  // Open MPI reports a failed non-blocking collective from MPI_Test through MPI_COMM_WORLD's
  // handler rather than the request's communicator; without this the error would kill the
  // process instead of coming back as a Status.
  RETURN_IF_ERROR(check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN),
                        "MPI_Comm_set_errhandler(MPI_COMM_WORLD)"));
  RETURN_IF_ERROR(check(MPI_Comm_rank(*comm, &topology->rank), "MPI_Comm_rank"));
  RETURN_IF_ERROR(check(MPI_Comm_size(*comm, &topology->size), "MPI_Comm_size"));
  MPI_Comm local;
  RETURN_IF_ERROR(
      check(MPI_Comm_split_type(*comm, MPI_COMM_TYPE_SHARED, topology->rank, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)"));
  MPI_Comm_rank(local, &topology->local_rank);
  MPI_Comm_size(local, &topology->local_size);
  return check(MPI_Comm_free(&local), "MPI_Comm_free");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> CreateMpiCommunicator() {
  ASSIGN_OR_RETURN(std::unique_ptr<MpiRuntime> runtime, MpiRuntime::Acquire());
  MPI_Comm comm = MPI_COMM_NULL, side = MPI_COMM_NULL;
  Topology topology;
  absl::Status set_up = SetUp(&comm, &side, &topology);
  if (set_up.ok()) {
    set_up = CheckAgainstLauncher(
        ReadLauncherEnvironment([](const char* name) { return std::getenv(name); }), topology.rank,
        topology.size);
  }
  if (!set_up.ok()) {
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    if (side != MPI_COMM_NULL) MPI_Comm_free(&side);
    return set_up;  // runtime finalises MPI if it initialised it
  }
  return std::unique_ptr<Communicator>(
      new MpiCommunicator(std::move(runtime), comm, side, topology));
}

}  // namespace fathom::comm
