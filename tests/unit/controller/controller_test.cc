#include "kube_csr_approver/controller/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_api_client.h"
#include "fake_clock.h"
#include "kube/temp_dir.h"
#include "test_support.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;
using testing::CsrJson;

// Polls `condition` until it holds or 10 s pass (the condition, not a fixed sleep, ends the wait).
template <typename Condition>
bool WaitUntil(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Runs a Controller on its own thread; stops and joins it on destruction.
class RunningController {
 public:
  RunningController(kube::ApiClient& api, const Clock& clock, ApproverMetrics& metrics,
                    HealthState& health, PolicyHolder& policies, PolicyFileWatcher* file,
                    ControllerOptions options)
      : controller_(api, clock, metrics, health, policies, file, std::move(options)),
        thread_([this] { controller_.Run(); }) {}
  ~RunningController() { Stop(); }
  void Stop() {
    controller_.Stop();
    if (thread_.joinable()) thread_.join();
  }
  Controller& operator*() { return controller_; }
  Controller* operator->() { return &controller_; }

 private:
  Controller controller_;
  std::thread thread_;
};

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() { policies_.Set(testing::MustParsePolicy(testing::kTeamPolicy)); }

  static std::string Path(const std::string& name) { return CsrPath(name); }
  std::string ConditionOf(const std::string& name) {
    auto object = api_.Object(Path(name));
    if (!object || (*object)["status"]["conditions"].empty()) return "";
    return (*object)["status"]["conditions"].back()["type"];
  }
  int ApprovalWrites() {
    int writes = 0;
    for (const auto& call : api_.calls()) writes += call.path.ends_with("/approval");
    return writes;
  }
  ControllerOptions Options() {
    ControllerOptions options;
    options.gauge_interval = 10ms;
    return options;
  }

  testing::CapturedLog log_;
  testing::FakeApiClient api_;
  ApproverMetrics metrics_{"test", "test"};
  HealthState health_{RealClock::Instance(), 2min};
  PolicyHolder policies_;
};

TEST_F(ControllerTest, DecidesWhatIsListedAndWhatArrivesLaterThenStops) {
  api_.Store(Path("ok"), CsrJson("ok", "alice", "alice", "team-a"));
  api_.Store(Path("masters"), CsrJson("masters", "alice", "alice", "kubeadm:cluster-admins"));
  api_.Store(Path("other"), CsrJson("other", "bob", "bob", "team-b"));
  EXPECT_EQ(health_.Readiness().status, 503);
  RunningController controller(api_, RealClock::Instance(), metrics_, health_, policies_, nullptr,
                               Options());
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("ok") == "Approved"; }));
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("masters") == "Denied"; }));
  EXPECT_EQ(health_.Readiness().status, 200);

  ASSERT_TRUE(api_.WaitForCalls("watch", 1));
  api_.Store(Path("late"), CsrJson("late", "alice", "alice", "team-a"));
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("late") == "Approved"; }));
  EXPECT_EQ(ConditionOf("other"), "") << "a log decision writes nothing";
  EXPECT_EQ(ApprovalWrites(), 3) << "one write per decision";
  EXPECT_EQ(api_.CountCalls("get"), 0) << "no reads beyond list+watch in the happy path";

  ASSERT_TRUE(WaitUntil([&] {
    return testing::MetricValue(
               metrics_,
               "kube_csr_approver_pending_csrs{signer=\"kubernetes.io/kube-apiserver-client\"}") ==
           1;
  }));
  EXPECT_EQ(testing::MetricValue(metrics_, "kube_csr_approver_leader"), 1);
  ASSERT_TRUE(WaitUntil([&] { return api_.CountCalls("create") >= 3; })) << "Events";
  const auto stop_started = std::chrono::steady_clock::now();
  controller.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 5s);
}

