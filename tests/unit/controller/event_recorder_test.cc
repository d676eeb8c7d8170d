// kube::EventRecorder (generic, in src/kube) with the controller's fake server, and the
// decision Events the DecisionSink hands it.
#include "kube_csr_approver/kube/event_recorder.h"

#include <gtest/gtest.h>

#include "fake_api_client.h"
#include "kube/fake_clock.h"
#include "kube_csr_approver/controller/decision_sink.h"
#include "test_support.h"

namespace kca::controller {
namespace {

using kube::EventRecorder;
using kube::EventRecorderOptions;

const Decision kApproved{Action::kApprove, "r", {}, {}, "other"};

nlohmann::json EventFor(const std::string& name) {
  CsrObject csr;
  csr.name = name;
  return MakeDecisionEvent(csr, kApproved, {}, std::chrono::system_clock::now());
}

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

TEST(EventRecorderTest, DropsWhenTheQueueIsFullInsteadOfBlocking) {
  testing::FakeClock clock;  // frozen: the bucket never refills, so the sender waits
  testing::FakeApiClient api;
  EventRecorderOptions options;
  options.queue_capacity = 2;
  options.qps = 0.001;
  options.burst = 1;
  auto events = std::make_unique<EventRecorder>(api, clock, options);
  ASSERT_TRUE(events->Record(EventFor("a")));
  ASSERT_TRUE(api.WaitForCalls("create", 1));
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += events->Record(EventFor("a"));
  EXPECT_LE(accepted, 3);
  EXPECT_GE(events->dropped(), 7u);
  events.reset();  // must not wait for the bucket
  EXPECT_EQ(api.CountCalls("create"), 1);
}

TEST(EventRecorderTest, AnEventThatWouldBeDroppedIsNotBuilt) {
  testing::FakeClock clock;  // frozen: the bucket never refills, so the sender waits
  testing::FakeApiClient api;
  EventRecorderOptions options;
  options.queue_capacity = 2;
  options.qps = 0.001;
  options.burst = 1;
  auto events = std::make_unique<EventRecorder>(api, clock, options);
  ASSERT_TRUE(events->Record(EventFor("a")));
  ASSERT_TRUE(api.WaitForCalls("create", 1));
  int built = 0;
  int accepted = 0;
  for (int i = 0; i < 10; ++i) {
    accepted += events->RecordIfRoom([&] {
      ++built;
      return EventFor("a");
    });
  }
  EXPECT_EQ(built, accepted);
  EXPECT_GE(events->dropped(), 7u);
  events.reset();
}

TEST(EventRecorderTest, AFailedPostIsCountedAndTheNextOneStillGoes) {
  testing::FakeClock clock;
  testing::FakeApiClient api;
  api.FailNextWrites(1, testing::MakeApiError(403, "Forbidden"));
  EventRecorder events(api, clock, {});
  ASSERT_TRUE(events.Record(EventFor("a")));
  ASSERT_TRUE(events.Record(EventFor("b")));
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
