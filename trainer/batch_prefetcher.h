// Training batches built ahead of the step (data.batch.prefetch): a background thread runs its
// own copy of the batcher a few batches ahead of the trainer, reads and pads each batch and, on
// CUDA, puts it in page-locked memory and copies it to the device on a stream of its own, so the
// step never waits for the host to make its next batch.
//
// The trainer's batcher stays the source of truth: it moves only by the batches the step takes
// (so checkpoints save the position of consumed batches, never of prefetched ones), and the
// prefetcher serves the batch at that position, exactly the one Batcher::Next would yield there.
// When the trainer's batcher was moved elsewhere (Restore: resuming, the initialisation passes'
// look-ahead), the batches built ahead are dropped and the thread restarts at the new position.
#ifndef FATHOM_TRAINER_BATCH_PREFETCHER_H_
#define FATHOM_TRAINER_BATCH_PREFETCHER_H_

#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "data/batch.h"
#include "data/batcher.h"
#include "trainer/device_batch.h"

namespace fathom::trainer {

// Builds the host batch of a plan (reads the shard, pads, expands relations). Runs on the
// prefetch thread while the trainer runs: it may only read state nothing changes meanwhile (the
// memory-mapped shard and relations are read-only). May throw; the error reaches Take().
using HostBatchBuilder = std::function<data::Batch(const data::BatchPlan&)>;

class BatchPrefetcher {
 public:
  // Keeps `batcher` (a copy of the trainer's, whose position does not matter) and builds up to
  // `depth` >= 1 batches ahead for `device`. The thread starts at the first Take().
  BatchPrefetcher(data::Batcher batcher, int depth, torch::Device device, HostBatchBuilder build);
  // Stops the thread and joins it (it finishes the batch it is building first), also while
  // batches are pending or after an error.
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // The batch at `position` on the device, usable on the caller's current CUDA stream (which
  // waits on the copy's event; nothing waits on the host), and in *next the position after it.
  // Batches built ahead for another position are dropped and the thread restarted there.
  // Throws std::runtime_error naming the batch's position and the cause when building it failed
  // on the thread (a later Take at that position tries again).
  DeviceBatch Take(const data::BatcherPosition& position, data::BatcherPosition* next);

  int depth() const { return depth_; }
  // Times the thread was (re)started: 1 after a run that was never restored elsewhere.
  int starts() const { return starts_; }

 private:
  struct Item;       // one batch built ahead, or the error of building it
  struct CudaState;  // the copy stream (CUDA builds only)

  void Loop();  // the thread's body
  void Upload(const data::Batch& batch, Item* item);
  void Restart(const data::BatcherPosition& position);
  void Stop();

  data::Batcher batcher_;  // the thread's own; touched by Restart only while no thread runs
  const int depth_;
  const torch::Device device_;
  const HostBatchBuilder build_;
  std::unique_ptr<CudaState> cuda_;

  std::mutex mutex_;
  std::condition_variable ready_;  // an item was queued
  std::condition_variable room_;   // an item was taken, or stop_ was set
  std::deque<std::unique_ptr<Item>> queue_;
  bool stop_ = false;
  std::thread thread_;
  // The position of the queue's first batch; empty until started and after an error.
  std::optional<data::BatcherPosition> expected_;
  int starts_ = 0;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_BATCH_PREFETCHER_H_
