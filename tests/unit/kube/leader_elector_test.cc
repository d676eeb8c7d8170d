#include "kube_csr_approver/kube/leader_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "controller/fake_api_client.h"
#include "fake_clock.h"

// The algorithm follows client-go's staging/src/k8s.io/client-go/tools/leaderelection/
// leaderelection.go (tryAcquireOrRenew, observedTime, renew's RenewDeadline timeout).
namespace kca::kube {
namespace {

using namespace std::chrono_literals;
using testing::MakeApiError;

constexpr char kLeasePath[] = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/approver";

LeaderElectionOptions Options(const std::string& identity) {
  LeaderElectionOptions options;
  options.lease_namespace = "ops";
  options.lease_name = "approver";
  options.identity = identity;
  return options;
}

// Forwards to the in-memory server; with hang() set, Lease calls block until their Cancellation
// fires (a server that accepted the connection and never answers), then fail as cancelled.
class HangingApiClient final : public ApiClient {
 public:
  explicit HangingApiClient(ApiClient& next) : next_(next) {}
  void hang() { hang_ = true; }
  int hung() const { return hung_; }
  int cancelled() const { return cancelled_; }

  ApiResult<nlohmann::json> Get(const std::string& path, const Cancellation* cancel) override {
    if (hang_) return Hang(cancel);
    return next_.Get(path, cancel);
  }
  ApiResult<nlohmann::json> List(const std::string& path, const ListOptions& options,
                                 const Cancellation* cancel) override {
    return next_.List(path, options, cancel);
  }
  ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                   const Cancellation* cancel) override {
    if (hang_) return Hang(cancel);
    return next_.Create(path, body, cancel);
  }
  ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                   const Cancellation* cancel) override {
    if (hang_) return Hang(cancel);
    return next_.Update(path, body, cancel);
  }
  ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                  const Cancellation* cancel, const CallOptions& options) override {
    if (hang_) return Hang(cancel);
    return next_.Patch(path, patch, cancel, options);
  }
  ApiResult<nlohmann::json> Delete(const std::string& path, const Cancellation* cancel) override {
    return next_.Delete(path, cancel);
  }
  ApiResult<std::unique_ptr<WatchStream>> Watch(const std::string& path,
                                                const WatchOptions& options,
                                                const Cancellation* cancel) override {
    return next_.Watch(path, options, cancel);
  }

 private:
  ApiError Hang(const Cancellation* cancel) {
    ++hung_;
    // Without a Cancellation the call would hang for ever: the test bounds it at 60 s.
    if (cancel == nullptr || cancel->SleepFor(RealClock::Instance(), 60s))
      return testing::MakeTransportError(ApiErrorCode::kConnectionFailed);
    ++cancelled_;
    ApiError error;
    error.code = ApiErrorCode::kCanceled;
    error.message = "fake: cancelled";
    return error;
  }

  ApiClient& next_;
  std::atomic<bool> hang_{false};
  std::atomic<int> hung_{0}, cancelled_{0};
};

