// The real kube-csr-approver binary against the API emulator: decisions, dry-run, restarts,
// faults, token rotation, policy reload, metrics, leader election and shutdown.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "e2e_fixture.h"

namespace kca::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using kca::testing::KeySpec;

const std::string kSourceDir = KCA_SOURCE_DIR;
const std::string kClusterPolicy = kSourceDir + "/examples/policies/cluster.yaml";

CsrRequest AliceClient(const std::string& name) {
  CsrRequest request;
  request.name = name;
  request.subject = {{"CN", "alice"}, {"O", "devs"}};
  request.user = "alice";
  request.groups = {"devs"};
  request.expiration_seconds = 3600;
  return request;
}

// The seed walkthrough's request: a cluster-admin organization in the subject.
CsrRequest SeedEscalation(const std::string& name) {
  CsrRequest request;
  request.name = name;
  request.subject = {{"O", "kubeadm:cluster-admins"}, {"CN", "gasida-cert"}};
  request.user = "kubernetes-admin";
  request.groups = {"system:masters"};
  request.key = KeySpec::Rsa(2048);
  return request;
}

CsrRequest Impersonation(const std::string& name) {
  CsrRequest request = AliceClient(name);
  request.user = "mallory";
  return request;
}

CsrRequest CiRunner(const std::string& name) {
  CsrRequest request;
  request.name = name;
  request.subject = {{"CN", "ci-" + name}, {"O", "ci-runners"}};
  request.user = "system:serviceaccount:ci:runner";
  request.groups = {"system:serviceaccounts", "system:serviceaccounts:ci"};
  request.usages = {"digital signature", "client auth"};
  return request;
}

CsrRequest KubeletServing(const std::string& name) {
  CsrRequest request;
  request.name = name;
  request.subject = {{"O", "system:nodes"}, {"CN", "system:node:worker-1"}};
  request.user = "system:node:worker-1";
  request.groups = {"system:nodes"};
  request.signer = "kubernetes.io/kubelet-serving";
  request.usages = {"digital signature", "server auth"};
  request.dns_names = {"worker-1"};
  return request;
}

const nlohmann::json* FindCondition(const nlohmann::json& csr, const std::string& type) {
  if (!csr.is_object() || !csr.contains("status") || !csr["status"].contains("conditions")) {
    return nullptr;
  }
  for (const auto& condition : csr["status"]["conditions"]) {
    if (condition.value("type", "") == type) return &condition;
  }
  return nullptr;
}

size_t ConditionCount(const nlohmann::json& csr) {
  if (!csr.is_object() || !csr.contains("status") || !csr["status"].contains("conditions")) {
    return 0;
  }
  return csr["status"]["conditions"].size();
}

// Issue 9 item 1: kube-apiserver takes an /approval update's metadata from the request
// (csrApprovalStrategy.PrepareForUpdate in pkg/registry/certificates/certificates/strategy.go
// resets only spec and status; rest.BeforeUpdate keeps only uid, name, creationTimestamp and
// generation), and so does the emulator. Other tools' labels, annotations, finalizers and
// owners must survive an approval and a denial.
TEST_F(E2eTest, ApprovalAndDenialKeepOtherToolsMetadata) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);

  const nlohmann::json others = {{"labels", {{"example.com/team", "devs"}}},
                                 {"annotations", {{"example.com/ticket", "T-42"}}},
                                 {"finalizers", {"example.com/audit-hold"}},
                                 {"ownerReferences",
                                  {{{"apiVersion", "v1"},
                                    {"kind", "ConfigMap"},
                                    {"name", "owner"},
                                    {"uid", "6a4c2b1e-0000-4000-8000-000000000001"}}}}};
  CsrRequest approved = AliceClient("kept-approved");
  approved.metadata = others;
  CreateCsr(approved);
  CsrRequest denied = SeedEscalation("kept-denied");
  denied.metadata = others;
  CreateCsr(denied);

  EXPECT_EQ(WaitForDecision("kept-approved"), "Approved");
  EXPECT_EQ(WaitForDecision("kept-denied"), "Denied");
  for (const char* name : {"kept-approved", "kept-denied"}) {
    const nlohmann::json csr = GetCsr(name);
    ASSERT_TRUE(csr.is_object()) << name;
    for (const auto& [field, value] : others.items()) {
      EXPECT_EQ(csr["metadata"].value(field, nlohmann::json()), value) << name << ": " << field;
    }
    EXPECT_EQ(ConditionCount(csr), 1u) << name;
  }
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 2);
}

