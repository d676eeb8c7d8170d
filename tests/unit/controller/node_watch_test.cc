#include "kube_csr_approver/controller/node_watch.h"

#include <gtest/gtest.h>

#include "fake_api_client.h"
#include "fake_clock.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

// A failed list is retried after the watch's backoff on the injected clock (here 1 s, then 2 s:
// jitter off) and not a moment before: the retry waits only for the clock, never for real time.
TEST(NodeWatchTest, AFailedListIsRetriedAfterItsBackoffOnTheClockAndNotBefore) {
  testing::FakeApiClient api;
  api.FailNextReads(2, testing::MakeTransportError(kube::ApiErrorCode::kConnectionFailed));
  testing::FakeClock clock;
  NodeWatchOptions options;
  options.linger = 1h;
  options.backoff = {1s, 30s, 2.0, 0.0};
  NodeWatch watch(
      api, clock, [](const std::string&) {}, options);
  watch.Start();
  watch.Want();

  ASSERT_TRUE(clock.AwaitWaiterDue(1s)) << "the first list failed: back off 1 s";
  EXPECT_EQ(api.CountCalls("list"), 1);
  clock.Advance(999ms);
  ASSERT_TRUE(clock.AwaitWaiterDue(1ms)) << "still waiting, 1 ms before the retry";
  EXPECT_EQ(api.CountCalls("list"), 1);

  clock.Advance(1ms);
  ASSERT_TRUE(clock.AwaitWaiterDue(2s)) << "the retry failed too: the backoff doubles";
  EXPECT_EQ(api.CountCalls("list"), 2);

  clock.Advance(2s);
  ASSERT_TRUE(api.WaitForCalls("watch", 1)) << "the third list succeeds and the watch starts";
  EXPECT_EQ(api.CountCalls("list"), 3);
}

}  // namespace
}  // namespace kca::controller
