// The communication thread's queue: submission order, waiting, draining at destruction and
// exceptions, independent of MPI.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "comm/operation_queue.h"
#include "comm/pending_work.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::comm {
namespace {

using ::testing::HasSubstr;

TEST(OperationQueueTest, RunsInSubmissionOrderOnItsOwnThread) {
  std::vector<int> order;  // touched only by the queue's thread until the last Wait
  std::vector<std::shared_ptr<Work>> works;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> on_caller_thread{false};
  {
    OperationQueue queue("test-queue");
    for (int i = 0; i < 100; ++i) {
      works.push_back(queue.Submit([&order, &on_caller_thread, caller, i] {
        if (std::this_thread::get_id() == caller) on_caller_thread = true;
        order.push_back(i);
        return absl::OkStatus();
      }));
    }
    EXPECT_TRUE(works.back()->Wait().ok());
    for (const auto& work : works) EXPECT_TRUE(work->Done());
  }
  EXPECT_FALSE(on_caller_thread);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(OperationQueueTest, SubmitReturnsBeforeTheOperationRuns) {
  OperationQueue queue("test-queue");
  absl::Notification release;
  std::shared_ptr<Work> blocked = queue.Submit([&] {
    release.WaitForNotification();
    return absl::OkStatus();
  });
  std::shared_ptr<Work> behind = queue.Submit([] { return absl::OkStatus(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(blocked->Done());
  EXPECT_FALSE(behind->Done());  // queued behind the blocked one, not run beside it
  release.Notify();
  EXPECT_TRUE(behind->Wait().ok());
  EXPECT_TRUE(blocked->Done());
}

TEST(OperationQueueTest, ReturnsStatusesAndTurnsExceptionsIntoErrors) {
  OperationQueue queue("test-queue");
  EXPECT_EQ(queue.Run([] { return absl::DataLossError("lost"); }).code(),
            absl::StatusCode::kDataLoss);
  absl::Status thrown = queue.Run([]() -> absl::Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(thrown.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(thrown.message(), HasSubstr("boom"));
  EXPECT_TRUE(queue.Run([] { return absl::OkStatus(); }).ok());  // the thread survived
}

TEST(OperationQueueTest, DestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  std::vector<std::shared_ptr<Work>> works;
  {
    OperationQueue queue("test-queue");
    for (int i = 0; i < 20; ++i) {
      works.push_back(queue.Submit([&ran] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ++ran;
        return absl::OkStatus();
      }));
    }
  }
  EXPECT_EQ(ran.load(), 20);
  for (const auto& work : works) EXPECT_TRUE(work->Done());
}

TEST(PendingWorkTest, WaitersOnManyThreadsSeeOneResult) {
  auto work = std::make_shared<PendingWork>();
  std::vector<std::thread> waiters;
  std::atomic<int> saw_error{0};
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      if (work->Wait().code() == absl::StatusCode::kAborted) ++saw_error;
    });
  }
  EXPECT_FALSE(work->Done());
  work->Complete(absl::AbortedError("stop"));
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(saw_error.load(), 4);
  EXPECT_TRUE(work->Done());
  EXPECT_TRUE(PendingWork::Finished(absl::OkStatus())->Done());
}

}  // namespace
}  // namespace fathom::comm