// Polls `condition` (real time) until it holds or 20 s have passed.
template <typename Condition>
bool WaitUntil(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class LeaderElectorTest : public ::testing::Test {
 protected:
  nlohmann::json Spec() { return (*api_.Object(kLeasePath))["spec"]; }

  testing::FakeClock clock_;
  testing::FakeApiClient api_;
  LeaderElector a_{api_, clock_, Options("replica-a")};
  LeaderElector b_{api_, clock_, Options("replica-b")};
};

TEST(LeaderElectionOptionsTest, EnforcesClientGoOrdering) {
  EXPECT_TRUE(ValidateLeaderElectionOptions(Options("x")).ok());
  auto options = Options("x");
  options.renew_deadline = 15s;
  EXPECT_FALSE(ValidateLeaderElectionOptions(options).ok());
  options = Options("x");
  options.retry_period = 9s;  // 9 * 1.2 > 10
  EXPECT_FALSE(ValidateLeaderElectionOptions(options).ok());
  options = Options("");
  EXPECT_FALSE(ValidateLeaderElectionOptions(options).ok());
  options = Options("x");
  options.lease_namespace.clear();
  EXPECT_NE(ValidateLeaderElectionOptions(options).message().find("--leader-election-namespace"),
            std::string::npos);
}

TEST_F(LeaderElectorTest, CreatesTheLeaseWhenAbsent) {
  EXPECT_FALSE(a_.IsLeader());
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_TRUE(a_.IsLeader());
  const auto spec = Spec();
  EXPECT_EQ(spec["holderIdentity"], "replica-a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_EQ(spec["acquireTime"], "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ(spec["renewTime"], spec["acquireTime"]);
}

TEST_F(LeaderElectorTest, AnotherHoldersValidLeaseIsRespectedUntilItStopsChanging) {
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_FALSE(b_.TryAcquireOrRenew());
  clock_.Advance(10s);
  ASSERT_TRUE(a_.TryAcquireOrRenew()) << "renewal";
  EXPECT_FALSE(b_.TryAcquireOrRenew()) << "b saw the record change: expiry starts again";
  clock_.Advance(14s);
  EXPECT_FALSE(b_.TryAcquireOrRenew());
  EXPECT_FALSE(a_.IsLeader()) << "a has not renewed for longer than the renew deadline";
  clock_.Advance(2s);
  ASSERT_TRUE(b_.TryAcquireOrRenew()) << "15 s since b last saw a change";
  EXPECT_TRUE(b_.IsLeader());
  const auto spec = Spec();
  EXPECT_EQ(spec["holderIdentity"], "replica-b");
  EXPECT_EQ(spec["leaseTransitions"], 1);
  EXPECT_EQ(spec["acquireTime"], spec["renewTime"]);
  EXPECT_FALSE(a_.TryAcquireOrRenew()) << "a sees b's fresh record";
  EXPECT_FALSE(a_.IsLeader());
}

// Found by fuzz_lease: a duration beyond int32 (the API's type) overflowed the time arithmetic,
// so another holder's lease looked expired and was taken at once.
TEST_F(LeaderElectorTest, AHugeLeaseDurationOfAnotherHolderIsRespected) {
  api_.Store(kLeasePath, {{"apiVersion", "coordination.k8s.io/v1"},
                          {"kind", "Lease"},
                          {"metadata", {{"name", "approver"}, {"namespace", "ops"}}},
                          {"spec",
                           {{"holderIdentity", "replica-b"},
                            {"leaseDurationSeconds", 10000000000LL},
                            {"leaseTransitions", 2147483647LL}}}});
  EXPECT_FALSE(a_.TryAcquireOrRenew());
  clock_.Advance(24h);
  EXPECT_FALSE(a_.TryAcquireOrRenew()) << "held for up to INT32_MAX seconds";
  EXPECT_FALSE(a_.IsLeader());
}

TEST_F(LeaderElectorTest, ATransitionCountAtTheInt32LimitStaysThere) {
  api_.Store(kLeasePath, {{"apiVersion", "coordination.k8s.io/v1"},
                          {"kind", "Lease"},
                          {"metadata", {{"name", "approver"}, {"namespace", "ops"}}},
                          {"spec", {{"holderIdentity", ""}, {"leaseTransitions", 2147483647LL}}}});
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 2147483647LL);
}

// Found by fuzz_lease: a renewal copied the server's out-of-range count back unchanged.
TEST_F(LeaderElectorTest, ARenewalWritesTheTransitionCountInTheInt32Range) {
  api_.Store(
      kLeasePath,
      {{"apiVersion", "coordination.k8s.io/v1"},
       {"kind", "Lease"},
       {"metadata", {{"name", "approver"}, {"namespace", "ops"}}},
       {"spec", {{"holderIdentity", "replica-a"}, {"leaseTransitions", 9223372036854775807LL}}}});
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 2147483647LL);
}

TEST_F(LeaderElectorTest, RenewalKeepsAcquireTimeAndTransitions) {
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  const auto first = Spec();
  clock_.Advance(2s);
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  const auto second = Spec();
  EXPECT_EQ(second["acquireTime"], first["acquireTime"]);
  EXPECT_EQ(second["leaseTransitions"], 0);
  EXPECT_EQ(second["renewTime"], "2027-01-15T08:00:02.000000Z");
}

TEST_F(LeaderElectorTest, TheGateClosesAtTheRenewDeadlineWithoutAnyCall) {
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  clock_.Advance(9s);
  EXPECT_TRUE(a_.IsLeader());
  api_.FailNextReads(1, MakeApiError(503, "ServiceUnavailable"));
  EXPECT_FALSE(a_.TryAcquireOrRenew());
  EXPECT_TRUE(a_.IsLeader()) << "still within the renew deadline";
  clock_.Advance(1s);
  EXPECT_FALSE(a_.IsLeader());
}