TEST_F(E2eTest, DecidesByPolicyWithOneWritePerDecision) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);

  CreateCsr(AliceClient("alice-client"));
  CreateCsr(SeedEscalation("seed-escalation"));
  CreateCsr(Impersonation("mallory-as-alice"));
  CreateCsr(CiRunner("runner-1"));
  CreateCsr(KubeletServing("kubelet-serving"));

  EXPECT_EQ(WaitForDecision("alice-client"), "Approved");
  EXPECT_EQ(WaitForDecision("seed-escalation"), "Denied");
  EXPECT_EQ(WaitForDecision("mallory-as-alice"), "Denied");
  EXPECT_EQ(WaitForDecision("runner-1"), "Approved");

  const auto approved = GetCsr("alice-client");
  const auto* condition = FindCondition(approved, "Approved");
  ASSERT_NE(condition, nullptr);
  EXPECT_EQ(condition->value("reason", ""), "AutoApproved");
  EXPECT_NE(condition->value("message", "").find("devs-own-client-cert"), std::string::npos);
  EXPECT_FALSE(condition->value("lastUpdateTime", "").empty());
  EXPECT_EQ(ConditionCount(approved), 1u);

  const auto denied = GetCsr("seed-escalation");
  condition = FindCondition(denied, "Denied");
  ASSERT_NE(condition, nullptr);
  EXPECT_EQ(condition->value("reason", ""), "AutoDenied");
  EXPECT_NE(condition->value("message", "").find("kubeadm:cluster-admins"), std::string::npos)
      << condition->dump();

  // The log action writes nothing: the kubelet-serving CSR stays pending, but is audited once.
  ASSERT_TRUE(Eventually([&] {
    for (const auto& line : approver->LogLines()) {
      if (line.value("csr", "") == "kubelet-serving" && line.value("decision", "") == "log") {
        return true;
      }
    }
    return false;
  }));
  EXPECT_EQ(FindCondition(GetCsr("kubelet-serving"), "Approved"), nullptr);
  EXPECT_EQ(ConditionCount(GetCsr("kubelet-serving")), 0u);

  // Happy path: exactly one write per decision and no reads beyond list+watch.
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 4);
  EXPECT_EQ(ApproverRequests("certificatesigningrequests", "get"), 0);

  // /metrics after this known scenario.
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"devs-own-client-cert\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 1);
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"ci-client-certs\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 1);
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"denied\",rule=\"api-client-other\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 1);
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"denied\",rule=\"devs-own-client-cert\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 1);
  // kubelet-serving: no rule names it, but Kubernetes' own signers are bounded label values.
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"logged\",rule=\"none\",signer=\"kubernetes.io/kubelet-serving\"}"), 1);
  EXPECT_TRUE(Eventually([&] {
    return approver->Metric("kube_csr_approver_pending_csrs{signer=\"kubernetes.io/kubelet-serving\"}") == 1;
  }));
  EXPECT_EQ(approver->Metric("kube_csr_approver_decision_latency_seconds_count{decision=\"approved\"}"), 2);
  EXPECT_EQ(approver->Metric("kube_csr_approver_leader"), 1);
  EXPECT_GE(approver->Metric("kube_csr_approver_api_requests_total{code=\"200\",verb=\"patch\"}"),
            4);
  EXPECT_GT(approver->Metric("process_resident_memory_bytes"), 0);
  EXPECT_EQ(LocalHttpGet(approver->health_port(), "/healthz").status, 200);

  auto exit = approver->Stop(SIGTERM);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_EQ(exit->status, 0);
  EXPECT_LT(exit->took, seconds(5));
}

