#include "comm/nccl_communicator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "comm/device_selection.h"
#include "comm/mpi_communicator.h"
#include "comm/pending_work.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {
namespace {

std::string NcclVersionString() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "NCCL (unknown version)";
  // NCCL encodes 2.8.x and older as 2804, later versions as 21903.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? (code / 100) % 100 : (code / 100) % 10;
  return absl::StrCat("NCCL ", major, ".", minor, ".", code % 100);
}

bool ReducedThroughFloat(torch::ScalarType type) {
  // Summing 16-bit floats in float32 and rounding once keeps every backend's results identical.
  return type == torch::kBFloat16 || type == torch::kHalf;
}

ncclDataType_t NcclType(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kInt:
      return ncclInt32;
    case torch::kLong:
      return ncclInt64;
    default:
      return ncclUint8;  // byte copies (Broadcast); reductions are limited by CheckReducibleDtype
  }
}

// An event without timing, which is cheaper to record and query.
class CudaEvent {
 public:
  CudaEvent() = default;
  ~CudaEvent() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  cudaError_t Create() { return cudaEventCreateWithFlags(&event_, cudaEventDisableTiming); }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// What the communicator and its Works share, so a Work can still be waited on after the
// communicator is gone.
struct NcclState {
  NcclState(ncclComm_t c, std::string w) : comm(c), where(std::move(w)) {}

  absl::Mutex mu;
  // Null once destroyed or aborted.
  ncclComm_t comm ABSL_GUARDED_BY(mu);
  // The first failure that broke the communicator; every later operation returns it.
  absl::Status failure ABSL_GUARDED_BY(mu);
  // How long one wait may last before the communicator is aborted.
  absl::Duration timeout ABSL_GUARDED_BY(mu) = absl::InfiniteDuration();
  const std::string where;

  absl::Duration Timeout() ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    return timeout;
  }

  // Any asynchronous NCCL error (a peer died, a network failure) aborts the communicator: its
  // operations would otherwise never complete.
  absl::Status CheckAsync(const std::string& operation) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    if (!failure.ok()) return failure;
    if (comm == nullptr) return absl::OkStatus();
    ncclResult_t async = ncclSuccess;
    ncclResult_t queried = ncclCommGetAsyncError(comm, &async);
    if (queried != ncclSuccess) async = queried;
    if (async == ncclSuccess) return absl::OkStatus();
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
    // Non-blocking communicators report work still in progress this way; it is not an error.
    if (async == ncclInProgress) return absl::OkStatus();
#endif
    AbortLocked(absl::InternalError(absl::StrCat(
        where, ": ", operation, ": NCCL failed: ", ncclGetErrorString(async), LastErrorLocked())));
    return failure;
  }

  void Abort(absl::Status why) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    AbortLocked(std::move(why));
  }

  void AbortLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (failure.ok()) failure = std::move(why);
    if (comm != nullptr) ncclCommAbort(comm);
    comm = nullptr;
  }

  // NCCL's own explanation of the last failure, when this NCCL has one (2.13 and later).
  std::string LastErrorLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
    const char* detail = ncclGetLastError(comm);
    if (detail != nullptr && detail[0] != '\0') return absl::StrCat(" (", detail, ")");
#endif
    return "";
  }
};

absl::Status CudaError(const std::string& where, const std::string& operation, const char* call,
                       cudaError_t error) {
  return absl::InternalError(
      absl::StrCat(where, ": ", operation, ": ", call, " failed: ", cudaGetErrorString(error)));
}

