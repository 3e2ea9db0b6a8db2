#include "comm/pending_work.h"

#include <utility>

namespace fathom::comm {

std::shared_ptr<Work> PendingWork::Finished(absl::Status status) {
  auto work = std::make_shared<PendingWork>();
  work->Complete(std::move(status));
  return work;
}

void PendingWork::Complete(absl::Status status) {
  status_ = std::move(status);
  done_.Notify();
}

absl::Status PendingWork::Wait() {
  done_.WaitForNotification();
  return status_;
}

bool PendingWork::Done() const { return done_.HasBeenNotified(); }

}  // namespace fathom::comm