TEST_F(E2eTest, AuditLineCarriesTheDecisionButNoSecrets) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(SeedEscalation("seed"));
  ASSERT_EQ(WaitForDecision("seed"), "Denied");
  std::optional<nlohmann::json> audit;
  ASSERT_TRUE(Eventually([&] {
    for (const auto& line : approver->LogLines()) {
      if (line.value("csr", "") == "seed" && line.contains("decision")) audit = line;
    }
    return audit.has_value();
  }));
  EXPECT_EQ(audit->value("decision", ""), "deny");
  EXPECT_EQ(audit->value("rule", ""), "api-client-other");
  EXPECT_EQ(audit->value("requestor", ""), "kubernetes-admin");
  EXPECT_NE(audit->dump().find("kubeadm:cluster-admins"), std::string::npos);
  const std::string log = approver->LogText();
  EXPECT_EQ(log.find("BEGIN CERTIFICATE REQUEST"), std::string::npos);
  EXPECT_EQ(log.find("LS0tLS1CRUdJTi"), std::string::npos) << "spec.request must not be logged";
  std::ifstream token_file(emulator_->data_dir() + "/serviceaccount/token");
  std::string token;
  token_file >> token;
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(log.find(token), std::string::npos) << "the bearer token must never be logged";
}

TEST_F(E2eTest, DryRunDecidesButWritesNothing) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy, {"--dry-run"});
  ASSERT_TRUE(approver);
  CreateCsr(AliceClient("alice-dry"));
  CreateCsr(SeedEscalation("seed-dry"));
  ASSERT_TRUE(Eventually([&] {
    int decided = 0;
    for (const auto& line : approver->LogLines()) {
      if (line.value("dry_run", false) && line.contains("decision")) ++decided;
    }
    return decided == 2;
  }));
  EXPECT_EQ(approver->Metric("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"devs-own-client-cert\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 1);
  EXPECT_EQ(WaitForDecision("alice-dry", milliseconds(500)), "");
  EXPECT_EQ(WaitForDecision("seed-dry", milliseconds(100)), "");
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 0);
}

TEST_F(E2eTest, RestartDoesNotDecideTwice) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(AliceClient("before-restart"));
  ASSERT_EQ(WaitForDecision("before-restart"), "Approved");
  auto exit = approver->Stop(SIGTERM);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->status, 0);

  CreateCsr(SeedEscalation("while-down"));
  approver = StartApprover(kClusterPolicy, {}, "approver-2.log");
  ASSERT_TRUE(approver);
  EXPECT_EQ(WaitForDecision("while-down"), "Denied");
  CreateCsr(AliceClient("after-restart"));
  EXPECT_EQ(WaitForDecision("after-restart"), "Approved");
  // before-restart was decided once; the restarted approver skipped it.
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 3);
  EXPECT_EQ(ConditionCount(GetCsr("before-restart")), 1u);
}