TEST_F(LeaderElectorTest, AConflictLosesTheRace) {
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  clock_.Advance(20s);
  api_.FailNextWrites(1, MakeApiError(409, "Conflict"));
  EXPECT_FALSE(b_.TryAcquireOrRenew());
  EXPECT_FALSE(b_.IsLeader());
}

TEST_F(LeaderElectorTest, ReleaseLetsAnotherReplicaTakeOverAtOnce) {
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_FALSE(b_.TryAcquireOrRenew());
  a_.Release();
  EXPECT_FALSE(a_.IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "");
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 1);
  ASSERT_TRUE(b_.TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
}

TEST_F(LeaderElectorTest, RunLeadsUntilStoppedThenReleases) {
  // Real time, with short periods so the loop turns a few times.
  auto options = Options("replica-a");
  options.lease_duration = 3s;
  options.renew_deadline = 2s;
  options.retry_period = 20ms;
  std::atomic<int> started{0}, stopped{0};
  LeaderElector elector(api_, RealClock::Instance(), options,
                        {[&] { ++started; }, [&] { ++stopped; }, nullptr});
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(api_.WaitForCalls("update", 3)) << "renewals";
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_EQ(started, 1);
  EXPECT_EQ(stopped, 0);
  stop.Cancel();
  runner.join();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "");
  EXPECT_EQ(stopped, 1);
}

TEST_F(LeaderElectorTest, RunStopsLeadingWhenRenewalsFail) {
  auto options = Options("replica-a");
  options.lease_duration = 3s;
  options.renew_deadline = 200ms;
  options.retry_period = 20ms;
  std::atomic<int> stopped{0};
  std::mutex mutex;
  std::condition_variable changed;
  LeaderElector elector(api_, RealClock::Instance(), options,
                        {nullptr,
                         [&] {
                           std::lock_guard lock(mutex);
                           ++stopped;
                           changed.notify_all();
                         },
                         nullptr});
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(api_.WaitForCalls("create", 1));
  api_.FailNextReads(1000000, MakeApiError(503, "ServiceUnavailable"));
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, 10s, [&] { return stopped > 0; }));
  }
  EXPECT_FALSE(elector.IsLeader());
  stop.Cancel();
  runner.join();
}

// Every wait of Run() is on the injected clock: the loop moves only as far as the test advances
// it, and no test here sleeps. (client-go's loops in leaderelection.go, wait.JitterUntil and
// wait.Until, wait on real time; only its observedTime reads le.clock.)
TEST_F(LeaderElectorTest, RenewsAfterTheRetryPeriodOnTheClockAndNotBefore) {
  const auto options = Options("replica-a");  // retry_period 2 s
  LeaderElector elector(api_, clock_, options);
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(api_.WaitForCalls("create", 1));
  ASSERT_TRUE(clock_.AwaitWaiterDue(options.retry_period)) << "waits for the retry period";
  clock_.Advance(options.retry_period - 1ms);
  ASSERT_TRUE(clock_.AwaitWaiterDue(1ms)) << "still waiting, 1 ms before the renewal";
  EXPECT_EQ(api_.CountCalls("update"), 0);
  clock_.Advance(1ms);
  EXPECT_TRUE(api_.WaitForCalls("update", 1)) << "renewed once the retry period passed";
  ASSERT_TRUE(clock_.AwaitWaiterDue(options.retry_period)) << "and waits again";
  EXPECT_EQ(api_.CountCalls("update"), 1);
  clock_.Advance(options.retry_period);
  EXPECT_TRUE(api_.WaitForCalls("update", 2));
  EXPECT_TRUE(elector.IsLeader());
  stop.Cancel();
  runner.join();
  EXPECT_EQ(Spec()["holderIdentity"], "") << "released on the way out";
}

