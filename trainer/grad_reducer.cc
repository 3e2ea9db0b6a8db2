#include "trainer/grad_reducer.h"

#include "absl/strings/str_cat.h"

namespace fathom::trainer {

GradReducer::GradReducer(std::vector<torch::Tensor> parameters, comm::Communicator* comm,
                         int64_t bucket_bytes, int64_t first_bucket_bytes)
    : parameters_(std::move(parameters)), comm_(comm), alone_(comm->size() == 1) {
  if (alone_) return;
  bucket_of_.resize(parameters_.size());
  seen_.assign(parameters_.size(), false);
  int64_t limit = std::min(first_bucket_bytes, bucket_bytes);
  Bucket current;
  int64_t bytes = 0;
  auto close = [&] {
    if (current.params.empty()) return;
    const int64_t elements = bytes / static_cast<int64_t>(sizeof(float));
    current.flat =
        torch::zeros({elements}, parameters_[current.params[0]].options().dtype(torch::kFloat));
    buckets_.push_back(std::move(current));
    current = Bucket();
    bytes = 0;
    limit = bucket_bytes;
  };
  for (size_t k = parameters_.size(); k-- > 0;) {
    const torch::Tensor& p = parameters_[k];
    if (!p.requires_grad()) continue;
    current.params.push_back(k);
    current.offsets.push_back(bytes / static_cast<int64_t>(sizeof(float)));
    bucket_of_[k] = buckets_.size();
    bytes += p.numel() * static_cast<int64_t>(sizeof(float));
    if (bytes >= limit) close();
  }
  close();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t k : buckets_[b].params) {
      // The hook sees this backward's gradient before it is accumulated into .grad.
      hooks_.emplace_back(k, parameters_[k].register_hook([this, k](const torch::Tensor& grad) {
        OnGradient(k, grad);
        return grad;
      }));
    }
  }
  Reset();
}

GradReducer::~GradReducer() {
  for (const auto& [k, handle] : hooks_) parameters_[k].remove_hook(handle);
}

void GradReducer::Reset() {
  for (auto& bucket : buckets_) {
    bucket.pending = static_cast<int>(bucket.params.size());
    bucket.launched = false;
    bucket.work.reset();
  }
  std::fill(seen_.begin(), seen_.end(), false);
  next_launch_ = 0;
}

void GradReducer::OnGradient(size_t param, const torch::Tensor& grad) {
  if (!sync_ || seen_[param]) return;
  seen_[param] = true;
  Bucket& bucket = buckets_[bucket_of_[param]];
  size_t slot = 0;
  while (bucket.params[slot] != param) ++slot;
  torch::NoGradGuard no_grad;
  torch::Tensor view = bucket.flat.narrow(0, bucket.offsets[slot], grad.numel()).view_as(grad);
  // Earlier micro-batches of this update accumulated into .grad without communicating; the
  // autograd engine adds `grad` to .grad after this hook, and Finish() overwrites .grad with the
  // reduced sum of both.
  const torch::Tensor& accumulated = parameters_[param].grad();
  if (accumulated.defined()) {
    torch::add_out(view, accumulated.to(torch::kFloat), grad.to(torch::kFloat));
  } else {
    view.copy_(grad);
  }
  --bucket.pending;
  LaunchReady(/*from_hook=*/true);
}

void GradReducer::LaunchReady(bool from_hook) {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& bucket = buckets_[next_launch_];
    bucket.work = comm_->AllReduceAsync(bucket.flat, comm::ReduceOp::kSum);
    bucket.launched = true;
    if (from_hook) ++launched_during_backward_;
    ++next_launch_;
  }
}

absl::Status GradReducer::Finish() {
  if (!sync_) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  if (alone_) {
    for (torch::Tensor& p : parameters_) {
      if (p.requires_grad() && !p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
    return absl::OkStatus();
  }
  // Parameters that took no part in this backward contribute their accumulated gradient, or 0.
  for (auto& bucket : buckets_) {
    for (size_t slot = 0; slot < bucket.params.size(); ++slot) {
      const size_t k = bucket.params[slot];
      if (seen_[k]) continue;
      seen_[k] = true;
      torch::Tensor view = bucket.flat.narrow(0, bucket.offsets[slot], parameters_[k].numel());
      const torch::Tensor& accumulated = parameters_[k].grad();
      if (accumulated.defined()) {
        view.copy_(accumulated.reshape({-1}));
      } else {
        view.zero_();
      }
      --bucket.pending;
    }
  }
  LaunchReady(/*from_hook=*/false);
  last_launched_during_backward_ = launched_during_backward_;
  launched_during_backward_ = 0;
  absl::Status status;
  for (auto& bucket : buckets_) {
    // Device-ordered: on CUDA the copies below (and the optimiser) run after the reductions
    // without the host waiting; on CPU that is Wait() anyway.
    absl::Status waited = device_ordered_ ? bucket.work->WaitOnDevice() : bucket.work->Wait();
    if (!waited.ok() && status.ok()) status = waited;
  }
  if (status.ok()) {
    for (auto& bucket : buckets_) {
      for (size_t slot = 0; slot < bucket.params.size(); ++slot) {
        torch::Tensor& p = parameters_[bucket.params[slot]];
        torch::Tensor reduced = bucket.flat.narrow(0, bucket.offsets[slot], p.numel()).view_as(p);
        if (p.grad().defined()) {
          p.mutable_grad().copy_(reduced);
        } else {
          p.mutable_grad() = reduced.to(p.scalar_type()).clone();
        }
      }
    }
  }
  Reset();
  return status;
}

}  // namespace fathom::trainer
