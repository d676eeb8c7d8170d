// kube::EventRecorder (generic, in src/kube) with the controller's fake server, and the
// decision Events the DecisionSink hands it.
#include "kube_csr_approver/kube/event_recorder.h"

#include <gtest/gtest.h>

#include "fake_api_client.h"
#include "fake_clock.h"
#include "kube_csr_approver/controller/decision_sink.h"
#include "test_support.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

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

// Pacing waits on the injected clock: the Event over the budget goes out only once the clock has
// moved on by 1/qps, and not before.
TEST(EventRecorderTest, APacedEventIsSentOnlyAfterTheClockAdvances) {
  testing::FakeClock clock;
  testing::FakeApiClient api;
  EventRecorderOptions options;
  options.qps = 1;
  options.burst = 1;
  EventRecorder events(api, clock, options);
  ASSERT_TRUE(events.Record(EventFor("a")));
  ASSERT_TRUE(events.Record(EventFor("b")));
  ASSERT_TRUE(api.WaitForCalls("create", 1));
  ASSERT_TRUE(clock.AwaitWaiterDue(1s)) << "the second Event waits for a token";
  clock.Advance(999ms);
  ASSERT_TRUE(clock.AwaitWaiterDue(1ms)) << "still waiting 1 ms before the token";
  EXPECT_EQ(api.CountCalls("create"), 1);
  clock.Advance(1ms);
  EXPECT_TRUE(api.WaitForCalls("create", 2));
}

// Forwards to the fake server; the first Create throws, as a bug or a library might.
class ThrowingOnceApiClient final : public kube::ApiClient {
 public:
  explicit ThrowingOnceApiClient(kube::ApiClient& next) : next_(next) {}
  kube::ApiResult<nlohmann::json> Get(const std::string& path,
                                      const kube::Cancellation* cancel) override {
    return next_.Get(path, cancel);
  }
  kube::ApiResult<nlohmann::json> List(const std::string& path, const kube::ListOptions& options,
                                       const kube::Cancellation* cancel) override {
    return next_.List(path, options, cancel);
  }
  kube::ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation* cancel) override {
    if (!thrown_.exchange(true)) throw std::runtime_error("unexpected");
    return next_.Create(path, body, cancel);
  }
  kube::ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation* cancel) override {
    return next_.Update(path, body, cancel);
  }
  kube::ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                        const kube::Cancellation* cancel,
                                        const kube::CallOptions& options) override {
    return next_.Patch(path, patch, cancel, options);
  }
  kube::ApiResult<nlohmann::json> Delete(const std::string& path,
                                         const kube::Cancellation* cancel) override {
    return next_.Delete(path, cancel);
  }
  kube::ApiResult<std::unique_ptr<kube::WatchStream>> Watch(
      const std::string& path, const kube::WatchOptions& options,
      const kube::Cancellation* cancel) override {
    return next_.Watch(path, options, cancel);
  }

 private:
  kube::ApiClient& next_;
  std::atomic<bool> thrown_{false};
};

// After its guard caught an exception, the sender pauses 1 s of the injected clock.
TEST(EventRecorderTest, AfterAnUnexpectedErrorTheSenderPausesOnTheClock) {
  testing::FakeClock clock;
  testing::FakeApiClient api;
  ThrowingOnceApiClient throwing(api);
  std::atomic<int> caught{0};
  EventRecorderOptions options;
  options.on_unexpected_error = [&] { ++caught; };
  EventRecorder events(throwing, clock, options);
  ASSERT_TRUE(events.Record(EventFor("lost")));
  ASSERT_TRUE(clock.AwaitWaiterDue(1s)) << "pausing after the exception";
  EXPECT_EQ(caught, 1);
  ASSERT_TRUE(events.Record(EventFor("next")));
  EXPECT_EQ(api.CountCalls("create"), 0);
  clock.Advance(1s);
  EXPECT_TRUE(api.WaitForCalls("create", 1)) << "carries on with the next Event";
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
