#include "comm/operation_queue.h"

#include <pthread.h>

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fathom::comm {

OperationQueue::OperationQueue(const std::string& thread_name) {
  thread_ = std::thread([this] { Loop(); });
  // Best effort: a name longer than 15 characters is refused, which changes nothing else.
  pthread_setname_np(thread_.native_handle(), thread_name.substr(0, 15).c_str());
}

OperationQueue::~OperationQueue() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

std::shared_ptr<Work> OperationQueue::Submit(Operation op) {
  auto work = std::make_shared<PendingWork>();
  absl::MutexLock lock(&mu_);
  items_.push_back(Item{std::move(op), work});
  return work;
}

absl::Status OperationQueue::Run(Operation op) { return Submit(std::move(op))->Wait(); }

bool OperationQueue::OnQueueThread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

bool OperationQueue::HasWorkOrStopping() const { return stopping_ || !items_.empty(); }

void OperationQueue::Loop() {
  for (;;) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &OperationQueue::HasWorkOrStopping));
      if (items_.empty()) return;  // stopping, and everything submitted has run
      item = std::move(items_.front());
      items_.pop_front();
    }
    absl::Status status;
    try {
      status = item.op();
    } catch (const std::exception& e) {
      // LibTorch reports allocation and dtype failures as exceptions (c10::Error).
      status = absl::InternalError(absl::StrCat("exception in communication thread: ", e.what()));
    }
    item.work->Complete(std::move(status));
  }
}

}  // namespace fathom::comm