// client-go bounds each renewal by RenewDeadline (context.WithTimeout in renew()). Here: a
// renewal that hangs is cancelled when the deadline passes on the injected clock, and the lead is
// reported lost (the leader gauge's callback) by the watchdog at once, not when the request gives
// up.
TEST_F(LeaderElectorTest, AHangingRenewalLosesTheLeadAtTheRenewDeadline) {
  const auto options = Options("replica-a");  // renew_deadline 10 s, retry_period 2 s
  HangingApiClient api(api_);
  std::atomic<int> gauge{0}, stopped{0};
  LeaderElector elector(api, clock_, options,
                        {[&] { gauge = 1; },
                         [&] {
                           gauge = 0;
                           ++stopped;
                         },
                         nullptr});
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(WaitUntil([&] { return gauge == 1; }));
  api.hang();
  ASSERT_TRUE(clock_.AwaitWaiterDue(options.retry_period));
  clock_.Advance(options.retry_period);
  ASSERT_TRUE(WaitUntil([&] { return api.hung() > 0; })) << "a renewal is stuck";
  clock_.Advance(options.renew_deadline - options.retry_period - 1ms);
  EXPECT_TRUE(elector.IsLeader()) << "within the renew deadline";
  EXPECT_EQ(gauge, 1);
  clock_.Advance(1ms);
  EXPECT_FALSE(elector.IsLeader()) << "the deadline passed: the gate is closed at once";
  EXPECT_TRUE(WaitUntil([&] { return gauge == 0; })) << "reported while the request hangs";
  EXPECT_TRUE(WaitUntil([&] { return api.cancelled() > 0; }))
      << "the stuck attempt is cancelled at the deadline";
  stop.Cancel();
  runner.join();
  EXPECT_EQ(stopped, 1) << "one transition, reported once";
}

// An attempt to acquire is bounded the same way, so a follower never waits on a stuck call; the
// next attempt follows after the jittered retry period, on the clock.
TEST_F(LeaderElectorTest, AHangingAcquireIsCancelledAfterTheRenewDeadline) {
  const auto options = Options("replica-b");
  HangingApiClient api(api_);
  api.hang();
  LeaderElector elector(api, clock_, options);
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(WaitUntil([&] { return api.hung() > 0; }));
  clock_.Advance(options.renew_deadline);
  EXPECT_TRUE(WaitUntil([&] { return api.cancelled() > 0; })) << "cancelled at the deadline";
  // The only wait on the clock now is the elector's (jittered) retry period.
  ASSERT_TRUE(clock_.AwaitWaiters(1));
  EXPECT_EQ(api.hung(), 1) << "the next attempt waits for the retry period";
  clock_.Advance(options.retry_period * 3);  // past retry_period * (1 + jitter 1.2)
  EXPECT_TRUE(WaitUntil([&] { return api.hung() > 1; })) << "then tries again";
  stop.Cancel();
  runner.join();
}

// A leader that cannot hand its Lease over still stops: the release is given 1.5 s of the clock.
TEST_F(LeaderElectorTest, AHangingReleaseEndsAfterItsTimeoutOnTheClock) {
  HangingApiClient api(api_);
  std::atomic<int> gauge{0};
  LeaderElector elector(api, clock_, Options("replica-a"),
                        {[&] { gauge = 1; }, [&] { gauge = 0; }, nullptr});
  Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(WaitUntil([&] { return gauge == 1; }));
  api.hang();
  stop.Cancel();
  ASSERT_TRUE(WaitUntil([&] { return api.hung() > 0; })) << "the release is stuck";
  ASSERT_TRUE(clock_.AwaitWaiterDue(1500ms));
  clock_.Advance(1499ms);
  ASSERT_TRUE(clock_.AwaitWaiterDue(1ms)) << "not given up before its timeout";
  EXPECT_EQ(api.cancelled(), 0);
  clock_.Advance(1ms);
  runner.join();
  EXPECT_EQ(api.cancelled(), 1) << "the release was cancelled, and Run() returned";
}

TEST_F(LeaderElectorTest, AFollowerReportsTheHolderItWaitsForOnceAndAgainWhenItChanges) {
  std::vector<std::string> holders;
  LeaderElector b(
      api_, clock_, Options("replica-b"),
      {nullptr, nullptr, [&](const std::string& holder) { holders.push_back(holder); }});
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock_.Advance(2s);
  ASSERT_TRUE(a_.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_EQ(holders, std::vector<std::string>{"replica-a"}) << "once per holder";
  EXPECT_EQ(b.ObservedHolder(), "replica-a");
  a_.Release();
  LeaderElector c(api_, clock_, Options("replica-c"));
  ASSERT_TRUE(c.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_EQ(holders, (std::vector<std::string>{"replica-a", "replica-c"}));
}

TEST(LeaderElectionClientOptionsTest, OwnBudgetOneAttemptBoundedTimeout) {
  ApiClientOptions base;
  base.qps = 2;
  base.burst = 3;
  base.user_agent = "ua";
  const auto options = LeaderElectionClientOptions(Options("x"), base);
  EXPECT_EQ(options.max_attempts, 1);
  EXPECT_EQ(options.request_timeout, 10s);
  EXPECT_GT(options.qps, 2);
  EXPECT_EQ(options.user_agent, "ua");
}

}  // namespace
}  // namespace kca::kube
