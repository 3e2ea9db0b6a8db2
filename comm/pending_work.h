// The Work every backend hands out: completed once, by whoever runs the operation.
#ifndef FATHOM_COMM_PENDING_WORK_H_
#define FATHOM_COMM_PENDING_WORK_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "comm/communicator.h"

namespace fathom::comm {

class PendingWork : public Work {
 public:
  // A Work that is already done: results of operations that need no communication, and
  // argument errors found before anything was queued.
  static std::shared_ptr<Work> Finished(absl::Status status);

  // Publishes the result and wakes every waiter. Call exactly once.
  void Complete(absl::Status status);

  absl::Status Wait() override;
  bool Done() const override;

 private:
  absl::Notification done_;
  absl::Status status_;  // written once, before done_ is notified
};

}  // namespace fathom::comm

#endif  // FATHOM_COMM_PENDING_WORK_H_
