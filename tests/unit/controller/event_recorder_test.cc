#include "kube_csr_approver/controller/event_recorder.h"

#include <gtest/gtest.h>

#include "fake_api_client.h"
#include "kube/fake_clock.h"
#include "test_support.h"

namespace kca::controller {
namespace {

const Decision kApproved{Action::kApprove, "r", {}, {}, "other"};

TEST(EventRecorderTest, EventNamesFitTheLimitForLongCsrNames) {
  testing::FakeClock clock;
  CsrObject csr;
  csr.name = std::string(253, 'a');
  const auto event = MakeDecisionEvent(csr, kApproved, {}, clock.WallNow());
  const std::string name = event["metadata"]["name"];
  EXPECT_LE(name.size(), 253u);
  EXPECT_NE(name.find('.'), std::string::npos);
  EXPECT_EQ(event["action"], "Approve");
}

TEST(EventRecorderTest, LogActionsMakeNoEvent) {
  testing::FakeClock clock;
  testing::FakeApiClient api;
  EventRecorder events(api, clock, {});
  CsrObject csr;
  csr.name = "a";
  EXPECT_FALSE(events.Record(csr, Decision{Action::kLog, std::nullopt, {}, {}, "other"}));
}

TEST(EventRecorderTest, DropsWhenTheQueueIsFullInsteadOfBlocking) {
  testing::FakeClock clock;  // frozen: the bucket never refills, so the sender waits
  testing::FakeApiClient api;
  EventRecorderOptions options;
  options.queue_capacity = 2;
  options.qps = 0.001;
  options.burst = 1;
  auto events = std::make_unique<EventRecorder>(api, clock, options);
  CsrObject csr;
  csr.name = "a";
  ASSERT_TRUE(events->Record(csr, kApproved));
  ASSERT_TRUE(api.WaitForCalls("create", 1));
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += events->Record(csr, kApproved);
  EXPECT_LE(accepted, 3);
  EXPECT_GE(events->dropped(), 7u);
  events.reset();  // must not wait for the bucket
  EXPECT_EQ(api.CountCalls("create"), 1);
}

TEST(EventRecorderTest, AFailedPostIsCountedAndTheNextOneStillGoes) {
  testing::FakeClock clock;
  testing::FakeApiClient api;
  api.FailNextWrites(1, testing::MakeApiError(403, "Forbidden"));
  EventRecorder events(api, clock, {});
  CsrObject csr;
  csr.name = "a";
  ASSERT_TRUE(events.Record(csr, kApproved));
  csr.name = "b";
  ASSERT_TRUE(events.Record(csr, kApproved));
  ASSERT_TRUE(api.WaitForCalls("create", 2));
  // Counters are updated after the call returns: wait for the second to be accounted.
  for (int i = 0; i < 1000 && events.sent() + events.failed() < 2; ++i) {
    api.WaitForCalls("create", 3, std::chrono::milliseconds(1));
  }
  EXPECT_EQ(events.failed(), 1u);
  EXPECT_EQ(events.sent(), 1u);
}

}  // namespace
}  // namespace kca::controller
