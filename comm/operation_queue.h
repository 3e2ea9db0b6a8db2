// One thread that runs submitted operations one at a time, in submission order.
//
// Open MPI progresses a non-blocking collective only while some MPI call is running, so an
// MPI_Iallreduce started from an autograd hook would sit idle until backward ends. Running
// blocking collectives on a thread of their own overlaps them with backward instead, and
// running them in submission order keeps every rank's sequence of collectives the same.
#ifndef FATHOM_COMM_OPERATION_QUEUE_H_
#define FATHOM_COMM_OPERATION_QUEUE_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "comm/communicator.h"
#include "comm/pending_work.h"

namespace fathom::comm {

class OperationQueue {
 public:
  using Operation = std::function<absl::Status()>;

  // Starts the thread; `thread_name` (at most 15 characters) shows in debuggers and top -H.
  explicit OperationQueue(const std::string& thread_name);
  // Runs everything already submitted, then stops the thread. Dropping queued collectives
  // would leave the other ranks waiting for them.
  ~OperationQueue();
  OperationQueue(const OperationQueue&) = delete;
  OperationQueue& operator=(const OperationQueue&) = delete;

  // Queues `op` behind everything submitted before. An exception it throws becomes an
  // Internal status. Must not be called from the queue's own thread with Run().
  std::shared_ptr<Work> Submit(Operation op);
  // Submit and wait.
  absl::Status Run(Operation op);

  // Whether the caller is the queue's thread.
  bool OnQueueThread() const;

 private:
  struct Item {
    Operation op;
    std::shared_ptr<PendingWork> work;
  };
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fathom::comm

#endif  // FATHOM_COMM_OPERATION_QUEUE_H_