TEST_F(E2eTest, WatchDropsAndExpiredHistoryStillDecideEverything) {
  StartEmulator({"--bookmark-interval", "1"});
  // Faults apply to watches opened after they are set: set them before the approver's first
  // watch, which otherwise may or may not start before they are (a race that made this flaky).
  SetFaults({{"dropWatchAfterEvents", 2}, {"expireNextWatches", 2}});
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  for (int i = 0; i < 6; ++i) CreateCsr(AliceClient("alice-" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) CreateCsr(SeedEscalation("seed-" + std::to_string(i)));
  auto compact = admin_->Post("/emulator/v1/compact", nlohmann::json::object());
  ASSERT_TRUE(compact.ok());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(WaitForDecision("alice-" + std::to_string(i)), "Approved");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(WaitForDecision("seed-" + std::to_string(i)), "Denied");
  // The relists after expiry back off, so the CSRs above may all arrive by a list: these arrive
  // by the watch, which is cut every two events.
  for (int i = 0; i < 4; ++i) CreateCsr(AliceClient("late-" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(WaitForDecision("late-" + std::to_string(i)), "Approved");
  // A cut watch is an error restart (a flapping watch must be visible), not a clean close.
  EXPECT_TRUE(Eventually([&] {
    return approver->Metric("kube_csr_approver_watch_restarts_total{reason=\"error\"}") >= 1 &&
           approver->Metric("kube_csr_approver_watch_restarts_total{reason=\"expired\"}") >= 1;
  }));
}

TEST_F(E2eTest, ConflictsAreReReadAndDecidedOnce) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  SetFaults({{"conflictNextApprovals", 3}});
  CreateCsr(AliceClient("alice-conflict"));
  CreateCsr(SeedEscalation("seed-conflict"));
  EXPECT_EQ(WaitForDecision("alice-conflict"), "Approved");
  EXPECT_EQ(WaitForDecision("seed-conflict"), "Denied");
  // Every 409 was met (3 refused writes + 2 accepted) and re-read, but a conflict the re-read
  // resolves is routine: decision_errors_total{conflict} counts only a Write that gave up (at
  // most one here: 3 conflicts in a row on one CSR), so the decision-errors alert stays quiet.
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 5);
  EXPECT_GE(ApproverRequests("certificatesigningrequests", "get"), 2);
  EXPECT_LE(approver->Metric("kube_csr_approver_decision_errors_total{reason=\"conflict\"}"), 1);
  EXPECT_EQ(ConditionCount(GetCsr("alice-conflict")), 1u);
}

TEST_F(E2eTest, ThrottlingAndServerErrorsNeverTurnIntoDenials) {
  StartEmulator();
  for (int i = 0; i < 5; ++i) CreateCsr(AliceClient("alice-flaky-" + std::to_string(i)));
  CreateCsr(SeedEscalation("seed-flaky"));
  // From here on, every client of the API server (this test's included) sees the faults.
  // A write gets one attempt and then waits in the queue, 0.5 s doubling: at half the requests
  // failing, one CSR in 32 met 5 failures in a row (31 s of backoff), too close to a 60 s wait
  // under the sanitizers. At 30 %, 7 in a row (63 s) is 1 in 4 600, and the wait is 120 s.
  SetFaults({{"throttleNextRequests", 4}, {"retryAfterSeconds", 1}, {"errorFraction", 0.3},
             {"errorCode", 503}});
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(WaitForDecision("alice-flaky-" + std::to_string(i), seconds(120)), "Approved");
  }
  EXPECT_EQ(WaitForDecision("seed-flaky", seconds(120)), "Denied");
  double faults_seen = 0;
  for (const char* code : {"429", "503"}) {
    for (const char* verb : {"list", "watch", "patch"}) {
      faults_seen += std::max(0.0, approver->Metric(std::string("kube_csr_approver_api_requests_total{code=\"") +
                                                    code + "\",verb=\"" + verb + "\"}"));
    }
  }
  EXPECT_GE(faults_seen, 1) << "the approver should have met the injected faults";
}

TEST_F(E2eTest, RotatedTokenIsPickedUp) {
  StartEmulator({"--token-grace-seconds", "1"});
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(AliceClient("before-rotation"));
  ASSERT_EQ(WaitForDecision("before-rotation"), "Approved");
  auto rotated = admin_->Post("/emulator/v1/tokens/rotate", nlohmann::json::object());
  ASSERT_TRUE(rotated.ok());
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  std::this_thread::sleep_for(milliseconds(1500));  // the old token is now refused
  CreateCsr(AliceClient("after-rotation"));
  EXPECT_EQ(WaitForDecision("after-rotation", seconds(30)), "Approved");
}

TEST_F(E2eTest, PolicyReloadAppliesToPendingRequestsAndKeepsTheLastGoodPolicy) {
  StartEmulator();
  std::ifstream cluster(kClusterPolicy);
  const std::string approve_policy{std::istreambuf_iterator<char>(cluster),
                                   std::istreambuf_iterator<char>()};
  const std::string log_only =
      "apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\ndefaultAction: log\nrules: []\n";
  // A ConfigMap volume: the file is a symlink into a ..data directory that is swapped.
  std::filesystem::create_directories(dir_ / "v1");
  std::ofstream(dir_ / "v1" / "policy.yaml") << log_only;
  std::filesystem::create_directory_symlink("v1", dir_ / "..data");
  std::filesystem::create_symlink("..data/policy.yaml", dir_ / "policy.yaml");
  auto approver = StartApprover((dir_ / "policy.yaml").string());
  ASSERT_TRUE(approver);

  CreateCsr(AliceClient("waiting-for-policy"));
  EXPECT_EQ(WaitForDecision("waiting-for-policy", milliseconds(1500)), "");

  std::filesystem::create_directories(dir_ / "v2");
  std::ofstream(dir_ / "v2" / "policy.yaml") << approve_policy;
  std::filesystem::create_directory_symlink("v2", dir_ / "..data_tmp");
  std::filesystem::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_EQ(WaitForDecision("waiting-for-policy", seconds(10)), "Approved");
  EXPECT_TRUE(Eventually([&] {
    return approver->Metric("kube_csr_approver_policy_reloads_total{result=\"success\"}") == 1;
  }));

  // A broken policy is refused; the last good one stays in force.
  std::filesystem::create_directories(dir_ / "v3");
  std::ofstream(dir_ / "v3" / "policy.yaml") << "apiVersion: csr.approver.io/v1\nkind: Nope\n";
  std::filesystem::create_directory_symlink("v3", dir_ / "..data_tmp");
  std::filesystem::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_TRUE(Eventually([&] {
    return approver->Metric("kube_csr_approver_policy_reloads_total{result=\"failure\"}") == 1;
  }, seconds(10)));
  CreateCsr(AliceClient("after-broken-policy"));
  EXPECT_EQ(WaitForDecision("after-broken-policy"), "Approved");
  EXPECT_EQ(LocalHttpGet(approver->health_port(), "/readyz").status, 200);
}