// Blocks until `event` has fired, watching for NCCL's asynchronous errors meanwhile, and aborts
// the communicator once the state's timeout has passed.
absl::Status WaitForEvent(NcclState& state, cudaEvent_t event, const std::string& operation) {
  const absl::Time start = absl::Now();
  const absl::Duration timeout = state.Timeout();
  for (int polls = 0;; ++polls) {
    const cudaError_t queried = cudaEventQuery(event);
    if (queried == cudaSuccess) return absl::OkStatus();
    if (queried != cudaErrorNotReady)
      return CudaError(state.where, operation, "cudaEventQuery", queried);
    // cudaErrorNotReady is recorded as the thread's last error; LibTorch's next CUDA check
    // would report it as its own failure.
    (void)cudaGetLastError();
    RETURN_IF_ERROR(state.CheckAsync(operation));
    if (absl::Now() - start > timeout) {
      state.Abort(absl::DeadlineExceededError(absl::StrCat(
          state.where, ": ", operation, ": not finished after ", absl::FormatDuration(timeout),
          "; another rank probably stopped issuing collectives or died (see its log). NCCL "
          "communicator aborted")));
      RETURN_IF_ERROR(state.CheckAsync(operation));
    }
    // Spin briefly (most collectives finish within microseconds of being waited on), then back
    // off so a long wait does not take a core from the data loader.
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      absl::SleepFor(absl::Microseconds(50));
    }
  }
}

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<NcclState> state, std::shared_ptr<CudaEvent> done, torch::Tensor tensor,
           std::string operation)
      : state_(std::move(state)),
        done_(std::move(done)),
        tensor_(std::move(tensor)),
        operation_(std::move(operation)) {}

  absl::Status Wait() override {
    absl::MutexLock lock(&mu_);
    if (!finished_) {
      status_ = WaitForEvent(*state_, done_->get(), operation_);
      finished_ = true;
      tensor_ = torch::Tensor();  // the caller owns it again
    }
    return status_;
  }

  absl::Status WaitOnDevice() override {
    absl::MutexLock lock(&mu_);
    if (finished_) return status_;
    RETURN_IF_ERROR(state_->CheckAsync(operation_));
    try {
      // The tensor's memory stays reserved for NCCL's stream (recordStream at enqueue), so the
      // caller may drop it; its next kernels on this stream run after the collective.
      const cudaStream_t caller =
          c10::cuda::getCurrentCUDAStream(tensor_.device().index()).stream();
      const cudaError_t error = cudaStreamWaitEvent(caller, done_->get(), 0);
      if (error != cudaSuccess) {
        return CudaError(state_->where, operation_, "cudaStreamWaitEvent", error);
      }
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(state_->where, ": ", operation_, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  bool Done() const override {
    absl::MutexLock lock(&mu_);
    if (finished_) return true;
    const cudaError_t queried = cudaEventQuery(done_->get());
    if (queried == cudaErrorNotReady) {
      (void)cudaGetLastError();
      absl::MutexLock state_lock(&state_->mu);
      return !state_->failure.ok();  // Wait() returns the failure at once
    }
    return true;  // fired, or an error that Wait() reports
  }

 private:
  const std::shared_ptr<NcclState> state_;
  const std::shared_ptr<CudaEvent> done_;
  mutable absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  torch::Tensor tensor_ ABSL_GUARDED_BY(mu_);  // kept alive until the operation is over
  const std::string operation_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, ncclComm_t comm, torch::Device device,
                   c10::cuda::CUDAStream stream)
      : host_(std::move(host)),
        device_(device),
        stream_(stream),
        where_(
            RankLabel(host_->rank(), host_->size(), absl::StrCat(HostName(), ", ", device.str()))),
        state_(std::make_shared<NcclState>(comm, where_)),
        version_(NcclVersionString()) {}

  ~NcclCommunicator() override {
    // The other ranks wait for what was issued here: finish it, then free NCCL before MPI.
    const absl::Status drained = DrainNccl("~NcclCommunicator");
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->comm != nullptr) {
        if (drained.ok()) {
          ncclCommDestroy(state_->comm);
        } else {
          ncclCommAbort(state_->comm);
        }
        state_->comm = nullptr;
      }
      if (state_->failure.ok()) {
        state_->failure = absl::FailedPreconditionError(
            absl::StrCat(where_, ": the NCCL communicator was destroyed"));
      }
    }
    host_.reset();
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  int local_rank() const override { return host_->local_rank(); }
  int local_size() const override { return host_->local_size(); }

  absl::Status AllReduce(torch::Tensor& t, ReduceOp op) override {
    if (t.defined() && t.device().is_cpu()) {
      RETURN_IF_ERROR(DrainNccl("AllReduce"));
      return host_->AllReduce(t, op);
    }
    return AllReduceAsync(t, op)->Wait();
  }

  std::shared_ptr<Work> AllReduceAsync(torch::Tensor t, ReduceOp op) override {
    if (t.defined() && t.device().is_cpu()) {
      // CPU tensors are rare here (loss sums, flags): reduced at once, which keeps the order.
      absl::Status drained = DrainNccl("AllReduce");
      if (!drained.ok()) return PendingWork::Finished(std::move(drained));
      return PendingWork::Finished(host_->AllReduce(t, op));
    }
    const std::string operation =
        absl::StrCat("AllReduce(", DescribeTensor(t), ", ", ReduceOpName(op), ")");
    absl::Status arguments = CheckCudaTensor(t, "AllReduce");
    if (arguments.ok()) arguments = CheckReducibleDtype(t, "AllReduce", where_);
    if (!arguments.ok()) return PendingWork::Finished(std::move(arguments));
    const int ranks = size();
    return Enqueue(t, operation, [&](ncclComm_t comm, cudaStream_t stream) -> absl::Status {
      const torch::NoGradGuard no_grad;  // parameters may be reduced in place
      const torch::Tensor buffer = ReducedThroughFloat(t.scalar_type()) ? t.to(torch::kFloat) : t;
      RETURN_IF_ERROR(CheckNccl(
          ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                        NcclType(buffer.scalar_type()), op == ReduceOp::kMax ? ncclMax : ncclSum,
                        comm, stream),
          operation, "ncclAllReduce"));
      if (op == ReduceOp::kAvg) {
        if (buffer.is_floating_point()) {
          buffer.div_(ranks);
        } else {
          buffer.div_(ranks, "trunc");
        }
      }
      if (!buffer.is_same(t)) t.copy_(buffer);
      return absl::OkStatus();
    });
  }

  absl::Status Broadcast(torch::Tensor& t, int root) override {
    if (t.defined() && t.device().is_cpu()) {
      RETURN_IF_ERROR(DrainNccl("Broadcast"));
      return host_->Broadcast(t, root);
    }
    RETURN_IF_ERROR(CheckCudaTensor(t, "Broadcast"));
    RETURN_IF_ERROR(CheckRoot(root, size(), "Broadcast", where_));
    const std::string operation =
        absl::StrCat("Broadcast(", DescribeTensor(t), ", root ", root, ")");
    return Enqueue(t, operation,
                   [&](ncclComm_t comm, cudaStream_t stream) {
                     return CheckNccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.nbytes(),
                                                    ncclUint8, root, comm, stream),
                                      operation, "ncclBroadcast");
                   })
        ->Wait();
  }

  using Communicator::AllGather;
  absl::StatusOr<std::vector<int64_t>> AllGather(int64_t value) override {
    RETURN_IF_ERROR(DrainNccl("AllGather(int64)"));
    return host_->AllGather(value);
  }

  absl::StatusOr<std::vector<double>> AllGather(double value) override {
    RETURN_IF_ERROR(DrainNccl("AllGather(double)"));
    return host_->AllGather(value);
  }

  absl::StatusOr<std::vector<std::string>> AllGatherBytes(const std::string& bytes) override {
    RETURN_IF_ERROR(DrainNccl("AllGatherBytes"));
    return host_->AllGatherBytes(bytes);
  }

  absl::Status Barrier() override {
    RETURN_IF_ERROR(DrainNccl("Barrier"));
    return host_->Barrier();
  }

  // The MPI side aborts the job itself when its deadline passes; an NCCL wait that passes it
  // aborts the NCCL communicator and returns DeadlineExceeded, and the rank's exit ends the job.
  void SetTimeout(absl::Duration timeout) override {
    host_->SetTimeout(timeout);
    absl::MutexLock lock(&state_->mu);
    state_->timeout = timeout;
  }

  std::string Describe() const override {
    return absl::StrCat("NCCL communicator (", version_, "), ", where_, ", local rank ",
                        local_rank(), " of ", local_size(), "; host values over the ",
                        host_->Describe());
  }

 private:
  using Body = std::function<absl::Status(ncclComm_t, cudaStream_t)>;

  absl::Status CheckCudaTensor(const torch::Tensor& t, const char* operation) const {
    RETURN_IF_ERROR(CheckTensor(t, operation, where_, /*cpu_only=*/false));
    if (t.device() != device_) {
      return absl::InvalidArgumentError(
          absl::StrCat(where_, ": ", operation, ": ", DescribeTensor(t), " is on ",
                       t.device().str(), "; this communicator moves tensors on ", device_.str()));
    }
    return absl::OkStatus();
  }

  absl::Status CheckNccl(ncclResult_t result, const std::string& operation, const char* call) {
    if (result == ncclSuccess) return absl::OkStatus();
    std::string detail;
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
    const char* last = ncclGetLastError(nullptr);
    if (last != nullptr && last[0] != '\0') detail = absl::StrCat(" (", last, ")");
#endif
    return absl::InternalError(absl::StrCat(where_, ": ", operation, ": ", call,
                                            " failed: ", ncclGetErrorString(result), detail));
  }

  // Queues `body` on the NCCL stream behind what the caller's current stream has queued, and
  // returns the Work that completes with it. `t` belongs to the operation until then.
  std::shared_ptr<Work> Enqueue(const torch::Tensor& t, const std::string& operation,
                                const Body& body) {
    // One NCCL call at a time, in issue order: autograd hooks (on LibTorch's device thread) and
    // the training loop may both issue.
    absl::MutexLock lock(&enqueue_mu_);
    absl::StatusOr<std::shared_ptr<CudaEvent>> done = EnqueueLocked(t, operation, body);
    if (!done.ok()) {
      if (!absl::IsInvalidArgument(done.status())) state_->Abort(done.status());
      return PendingWork::Finished(done.status());
    }
    last_done_ = *done;
    return std::make_shared<NcclWork>(state_, *std::move(done), t, operation);
  }

  absl::StatusOr<std::shared_ptr<CudaEvent>> EnqueueLocked(const torch::Tensor& t,
                                                           const std::string& operation,
                                                           const Body& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(enqueue_mu_) {
    try {
      const c10::cuda::CUDAGuard device_guard(device_);
      const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream(device_.index());
      CudaEvent ready;
      cudaError_t error = ready.Create();
      if (error == cudaSuccess) error = cudaEventRecord(ready.get(), caller.stream());
      if (error == cudaSuccess) error = cudaStreamWaitEvent(stream_.stream(), ready.get(), 0);
      if (error != cudaSuccess)
        return CudaError(where_, operation, "ordering after the caller's stream", error);
      // The caller may drop `t` before NCCL is done with it; the caching allocator then keeps
      // its memory until this stream has passed this point.
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), stream_);
      {
        absl::MutexLock state_lock(&state_->mu);
        if (!state_->failure.ok()) return state_->failure;
        // Conversions and divisions in `body` run on the NCCL stream too, in order.
        const c10::cuda::CUDAStreamGuard stream_guard(stream_);
        RETURN_IF_ERROR(body(state_->comm, stream_.stream()));
      }
      auto done = std::make_shared<CudaEvent>();
      error = done->Create();
      if (error == cudaSuccess) error = cudaEventRecord(done->get(), stream_.stream());
      if (error != cudaSuccess) return CudaError(where_, operation, "cudaEventRecord", error);
      return done;
    } catch (const std::exception& e) {
      // LibTorch reports allocation and CUDA failures as exceptions.
      return absl::InternalError(absl::StrCat(where_, ": ", operation, ": ", e.what()));
    }
  }

  // Waits for every NCCL operation issued so far: what an MPI operation issued after them must
  // do to keep communicator.h's order.
  absl::Status DrainNccl(const std::string& operation) {
    std::shared_ptr<CudaEvent> last;
    {
      absl::MutexLock lock(&enqueue_mu_);
      last = last_done_;
    }
    if (last == nullptr) return state_->CheckAsync(operation);
    return WaitForEvent(*state_, last->get(), operation);
  }

  std::unique_ptr<Communicator> host_;
  const torch::Device device_;
  const c10::cuda::CUDAStream stream_;
  const std::string where_;
  const std::shared_ptr<NcclState> state_;
  const std::string version_;
  absl::Mutex enqueue_mu_;
  std::shared_ptr<CudaEvent> last_done_ ABSL_GUARDED_BY(enqueue_mu_);
};

