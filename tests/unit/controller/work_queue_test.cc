#include "kube_csr_approver/controller/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fake_clock.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

class WorkQueueTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  HealthState health_{clock_, 2min};
  WorkQueue queue_{clock_, &health_, {500ms, 4s}};

  std::vector<std::string> DrainNames() {
    std::vector<std::string> names;
    while (auto item = queue_.TryGet()) {
      names.push_back(item->name);
      queue_.Done(item->name);
    }
    return names;
  }
};

TEST_F(WorkQueueTest, AnItemQueuedTwiceIsHandedOutOnce) {
  queue_.Add("a", "alice");
  queue_.Add("a", "alice");
  queue_.Add("b", "alice");
  EXPECT_EQ(queue_.backlog(), 2u);
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(WorkQueueTest, AnItemAddedWhileProcessingIsHandedOutAgainAfterDone) {
  queue_.Add("a", "alice");
  auto item = queue_.TryGet();
  ASSERT_TRUE(item.has_value());
  queue_.Add("a", "alice");
  queue_.Add("a", "alice");
  EXPECT_FALSE(queue_.TryGet().has_value()) << "never handed to two workers at once";
  queue_.Done("a");
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{}));
}

TEST_F(WorkQueueTest, RoundRobinAcrossRequestorsSoAFloodCannotStarveOthers) {
  for (int i = 0; i < 100; ++i) queue_.Add("flood-" + std::to_string(i), "mallory");
  queue_.Add("alice-1", "alice");
  queue_.Add("bob-1", "bob");
  queue_.Add("alice-2", "alice");
  auto names = DrainNames();
  ASSERT_EQ(names.size(), 103u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5),
            (std::vector<std::string>{"flood-0", "alice-1", "bob-1", "flood-1", "alice-2"}));
  EXPECT_EQ(names.back(), "flood-99");
}

TEST_F(WorkQueueTest, RetryDelaysDoubleUpToTheCapAndForgetResets) {
  EXPECT_EQ(queue_.Retry("a", "alice"), 500ms);
  EXPECT_FALSE(queue_.TryGet().has_value()) << "not before its delay";
  clock_.Advance(499ms);
  EXPECT_FALSE(queue_.TryGet().has_value());
  clock_.Advance(1ms);
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{"a"}));

  EXPECT_EQ(queue_.Retry("a", "alice"), 1s);
  EXPECT_EQ(queue_.Retry("a", "alice"), 2s);
  EXPECT_EQ(queue_.Retry("a", "alice"), 4s);
  EXPECT_EQ(queue_.Retry("a", "alice"), 4s);
  EXPECT_EQ(queue_.retries("a"), 5);
  queue_.Forget("a");
  EXPECT_EQ(queue_.retries("a"), 0);
  EXPECT_EQ(queue_.Retry("b", "alice"), 500ms);
}

TEST_F(WorkQueueTest, AnAddCutsARetryDelayShort) {
  ASSERT_EQ(queue_.Retry("a", "alice"), 500ms);
  queue_.Add("a", "alice");
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{"a"}));
  clock_.Advance(1s);
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{})) << "the delayed copy was dropped";
}

TEST_F(WorkQueueTest, ARetryDueWhileProcessingRunsAfterDone) {
  queue_.Add("a", "alice");
  auto item = queue_.TryGet();
  ASSERT_TRUE(item.has_value());
  queue_.Retry("a", "alice");
  clock_.Advance(1s);
  EXPECT_FALSE(queue_.TryGet().has_value());
  queue_.Done("a");
  EXPECT_EQ(DrainNames(), (std::vector<std::string>{"a"}));
}

TEST_F(WorkQueueTest, ABlockedGetWakesForARetryDueOnTheClock) {
  std::atomic<bool> got{false};
  std::thread worker([&] {
    auto item = queue_.Get();
    got = item.has_value() && item->name == "a";
  });
  queue_.Retry("a", "alice");
  // The blocked Get() waits on the clock for the item's due time, not on real time.
  ASSERT_TRUE(clock_.AwaitWaiterDue(500ms));
  clock_.Advance(499ms);
  ASSERT_TRUE(clock_.AwaitWaiterDue(1ms)) << "still waiting 1 ms before the item is due";
  EXPECT_FALSE(got);
  clock_.Advance(1ms);
  worker.join();
  EXPECT_TRUE(got);
}

TEST_F(WorkQueueTest, ShutDownWakesEveryWorker) {
  std::vector<std::thread> workers;
  std::atomic<int> woke{0};
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      if (!queue_.Get().has_value()) ++woke;
    });
  }
  queue_.ShutDown();
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(woke, 4);
  queue_.Add("a", "alice");
  EXPECT_EQ(queue_.backlog(), 0u);
}

TEST_F(WorkQueueTest, ParallelWorkersProcessEachItemExactlyOnce) {
  constexpr int kItems = 2000;
  std::vector<std::atomic<int>> seen(kItems);
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto item = queue_.Get()) {
        ++seen[std::stoi(item->name)];
        queue_.Done(item->name);
        if (++done == kItems) queue_.ShutDown();
      }
    });
  }
  for (int i = 0; i < kItems; ++i) queue_.Add(std::to_string(i), "r" + std::to_string(i % 7));
  for (auto& worker : workers) worker.join();
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(seen[i], 1) << i;
}

TEST_F(WorkQueueTest, ReportsBacklogAndProgressToHealth) {
  queue_.Add("a", "alice");
  clock_.Advance(3min);
  EXPECT_EQ(health_.Liveness().status, 500) << health_.Liveness().body;
  auto item = queue_.TryGet();
  ASSERT_TRUE(item.has_value());
  queue_.Done(item->name);
  EXPECT_EQ(health_.Liveness().status, 200);
  // Waiting for a retry delay is not being stuck.
  queue_.Retry("b", "alice");
  clock_.Advance(3min);
  EXPECT_EQ(health_.Liveness().status, 200);
}

}  // namespace
}  // namespace kca::controller
