#include "kube_csr_approver/controller/leader_elector.h"

#include <gtest/gtest.h>

#include <thread>

#include "fake_api_client.h"
#include "kube/fake_clock.h"
#include "test_support.h"

namespace kca::controller {
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

class LeaderElectorTest : public ::testing::Test {
 protected:
  nlohmann::json Spec() { return (*api_.Object(kLeasePath))["spec"]; }

  testing::FakeClock clock_;
  testing::FakeApiClient api_;
  ApproverMetrics metrics_{"test", "test"};
  LeaderElector a_{api_, clock_, &metrics_, Options("replica-a")};
  LeaderElector b_{api_, clock_, nullptr, Options("replica-b")};
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
  LeaderElector elector(api_, RealClock::Instance(), &metrics_, options,
                        {[&] { ++started; }, [&] { ++stopped; }});
  kube::Cancellation stop;
  std::thread runner([&] { elector.Run(stop); });
  ASSERT_TRUE(api_.WaitForCalls("update", 3)) << "renewals";
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_EQ(started, 1);
  EXPECT_EQ(testing::MetricValue(metrics_, "kube_csr_approver_leader"), 1);
  stop.Cancel();
  runner.join();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "");
  EXPECT_EQ(testing::MetricValue(metrics_, "kube_csr_approver_leader"), 0);
}

TEST_F(LeaderElectorTest, RunStopsLeadingWhenRenewalsFail) {
  auto options = Options("replica-a");
  options.lease_duration = 3s;
  options.renew_deadline = 200ms;
  options.retry_period = 20ms;
  std::atomic<int> stopped{0};
  std::mutex mutex;
  std::condition_variable changed;
  LeaderElector elector(api_, RealClock::Instance(), nullptr, options,
                        {nullptr, [&] {
                           std::lock_guard lock(mutex);
                           ++stopped;
                           changed.notify_all();
                         }});
  kube::Cancellation stop;
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

}  // namespace
}  // namespace kca::controller
