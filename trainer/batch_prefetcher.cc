#include "trainer/batch_prefetcher.h"

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#if FATHOM_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fathom::trainer {
namespace {

bool SamePosition(const data::BatcherPosition& a, const data::BatcherPosition& b) {
  return a.epoch == b.epoch && a.index == b.index;
}

std::string Describe(const data::BatcherPosition& position) {
  return absl::StrCat("batch ", position.index, " of epoch ", position.epoch);
}

}  // namespace

struct BatchPrefetcher::Item {
  data::BatcherPosition position;
  data::BatcherPosition next;
  DeviceBatch batch;
  std::string error;  // non-empty: building the batch failed, and the thread has stopped
#if FATHOM_TORCH_CUDA
  DeviceBatch host;  // the page-locked source of the copies, kept until the batch is taken
  std::unique_ptr<at::cuda::CUDAEvent> copied;  // recorded after the copies, on the copy stream
#endif
};

#if FATHOM_TORCH_CUDA
struct BatchPrefetcher::CudaState {
  c10::DeviceIndex device;
  c10::cuda::CUDAStream stream;  // the copies' own stream, so they overlap the step's kernels
};
#else
struct BatchPrefetcher::CudaState {};
#endif

BatchPrefetcher::BatchPrefetcher(data::Batcher batcher, int depth, torch::Device device,
                                 HostBatchBuilder build)
    : batcher_(std::move(batcher)), depth_(depth), device_(device), build_(std::move(build)) {
  TORCH_CHECK(depth_ >= 1, "BatchPrefetcher: depth must be >= 1, got ", depth_);
  if (device_.is_cuda()) {
#if FATHOM_TORCH_CUDA
    const c10::DeviceIndex index =
        device_.has_index() ? device_.index() : c10::cuda::current_device();
    cuda_ = std::make_unique<CudaState>(
        CudaState{index, c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index)});
#else
    TORCH_CHECK(false, "BatchPrefetcher: ", device_, " in a build without CUDA");
#endif
  }
}

BatchPrefetcher::~BatchPrefetcher() { Stop(); }

void BatchPrefetcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchPrefetcher::Restart(const data::BatcherPosition& position) {
  Stop();
  // No thread runs now: the queue and the batcher are the caller's alone.
  queue_.clear();
  expected_.reset();
  stop_ = false;
  const absl::Status restored = batcher_.Restore(position);
  if (!restored.ok()) {
    throw std::runtime_error(absl::StrCat("data.batch.prefetch: ", restored.message()));
  }
  expected_ = position;
  ++starts_;
  thread_ = std::thread(&BatchPrefetcher::Loop, this);
}

void BatchPrefetcher::Upload(const data::Batch& batch, Item* item) {
#if FATHOM_TORCH_CUDA
  if (cuda_) {
    const c10::cuda::CUDAGuard device_guard(cuda_->device);
    const c10::cuda::CUDAStreamGuard stream_guard(cuda_->stream);
    item->host = ToHost(batch, /*pinned=*/true);
    item->batch = CopyTo(item->host, device_, /*non_blocking=*/true);
    item->copied = std::make_unique<at::cuda::CUDAEvent>();
    item->copied->record(cuda_->stream);
    return;
  }
#endif
  item->batch = ToHost(batch, /*pinned=*/false);
}

void BatchPrefetcher::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      room_.wait(lock, [this] { return stop_ || static_cast<int>(queue_.size()) < depth_; });
      if (stop_) return;
    }
    auto item = std::make_unique<Item>();
    item->position = batcher_.position();
    try {
      data::BatchPlan plan;
      batcher_.Next(&plan);
      item->next = batcher_.position();
      Upload(build_(plan), item.get());
    } catch (const std::exception& e) {
      item->error = e.what();
    } catch (...) {
      item->error = "unknown exception";
    }
    const bool failed = !item->error.empty();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(item));
    }
    ready_.notify_all();
    if (failed) return;
  }
}

DeviceBatch BatchPrefetcher::Take(const data::BatcherPosition& position,
                                  data::BatcherPosition* next) {
  bool restart;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    restart = !expected_.has_value() || !SamePosition(*expected_, position);
  }
  if (restart) Restart(position);
  std::unique_ptr<Item> item;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return !queue_.empty(); });
    item = std::move(queue_.front());
    queue_.pop_front();
    // After an error the thread has stopped: the next Take restarts it.
    if (item->error.empty()) {
      expected_ = item->next;
    } else {
      expected_.reset();
    }
  }
  room_.notify_all();
  if (!item->error.empty()) {
    throw std::runtime_error(absl::StrCat("data.batch.prefetch: building training ",
                                          Describe(item->position),
                                          " failed on the prefetch thread: ", item->error));
  }
  *next = item->next;
#if FATHOM_TORCH_CUDA
  if (item->copied) {
    // The caller's stream waits for the copies on the device; the host does not wait. The
    // allocator must not hand the batch's memory to the copy stream again before the caller's
    // stream is done with it.
    const c10::cuda::CUDAStream consumer = c10::cuda::getCurrentCUDAStream(cuda_->device);
    item->copied->block(consumer);
    for (const torch::Tensor* t : {&item->batch.source, &item->batch.target_input,
                                   &item->batch.target_output, &item->batch.relations}) {
      if (t->defined()) t->record_stream(consumer);
    }
  }
#endif
  return std::move(item->batch);
}

}  // namespace fathom::trainer