TEST_F(E2eTest, InvalidPolicyAtStartExitsWithTheLoaderErrors) {
  StartEmulator();
  const std::string policy = WriteFile(
      "bad.yaml", "apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\ndefaultAction: approve\n");
  ApproverProcess::Options options;
  options.args = {"--policy", policy, "--kubeconfig", emulator_->kubeconfig("approver"),
                  "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address",
                  "127.0.0.1:0"};
  options.log_path = (dir_ / "bad.log").string();
  options.wait_ready = false;
  auto process = ApproverProcess::Start(options);
  ASSERT_TRUE(process.ok());
  auto status = (*process)->Wait(seconds(10));
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 2);
  EXPECT_NE((*process)->LogText().find("bad.yaml:3"), std::string::npos) << (*process)->LogText();
  EXPECT_NE((*process)->LogText().find("defaultAction"), std::string::npos);
}

TEST_F(E2eTest, InClusterConfigurationFromTheServiceAccountFolder) {
  StartEmulator();
  ApproverProcess::Options options;
  options.args = {"--policy", kClusterPolicy, "--metrics-bind-address", "127.0.0.1:0",
                  "--health-probe-bind-address", "127.0.0.1:0"};
  options.env = {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
                 {"KUBERNETES_SERVICE_PORT", std::to_string(emulator_->port())},
                 {"KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR", emulator_->data_dir() + "/serviceaccount"}};
  options.log_path = (dir_ / "in-cluster.log").string();
  auto approver = ApproverProcess::Start(options);
  ASSERT_TRUE(approver.ok()) << approver.error().message;
  CreateCsr(AliceClient("in-cluster"));
  EXPECT_EQ(WaitForDecision("in-cluster"), "Approved");
}

TEST_F(E2eTest, OnlyTheLeaderWritesAndTheOtherTakesOver) {
  StartEmulator();
  const std::vector<std::string> leader_flags = {"--leader-elect", "--leader-election-namespace",
                                                 "kube-system"};
  auto first = StartApprover(kClusterPolicy, leader_flags, "first.log");
  ASSERT_TRUE(first);
  ASSERT_TRUE(Eventually([&] { return first->Metric("kube_csr_approver_leader") == 1; }));
  auto second = StartApprover(kClusterPolicy, leader_flags, "second.log");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->Metric("kube_csr_approver_leader"), 0);

  CreateCsr(AliceClient("with-leader"));
  EXPECT_EQ(WaitForDecision("with-leader"), "Approved");
  EXPECT_EQ(ApproverRequests("certificatesigningrequests/approval", "patch"), 1);
  EXPECT_EQ(second->Metric("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"devs-own-client-cert\",signer=\"kubernetes.io/kube-apiserver-client\"}"), 0)
      << "the follower must not decide (the series exists at 0 for the policy's rules)";

  // The leader dies without releasing the Lease: the follower takes over after it expires.
  const auto killed = std::chrono::steady_clock::now();
  auto killed_exit = first->Stop(SIGKILL);
  ASSERT_FALSE(killed_exit.ok());  // a killed process has no exit status
  EXPECT_NE(killed_exit.error().message.find("signal 9"), std::string::npos)
      << killed_exit.error().message;
  CreateCsr(AliceClient("after-failover"));
  EXPECT_EQ(WaitForDecision("after-failover", seconds(40)), "Approved");
  const auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(took, seconds(15 + 2 + 5)) << "lease duration 15 s + retry period + slack";
  EXPECT_EQ(second->Metric("kube_csr_approver_leader"), 1);

  // A graceful shutdown releases the Lease at once.
  auto exit = second->Stop(SIGTERM);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_EQ(exit->status, 0);
  EXPECT_LT(exit->took, seconds(5));
  auto lease = admin_->Get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-csr-approver");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->Json()["spec"].value("holderIdentity", "x"), "") << lease->body;
}

