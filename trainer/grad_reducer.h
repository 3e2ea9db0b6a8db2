// Sums gradients across ranks in buckets launched from autograd hooks, so communication
// overlaps the rest of backward (as PyTorch DDP does). Buckets hold parameters in reverse
// registration order, roughly the order backward produces their gradients; the first bucket
// is small so the first all-reduce starts early. Buckets are launched strictly in index order,
// which keeps every rank's sequence of collectives identical.
#ifndef FATHOM_TRAINER_GRAD_REDUCER_H_
#define FATHOM_TRAINER_GRAD_REDUCER_H_

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"

namespace fathom::trainer {

class GradReducer {
 public:
  // `parameters` in registration order; they must outlive the reducer.
  GradReducer(std::vector<torch::Tensor> parameters, comm::Communicator* comm, int64_t bucket_bytes,
              int64_t first_bucket_bytes = 1 << 20);
  // Removes the gradient hooks: the parameters (the model) may outlive the reducer, and a later
  // backward must not call into it.
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;  // the hooks hold `this`
  GradReducer& operator=(const GradReducer&) = delete;

  // Whether the next backward communicates. Off for the inner micro-batches of gradient
  // accumulation: their gradients just accumulate locally in .grad.
  void set_sync(bool sync) { sync_ = sync; }
  // Whether Finish() orders the copies out of the buckets after the reductions on the device
  // (comm::Work::WaitOnDevice: no host wait on CUDA) instead of waiting for them on the host,
  // which watches the collective deadline. Off by default; see StepOptions.
  void set_device_ordered(bool ordered) { device_ordered_ = ordered; }

  // Called after backward: launches any bucket not yet launched (parameters that got no
  // gradient contribute zeros), waits for all, and writes the sums into each parameter's .grad.
  // With one rank there is nothing to sum: no buckets, no hooks, no copies; parameters that got
  // no gradient get zeros, as they would from the others.
  absl::Status Finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Instrumentation: how many buckets were launched from hooks, i.e. while backward was still
  // running, in the last synchronised backward.
  int launched_during_backward() const { return last_launched_during_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;    // indices into parameters_
    std::vector<int64_t> offsets;  // element offset of each param in `flat`
    torch::Tensor flat;
    int pending = 0;
    bool launched = false;
    std::shared_ptr<comm::Work> work;
  };
  void OnGradient(size_t param, const torch::Tensor& grad);
  void LaunchReady(bool from_hook);
  void Reset();

  std::vector<torch::Tensor> parameters_;
  comm::Communicator* comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;                   // param index -> bucket
  std::vector<bool> seen_;                          // param got its gradient in this backward
  std::vector<std::pair<size_t, unsigned>> hooks_;  // (param index, hook handle)
  size_t next_launch_ = 0;
  bool sync_ = true;
  bool device_ordered_ = false;
  int launched_during_backward_ = 0;
  int last_launched_during_backward_ = 0;
  bool alone_ = false;  // one rank
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_GRAD_REDUCER_H_
