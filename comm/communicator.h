// The seam between the trainer and whatever moves tensors between ranks (MPI on CPU, later
// NCCL on GPU, nothing at all in a 1-rank run). Knows tensors and ranks, never models.
//
// Contract for every implementation with more than one rank:
//   * Collectives match across ranks: every rank issues the same operations, in the same order,
//     with tensors of the same shape and dtype (and the same root). An operation one rank skips
//     leaves the others blocked. Issue them from one thread per rank (e.g. the training loop and
//     the autograd hooks it runs), or order them yourself.
//   * Operations run in the order they were issued, asynchronous or not: a synchronous call
//     returns after every operation issued before it has finished too.
//   * A tensor handed to an asynchronous operation belongs to the communicator until its Work is
//     done: do not read or write it before Wait() (or Done()) says so, or, for CUDA tensors,
//     from work queued on the caller's current stream after WaitOnDevice().
//   * Errors are absl::Status naming the rank, the host and the operation. Arguments a rank can
//     check alone (contiguity, dtype, root) fail before anything is sent, on that rank only.
#ifndef FATHOM_COMM_COMMUNICATOR_H_
#define FATHOM_COMM_COMMUNICATOR_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fathom::comm {

enum class ReduceOp {
  kSum,
  kMax,
  // Sum divided by size(). Integer tensors truncate toward zero, as C++ integer division does.
  kAvg,
};
const char* ReduceOpName(ReduceOp op);

// Completion handle of an asynchronous operation; safe to use from any thread.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the operation has finished and returns its result; may be called repeatedly.
  virtual absl::Status Wait() = 0;
  // Whether the operation has finished, successfully or not. Never blocks.
  virtual bool Done() const = 0;
  // Orders what the caller queues next on its current CUDA stream after the operation, without
  // blocking the host: a training step's way to use a reduction's result with no device
  // synchronisation. Returns the failures known so far; a later one (a rank that never
  // arrives) is reported by the next Wait(), which still watches the collective deadline, so
  // call Wait() before reading results on the host. Operations on host memory have no stream
  // to order: for them this is Wait().
  virtual absl::Status WaitOnDevice() { return Wait(); }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  // This process's rank among size() ranks, and among the local_size() ranks on its host (the
  // one to pick a device with).
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;

  // Reduces `t` over all ranks, in place. `t` must be contiguous; dtypes: float32, float64,
  // bfloat16, float16 (reduced through a float32 copy), int32, int64.
  virtual absl::Status AllReduce(torch::Tensor& t, ReduceOp op) = 0;
  // As AllReduce, but returns at once; the result is in `t` when the Work is done. Argument
  // errors come back through the Work.
  virtual std::shared_ptr<Work> AllReduceAsync(torch::Tensor t, ReduceOp op) = 0;
  // Copies root's `t` into every rank's `t` (any dtype, contiguous, same shape everywhere).
  virtual absl::Status Broadcast(torch::Tensor& t, int root) = 0;

  // Every rank's value, indexed by rank. For small per-rank facts (counts, flags, timings).
  virtual absl::StatusOr<std::vector<int64_t>> AllGather(int64_t value) = 0;
  virtual absl::StatusOr<std::vector<double>> AllGather(double value) = 0;
  // An int would be ambiguous between the two above.
  absl::StatusOr<std::vector<int64_t>> AllGather(int value) {
    return AllGather(static_cast<int64_t>(value));
  }
  // Every rank's bytes, indexed by rank; lengths may differ between ranks.
  virtual absl::StatusOr<std::vector<std::string>> AllGatherBytes(const std::string& bytes) = 0;

  // Returns once every rank has entered it.
  virtual absl::Status Barrier() = 0;

  // A collective that has not finished after `timeout` ends the whole job, naming the ranks that
  // never arrived (a dead or stalled peer must not hang the others). InfiniteDuration() (the
  // default) waits forever. Applies to operations issued afterwards.
  virtual void SetTimeout(absl::Duration timeout) = 0;

  // One line for logs: backend, rank and size, local rank, host.
  virtual std::string Describe() const = 0;
};

}  // namespace fathom::comm

#endif  // FATHOM_COMM_COMMUNICATOR_H_