absl::Status NcclSetUpError(const std::string& where, const char* call, ncclResult_t result) {
  return absl::InternalError(absl::StrCat(where, ": CreateNcclCommunicator: ", call,
                                          " failed: ", ncclGetErrorString(result)));
}

// Every rank learns whether every rank's local step succeeded, so that one rank's failure
// stops all of them here instead of leaving the others waiting in the next collective.
absl::Status AgreeOnSetUp(Communicator& host, const std::string& where, const absl::Status& local,
                          const char* step) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ok, host.AllGather(int64_t{local.ok() ? 1 : 0}));
  if (!local.ok()) return local;
  for (size_t r = 0; r < ok.size(); ++r) {
    if (ok[r] == 0) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": CreateNcclCommunicator: rank ", r,
                                                        " failed to ", step,
                                                        " (its log says why); not starting NCCL"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool NcclBackendBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator() {
  ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host, CreateMpiCommunicator());
  const std::string where = RankLabel(host->rank(), host->size(), HostName());

  absl::StatusOr<torch::Device> device = SelectDevice(
      "cuda", host->local_rank(), host->local_size(), static_cast<int>(c10::cuda::device_count()));
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  absl::Status local = device.status();
  if (!local.ok()) {
    local = absl::Status(local.code(), absl::StrCat(where, ": ", local.message()));
  } else if (host->rank() == 0) {
    const ncclResult_t made = ncclGetUniqueId(&id);
    if (made != ncclSuccess) local = NcclSetUpError(where, "ncclGetUniqueId", made);
  }
  RETURN_IF_ERROR(AgreeOnSetUp(*host, where, local, "pick its GPU or make the NCCL unique id"));

  torch::Tensor id_bytes = torch::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, torch::kByte);
  RETURN_IF_ERROR(host->Broadcast(id_bytes, 0));

  ncclComm_t comm = nullptr;
  std::optional<c10::cuda::CUDAStream> stream;
  try {
    const c10::cuda::CUDAGuard device_guard(*device);
    const ncclResult_t initialised = ncclCommInitRank(&comm, host->size(), id, host->rank());
    if (initialised != ncclSuccess) {
      local =
          NcclSetUpError(absl::StrCat(where, ", ", device->str()), "ncclCommInitRank", initialised);
      comm = nullptr;
    } else {
      stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device->index());
    }
  } catch (const std::exception& e) {
    local = absl::InternalError(
        absl::StrCat(where, ", ", device->str(), ": CreateNcclCommunicator: ", e.what()));
  }
  absl::Status agreed = AgreeOnSetUp(*host, where, local, "initialise NCCL");
  if (!agreed.ok()) {
    if (comm != nullptr) ncclCommAbort(comm);
    return agreed;
  }
  return std::unique_ptr<Communicator>(
      new NcclCommunicator(std::move(host), comm, *device, *stream));
}

}  // namespace fathom::comm