// `run` releases a list's freed memory here (ControllerOptions::after_list): once per complete
// list, after its CSRs were delivered.
TEST_F(ControllerTest, AfterListRunsOnceTheListIsDelivered) {
  api_.Store(Path("ok"), CsrJson("ok", "alice", "alice", "team-a"));
  std::atomic<int> lists{0};
  std::atomic<bool> synced_first{false};
  ControllerOptions options = Options();
  options.after_list = [&] {
    synced_first = health_.Readiness().status == 200;
    ++lists;
  };
  RunningController controller(api_, RealClock::Instance(), metrics_, health_, policies_, nullptr,
                               std::move(options));
  ASSERT_TRUE(api_.WaitForCalls("watch", 1));
  EXPECT_EQ(lists.load(), 1);
  EXPECT_TRUE(synced_first.load());
}

TEST_F(ControllerTest, DryRunWritesNothing) {
  api_.Store(Path("ok"), CsrJson("ok", "alice", "alice", "team-a"));
  api_.Store(Path("masters"), CsrJson("masters", "alice", "alice", "system:masters"));
  auto options = Options();
  options.dry_run = true;
  RunningController controller(api_, RealClock::Instance(), metrics_, health_, policies_, nullptr,
                               options);
  ASSERT_TRUE(WaitUntil([&] { return log_.Count("dry run: nothing written") == 2; }))
      << log_.text();
  controller.Stop();
  for (const auto& call : api_.calls()) {
    EXPECT_TRUE(call.verb == "list" || call.verb == "watch") << call.verb << " " << call.path;
  }
}

TEST_F(ControllerTest, TransientFailuresAreRetriedUntilDecided) {
  api_.Store(Path("ok"), CsrJson("ok", "alice", "alice", "team-a"));
  api_.FailNextWrites(2, testing::MakeApiError(503, "ServiceUnavailable"));
  api_.FailNextWrites(1, testing::MakeTransportError(kube::ApiErrorCode::kConnectionFailed));
  auto options = Options();
  options.queue.retry_initial = 1ms;
  options.record_events = false;
  RunningController controller(api_, RealClock::Instance(), metrics_, health_, policies_, nullptr,
                               options);
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("ok") == "Approved"; }));
  EXPECT_EQ(ApprovalWrites(), 4);
  EXPECT_EQ(
      testing::MetricValue(metrics_, "kube_csr_approver_decision_errors_total{reason=\"api\"}"), 3);
}

TEST_F(ControllerTest, ResyncAppliesAChangedPolicyToOldRequests) {
  testing::FakeClock clock;
  auto options = Options();
  options.run_informer = false;
  options.resync_period = 10min;
  RunningController controller(api_, clock, metrics_, health_, policies_, nullptr, options);
  const nlohmann::json bob = CsrJson("bob-1", "bob", "bob", "team-b");
  api_.Store(Path("bob-1"), bob);
  controller->OnUpsert(testing::MustDecode(bob));
  ASSERT_TRUE(WaitUntil([&] { return log_.Count("\"decision\":\"log\"") == 1; }));

  policies_.Set(testing::MustParsePolicy(R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: bob
    selector: {requestor: {usernames: [bob]}}
    allowed: {commonName: bob, organizations: [team-b], usages: [digital signature, client auth]}
    action: approve
)"));
  ASSERT_TRUE(clock.AwaitWaiterDue(100ms)) << "the maintenance loop waits for its next tick";
  clock.Advance(10min);
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("bob-1") == "Approved"; }));
}

TEST_F(ControllerTest, APolicyReloadRequeuesPendingCsrs) {
  testing::TempDir dir;
  const std::string path = dir.Write("policy.yaml", std::string(testing::kTeamPolicy));
  PolicyHolder holder;
  PolicyFileWatcher watcher(path, holder, metrics_);
  ASSERT_TRUE(watcher.LoadInitial().ok());
  api_.Store(Path("bob-1"), CsrJson("bob-1", "bob", "bob", "team-b"));
  auto options = Options();
  options.policy_poll_interval = 10ms;
  RunningController controller(api_, RealClock::Instance(), metrics_, health_, holder, &watcher,
                               options);
  ASSERT_TRUE(WaitUntil([&] { return log_.Count("\"decision\":\"log\"") == 1; }));
  dir.Write("policy.yaml", R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: bob
    selector: {requestor: {usernames: [bob]}}
    allowed: {commonName: bob, organizations: [team-b], usages: [digital signature, client auth]}
    action: deny
)");
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("bob-1") == "Denied"; }));
  EXPECT_EQ(
      testing::MetricValue(metrics_, "kube_csr_approver_policy_reloads_total{result=\"success\"}"),
      1);
}