// Issue 9 item 5: renewals have their own client and budget, so a burst of CSR work throttled
// by a low --qps (here about 20 s of queued requests, twice the renew deadline) never
// holds a renewal back: the leader keeps the Lease throughout.
TEST_F(E2eTest, ACsrBurstUnderALowQpsDoesNotCostTheLease) {
  StartEmulator();
  auto leader = StartApprover(kClusterPolicy,
                              {"--leader-elect", "--leader-election-namespace", "kube-system",
                               "--qps", "2", "--burst", "2", "--workers", "32"},
                              "burst.log");
  ASSERT_TRUE(leader);
  ASSERT_TRUE(Eventually([&] { return leader->Metric("kube_csr_approver_leader") == 1; }));
  constexpr int kBurst = 40;
  for (int i = 0; i < kBurst; ++i) CreateCsr(AliceClient("burst-" + std::to_string(i)));
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_EQ(WaitForDecision("burst-" + std::to_string(i), seconds(90)), "Approved") << i;
  }
  const std::string log = leader->LogText();
  EXPECT_EQ(log.find("stopped leading"), std::string::npos) << log;
  EXPECT_EQ(leader->Metric("kube_csr_approver_leader"), 1);
  auto lease =
      admin_->Get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-csr-approver");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->Json()["spec"].value("leaseTransitions", -1), 0) << lease->body;
}

// A port another process holds: the error names the flag and the OS's reason, not civetweb's.
TEST_F(E2eTest, ABusyProbeOrMetricsPortIsNamedAsSuch) {
  StartEmulator();
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t length = sizeof(address);
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  for (const std::string flag : {"--health-probe-bind-address", "--metrics-bind-address"}) {
    ApproverProcess::Options options;
    options.args = {"--policy",
                    kClusterPolicy,
                    "--kubeconfig",
                    emulator_->kubeconfig("approver"),
                    "--metrics-bind-address",
                    "127.0.0.1:0",
                    "--health-probe-bind-address",
                    "127.0.0.1:0"};
    *(std::find(options.args.begin(), options.args.end(), flag) + 1) = busy;
    options.log_path = (dir_ / "busy.log").string();
    options.wait_ready = false;
    auto process = ApproverProcess::Start(options);
    ASSERT_TRUE(process.ok()) << process.error().message;
    auto status = (*process)->Wait(seconds(20));
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(*status, 1);
    const std::string log = (*process)->LogText();
    EXPECT_NE(log.find(flag), std::string::npos) << log;
    EXPECT_NE(log.find("cannot listen"), std::string::npos) << log;
    EXPECT_NE(log.find(busy), std::string::npos) << log;
    EXPECT_NE(log.find("address already in use"), std::string::npos) << log;
  }
  ::close(holder);
}

// The first signal starts the orderly shutdown; a second one (here already pending when the
// first is taken) ends the process at once with 128 + its number.
TEST_F(E2eTest, ASecondSignalExitsAtOnce) {
  StartEmulator();
  auto approver = StartApprover(kClusterPolicy);
  ASSERT_NE(approver, nullptr);
  // Both signals reach a stopped process, so the second is pending before the first is taken:
  // sent one after the other to a running one, an idle shutdown can end in between (this test
  // was once descheduled between its two kill() calls, and the approver exited 0).
  ASSERT_EQ(::kill(approver->pid(), SIGSTOP), 0);
  ASSERT_EQ(::kill(approver->pid(), SIGINT), 0);
  ASSERT_EQ(::kill(approver->pid(), SIGTERM), 0);
  ASSERT_EQ(::kill(approver->pid(), SIGCONT), 0);
  auto status = approver->Wait(seconds(20));
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 128 + SIGTERM) << approver->LogText();
  EXPECT_NE(approver->LogText().find("second signal: exiting at once"), std::string::npos);
}

}  // namespace
}  // namespace kca::e2e