// The maintenance loop (policy poll, gate refresh, resync) waits on the injected clock: a changed
// policy file is picked up once the clock has passed policy_poll_interval, and not before.
TEST_F(ControllerTest, ThePolicyPollPicksUpAChangedFileOnlyAfterTheClockAdvances) {
  testing::TempDir dir;
  const std::string path = dir.Write("policy.yaml", std::string(testing::kTeamPolicy));
  PolicyHolder holder;
  PolicyFileWatcher watcher(path, holder, metrics_);
  ASSERT_TRUE(watcher.LoadInitial().ok());
  api_.Store(Path("bob-1"), CsrJson("bob-1", "bob", "bob", "team-b"));
  testing::FakeClock clock;
  auto options = Options();
  options.policy_poll_interval = 2s;
  options.record_events = false;
  RunningController controller(api_, clock, metrics_, health_, holder, &watcher, options);
  ASSERT_TRUE(WaitUntil([&] { return log_.Count("\"decision\":\"log\"") == 1; }));
  dir.Write("policy.yaml", R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: bob
    selector: {requestor: {usernames: [bob]}}
    allowed: {commonName: bob, organizations: [team-b], usages: [digital signature, client auth]}
    action: deny
)");
  constexpr auto kTick = 100ms;  // the maintenance loop's period
  ASSERT_TRUE(clock.AwaitWaiterDue(kTick));
  clock.Advance(options.policy_poll_interval - kTick);
  ASSERT_TRUE(clock.AwaitWaiterDue(kTick)) << "the loop ran and waits for its next tick";
  EXPECT_EQ(
      testing::MetricValue(metrics_, "kube_csr_approver_policy_reloads_total{result=\"success\"}"),
      0)
      << "not polled before the interval passed";
  EXPECT_EQ(ConditionOf("bob-1"), "");
  clock.Advance(kTick);
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("bob-1") == "Denied"; }));
  EXPECT_EQ(
      testing::MetricValue(metrics_, "kube_csr_approver_policy_reloads_total{result=\"success\"}"),
      1);
}

TEST_F(ControllerTest, OnlyTheLeaderWritesAndAnotherTakesOverWhenItStops) {
  auto options_for = [&](const std::string& identity) {
    auto options = Options();
    kube::LeaderElectionOptions election;
    election.lease_namespace = "ops";
    election.identity = identity;
    election.lease_duration = 3s;
    election.renew_deadline = 2s;
    election.retry_period = 20ms;
    options.leader_election = election;
    options.events.reporting_instance = identity;
    return options;
  };
  ApproverMetrics metrics_b{"test", "test"};
  HealthState health_b{RealClock::Instance(), 2min};
  auto a = std::make_unique<RunningController>(api_, RealClock::Instance(), metrics_, health_,
                                               policies_, nullptr, options_for("a"));
  ASSERT_TRUE(WaitUntil([&] { return (**a).MayWrite(); }));
  RunningController b(api_, RealClock::Instance(), metrics_b, health_b, policies_, nullptr,
                      options_for("b"));
  api_.Store(Path("first"), CsrJson("first", "alice", "alice", "team-a"));
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("first") == "Approved"; }));
  EXPECT_FALSE(b->MayWrite());
  EXPECT_EQ(testing::MetricValue(metrics_b, "kube_csr_approver_leader"), 0);
  EXPECT_EQ(ApprovalWrites(), 1) << "the follower wrote nothing";

  a.reset();  // stops and releases the lease
  ASSERT_TRUE(WaitUntil([&] { return b->MayWrite(); }));
  api_.Store(Path("second"), CsrJson("second", "alice", "alice", "team-a"));
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("second") == "Approved"; }));
  EXPECT_EQ(ApprovalWrites(), 2);
  EXPECT_EQ(testing::MetricValue(metrics_b, "kube_csr_approver_leader"), 1);
}

// Issue 9 item 6: a leader whose renewals hang loses the gate at its renew deadline; the
// approval write it has in flight is aborted then, not left to land after another replica may
// hold the Lease, and nothing is retried while it does not lead.
TEST_F(ControllerTest, ADeposedLeaderAbortsItsWriteInFlight) {
  auto options = Options();
  kube::LeaderElectionOptions election;
  election.lease_namespace = "ops";
  election.identity = "a";
  election.lease_duration = 3s;
  election.renew_deadline = 2s;
  election.retry_period = 20ms;
  options.leader_election = election;
  options.record_events = false;
  RunningController a(api_, RealClock::Instance(), metrics_, health_, policies_, nullptr, options);
  ASSERT_TRUE(WaitUntil([&] { return a->MayWrite(); }));

  api_.BlockWrites(true);  // the approval and the Lease renewals hang from now on
  api_.Store(Path("held"), CsrJson("held", "alice", "alice", "team-a"));
  ASSERT_TRUE(api_.WaitForBlockedWrites(2)) << "the approval write and a renewal in flight";
  // At the renew deadline the gate closes and the approval write is cancelled (the renewal
  // stays blocked until shutdown).
  ASSERT_TRUE(WaitUntil([&] { return !a->MayWrite() && api_.blocked_writes() == 1; }));
  EXPECT_EQ(ApprovalWrites(), 1);
  EXPECT_EQ(ConditionOf("held"), "");
}

// A CSR waiting for its Node is evaluated again when the Node watch sees the Node, not at its
// next retry: the retry clock never moves here, so only the watch can decide it.
TEST_F(ControllerTest, TheNodeWatchDecidesACsrWaitingForItsNode) {
  policies_.Set(testing::MustParsePolicy(R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: kubelet-serving
    selector: {signerNames: [kubernetes.io/kubelet-serving]}
    allowed:
      commonName: {nodeIdentity: true}
      organizations: [system:nodes]
      dnsNames: [{nodeAddresses: true}]
      usages: [digital signature, server auth]
    action: approve
)"));
  testing::CsrObjectSpec spec;
  spec.name = "serving";
  spec.uid = "uid-serving";
  spec.signer_name = "kubernetes.io/kubelet-serving";
  spec.usages = {"digital signature", "server auth"};
  spec.username = "system:node:w1";
  spec.groups = {"system:nodes", "system:authenticated"};
  testing::RequestSpec request;
  request.subject = {{"O", "system:nodes"}, {"CN", "system:node:w1"}};
  request.dns_names = {"w1.example.com"};
  spec.request_pem = testing::MakeRequestPem(request);
  const nlohmann::json csr = testing::MakeCsrObject(spec);
  api_.Store(Path("serving"), csr);

  testing::FakeClock clock;
  auto options = Options();
  options.run_informer = false;
  options.record_events = false;
  RunningController controller(api_, clock, metrics_, health_, policies_, nullptr, options);
  controller->OnUpsert(testing::MustDecode(csr));
  auto watching_nodes = [&] {
    for (const auto& call : api_.calls()) {
      if (call.verb == "watch" && call.path == "/api/v1/nodes") return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil(watching_nodes)) << "a CSR waits for its Node: Nodes are watched";
  EXPECT_EQ(ConditionOf("serving"), "");

  // A Node from another kubelet changes nothing; w1's own Node decides the CSR.
  api_.Store("/api/v1/nodes/w2",
             {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "w2"}}}});
  api_.Store(
      "/api/v1/nodes/w1",
      {{"apiVersion", "v1"},
       {"kind", "Node"},
       {"metadata", {{"name", "w1"}, {"resourceVersion", "9"}}},
       {"status", {{"addresses", {{{"type", "Hostname"}, {"address", "w1.example.com"}}}}}}});
  ASSERT_TRUE(WaitUntil([&] { return ConditionOf("serving") == "Approved"; }));
}

}  // namespace
}  // namespace kca::controller
