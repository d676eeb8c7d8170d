#include "kube_csr_approver/controller/reconciler.h"

#include <gtest/gtest.h>

#include <atomic>

#include "fake_api_client.h"
#include "fake_clock.h"
#include "test_support.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;
using testing::CsrJson;
using testing::MakeApiError;
using testing::MetricValue;
using Outcome = Reconciler::Outcome;

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() { policies_.Set(testing::MustParsePolicy(testing::kTeamPolicy)); }

  // Puts the CSR on the fake server and in the cache, as the informer would.
  CsrObject Arrive(const nlohmann::json& object) {
    api_.Store(CsrPath(object["metadata"]["name"]), object);
    CsrObject csr = testing::MustDecode(object);
    cache_.Upsert(csr);
    return csr;
  }
  nlohmann::json Stored(const std::string& name) { return *api_.Object(CsrPath(name)); }
  double Series(const std::string& series) { return MetricValue(metrics_, series).value_or(-1); }

  testing::CapturedLog log_;
  testing::FakeClock clock_;
  testing::FakeApiClient api_;
  ApproverMetrics metrics_{"test", "test"};
  PolicyHolder policies_;
  PendingCsrCache cache_{clock_};
  std::atomic<bool> leader_{true};
  WriteGate gate_{[this] { return leader_.load(); }};
  ReconcilerOptions options_;
  ApprovalWriterOptions writer_options_;
  std::unique_ptr<ApprovalWriter> writer_;
  std::unique_ptr<DecisionSink> sink_;
  std::unique_ptr<Reconciler> MakeReconciler(kube::EventRecorder* events = nullptr,
                                             WriteGate* gate = nullptr) {
    if (gate == nullptr) gate = &gate_;
    writer_ = std::make_unique<ApprovalWriter>(api_, clock_, *gate, writer_options_);
    sink_ = std::make_unique<DecisionSink>(metrics_, clock_, events);
    return std::make_unique<Reconciler>(cache_, policies_, *writer_, *sink_, *gate, options_);
  }
};

TEST_F(ReconcilerTest, ApprovesWithExactlyOneWriteAndNoRead) {
  nlohmann::json object = CsrJson("a", "alice", "alice", "team-a");
  object["status"]["conditions"] = {{{"type", "Custom"}, {"status", "False"}, {"reason", "X"}}};
  Arrive(object);
  clock_.Advance(250ms);
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);

  const auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].verb, "patch");
  EXPECT_EQ(calls[0].path, "/apis/certificates.k8s.io/v1/certificatesigningrequests/a/approval");
  const auto& body = calls[0].body;
  EXPECT_FALSE(body.contains("spec")) << "a merge patch names only what changes";
  EXPECT_EQ(body["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(body["metadata"]["uid"], "uid-a");
  ASSERT_EQ(body["status"]["conditions"].size(), 2u) << "existing conditions are kept";
  EXPECT_EQ(body["status"]["conditions"][0]["type"], "Custom");
  const auto& added = body["status"]["conditions"][1];
  EXPECT_EQ(added["type"], "Approved");
  EXPECT_EQ(added["status"], "True");
  EXPECT_EQ(added["reason"], "AutoApproved");
  EXPECT_NE(added["message"].get<std::string>().find("alice-clients"), std::string::npos);
  EXPECT_EQ(added["lastUpdateTime"], "2027-01-15T08:00:00Z");

  EXPECT_FALSE(cache_.Get("a").has_value());
  EXPECT_EQ(Series("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"alice-clients\","
                   "signer=\"kubernetes.io/kube-apiserver-client\"}"),
            1);
  EXPECT_EQ(Series("kube_csr_approver_decision_latency_seconds_sum{decision=\"approved\"}"), 0.25);
  EXPECT_EQ(log_.Count("\"decision\":\"approve\""), 1) << log_.text();
  EXPECT_EQ(log_.text().find(object["spec"]["request"].get<std::string>()), std::string::npos)
      << "the request bytes are never logged";
}

TEST_F(ReconcilerTest, DeniesAViolationWithTheReasons) {
  Arrive(CsrJson("a", "alice", "alice", "system:masters"));
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);
  const auto conditions = Stored("a")["status"]["conditions"];
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0]["type"], "Denied");
  EXPECT_EQ(conditions[0]["reason"], "AutoDenied");
  const std::string message = conditions[0]["message"];
  EXPECT_NE(message.find("rule \"alice-clients\""), std::string::npos) << message;
  EXPECT_NE(message.find("system:masters"), std::string::npos) << message;
  EXPECT_LE(message.size(), kMaxMessageBytes);
}

TEST_F(ReconcilerTest, LogActionWritesNothingAndAuditsOncePerPolicyVersion) {
  Arrive(CsrJson("b", "bob", "bob", "team-b"));
  auto reconciler = MakeReconciler();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(reconciler->Reconcile("b"), Outcome::kDone);
  EXPECT_TRUE(api_.calls().empty());
  EXPECT_TRUE(cache_.Get("b").has_value()) << "a logged CSR stays pending";
  EXPECT_EQ(log_.Count("\"decision\":\"log\""), 1);
  // The signer is named literally by a selector, so it is its own label even with no rule.
  EXPECT_EQ(Series("kube_csr_approver_decisions_total{decision=\"logged\",rule=\"none\","
                   "signer=\"kubernetes.io/kube-apiserver-client\"}"),
            1);

  policies_.Set(testing::MustParsePolicy(std::string(testing::kTeamPolicy) + "# v2\n"));
  EXPECT_EQ(reconciler->Reconcile("b"), Outcome::kDone);
  EXPECT_EQ(log_.Count("\"decision\":\"log\""), 2) << "a new policy version is audited again";
}

TEST_F(ReconcilerTest, DryRunDecidesAndCountsButWritesNothing) {
  options_.dry_run = true;
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  Arrive(CsrJson("m", "alice", "alice", "system:masters"));
  auto reconciler = MakeReconciler();
  EXPECT_EQ(reconciler->Reconcile("a"), Outcome::kDone);
  EXPECT_EQ(reconciler->Reconcile("m"), Outcome::kDone);
  EXPECT_EQ(reconciler->Reconcile("m"), Outcome::kDone);
  EXPECT_TRUE(api_.calls().empty());
  EXPECT_EQ(log_.Count("\"dry_run\":true"), 2) << log_.text();
  EXPECT_EQ(Series("kube_csr_approver_decisions_total{decision=\"denied\",rule=\"alice-clients\","
                   "signer=\"kubernetes.io/kube-apiserver-client\"}"),
            1);
}

TEST_F(ReconcilerTest, ConflictRereadsAndSkipsWhatSomeoneElseDecided) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  // Someone denies it first: the stored object moves on, our cached copy is stale.
  nlohmann::json stored = CsrJson("a", "alice", "alice", "team-a", "7");
  stored["status"]["conditions"] = {{{"type", "Denied"}, {"status", "True"}, {"reason", "Human"}}};
  api_.Store(CsrPath("a"), stored);

  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);
  ASSERT_EQ(api_.CountCalls("patch"), 1);
  EXPECT_EQ(api_.CountCalls("get"), 1);
  const auto conditions = Stored("a")["status"]["conditions"];
  ASSERT_EQ(conditions.size(), 1u) << "never added to a decided CSR";
  EXPECT_EQ(conditions[0]["reason"], "Human");
  EXPECT_FALSE(cache_.Get("a").has_value());
  EXPECT_LE(Series("kube_csr_approver_decision_errors_total{reason=\"conflict\"}"), 0)
      << "a conflict resolved by the re-read is routine, not a decision error (issue 10)";
}

TEST_F(ReconcilerTest, ConflictRereadsAndWritesAgainWithTheFreshVersion) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  nlohmann::json stored = CsrJson("a", "alice", "alice", "team-a", "8");
  stored["metadata"]["labels"] = {{"touched", "yes"}};
  api_.Store(CsrPath("a"), stored);

  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);
  const auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].body["metadata"]["resourceVersion"], "8");
  EXPECT_EQ(Stored("a")["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ(Stored("a")["metadata"]["labels"]["touched"], "yes") << "the other writer's label";
}

// Issue 9 item 1: kube-apiserver takes an /approval update's metadata from the request
// (csrApprovalStrategy.PrepareForUpdate resets only spec and status,
// pkg/registry/certificates/certificates/strategy.go), and so does the fake: a write that does
// not carry other tools' metadata must leave it as stored.
TEST_F(ReconcilerTest, ApprovalAndDenialKeepOtherToolsMetadata) {
  const nlohmann::json others = {
      {"labels", {{"team", "a"}}},
      {"annotations", {{"example.com/ticket", "T-1"}}},
      {"finalizers", {"example.com/keep"}},
      {"ownerReferences",
       {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "o"}, {"uid", "o-uid"}}}}};
  for (const char* org : {"team-a", "system:masters"}) {
    const std::string name = std::string("csr-") + (org[0] == 't' ? "approve" : "deny");
    nlohmann::json object = CsrJson(name, "alice", "alice", org);
    object["metadata"].update(others);
    Arrive(object);
    EXPECT_EQ(MakeReconciler()->Reconcile(name), Outcome::kDone);
    const nlohmann::json stored = Stored(name);
    ASSERT_EQ(stored["status"]["conditions"].size(), 1u) << name;
    for (const auto& [field, value] : others.items()) {
      EXPECT_EQ(stored["metadata"][field], value) << name << ": " << field;
    }
  }
}

TEST_F(ReconcilerTest, RepeatedConflictsGiveTheItemBackForLater) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  api_.FailNextWrites(10, MakeApiError(409, "Conflict"));
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kRetry);
  EXPECT_EQ(api_.CountCalls("patch"), writer_options_.max_conflict_rereads);
  EXPECT_TRUE(cache_.Get("a").has_value());
  EXPECT_EQ(Series("kube_csr_approver_decision_errors_total{reason=\"conflict\"}"), 1)
      << "counted once, when the re-reads give up";
}

TEST_F(ReconcilerTest, NotFoundDropsTheCsr) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  api_.Erase(CsrPath("a"));
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);
  EXPECT_FALSE(cache_.Get("a").has_value());
}

TEST_F(ReconcilerTest, TransientErrorsAreRetriedNeverTurnedIntoADeny) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  api_.FailNextWrites(1, MakeApiError(500, "InternalError"));
  api_.FailNextWrites(1, testing::MakeTransportError(kube::ApiErrorCode::kConnectionFailed));
  api_.FailNextWrites(1, MakeApiError(403, "Forbidden"));
  auto reconciler = MakeReconciler();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(reconciler->Reconcile("a"), Outcome::kRetry);
  EXPECT_TRUE(Stored("a")["status"]["conditions"].empty());
  EXPECT_EQ(Series("kube_csr_approver_decision_errors_total{reason=\"api\"}"), 2);
  EXPECT_EQ(Series("kube_csr_approver_decision_errors_total{reason=\"forbidden\"}"), 1);
  EXPECT_EQ(Series("kube_csr_approver_decisions_total{decision=\"approved\",rule=\"alice-clients\","
                   "signer=\"kubernetes.io/kube-apiserver-client\"}"),
            -1)
      << "nothing counted before a write is accepted";

  EXPECT_EQ(reconciler->Reconcile("a"), Outcome::kDone);
  const auto conditions = Stored("a")["status"]["conditions"];
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0]["type"], "Approved");
}

TEST_F(ReconcilerTest, AnUndecodableFreshObjectIsAParseErrorAndRetried) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  api_.FailNextWrites(1, MakeApiError(409, "Conflict"));
  nlohmann::json broken = Stored("a");
  broken["spec"].erase("signerName");
  api_.Store(CsrPath("a"), broken);
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kRetry);
  EXPECT_EQ(Series("kube_csr_approver_decision_errors_total{reason=\"parse\"}"), 1);
}

TEST_F(ReconcilerTest, ANonLeaderNeitherReadsNorWrites) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  leader_ = false;
  EXPECT_EQ(MakeReconciler()->Reconcile("a"), Outcome::kDone);
  EXPECT_TRUE(api_.calls().empty());
  EXPECT_TRUE(cache_.Get("a").has_value());
}

TEST_F(ReconcilerTest, TheGateIsCheckedRightBeforeTheWrite) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  int checks = 0;
  WriteGate closes_after_the_first_check([&] { return ++checks == 1; });
  auto reconciler = MakeReconciler(nullptr, &closes_after_the_first_check);
  EXPECT_EQ(reconciler->Reconcile("a"), Outcome::kDone);
  EXPECT_EQ(checks, 2);
  EXPECT_TRUE(api_.calls().empty());
}

TEST_F(ReconcilerTest, RecordsAnEventForEachWrittenDecision) {
  Arrive(CsrJson("a", "alice", "alice", "team-a"));
  Arrive(CsrJson("m", "alice", "alice", "system:masters"));
  kube::EventRecorderOptions event_options;
  event_options.reporting_instance = "pod-1";
  kube::EventRecorder events(api_, clock_, event_options);
  auto reconciler = MakeReconciler(&events);
  EXPECT_EQ(reconciler->Reconcile("a"), Outcome::kDone);
  EXPECT_EQ(reconciler->Reconcile("m"), Outcome::kDone);
  ASSERT_TRUE(api_.WaitForCalls("create", 2));
  std::map<std::string, nlohmann::json> by_csr;
  for (const auto& call : api_.calls()) {
    if (call.verb != "create") continue;
    EXPECT_EQ(call.path, "/apis/events.k8s.io/v1/namespaces/default/events");
    by_csr[call.body["regarding"]["name"]] = call.body;
  }
  const auto& approved = by_csr["a"];
  EXPECT_EQ(approved["reason"], "AutoApproved");
  EXPECT_EQ(approved["type"], "Normal");
  EXPECT_EQ(approved["regarding"]["kind"], "CertificateSigningRequest");
  EXPECT_EQ(approved["regarding"]["uid"], "uid-a");
  EXPECT_EQ(approved["reportingController"], "csr.approver.io/kube-csr-approver");
  EXPECT_EQ(approved["reportingInstance"], "pod-1");
  EXPECT_EQ(approved["eventTime"], "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ(approved["metadata"]["name"].get<std::string>().rfind("a.", 0), 0u);
  EXPECT_EQ(by_csr["m"]["type"], "Warning");
  EXPECT_EQ(by_csr["m"]["reason"], "AutoDenied");
}

}  // namespace
}  // namespace kca::controller

namespace kca::controller {
namespace {

constexpr std::string_view kKubeletServingPolicy = R"(apiVersion: csr.approver.io/v1
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
)";

nlohmann::json ServingCsrJson(const std::string& name, const std::string& node,
                              const std::string& dns_name) {
  testing::CsrObjectSpec spec;
  spec.name = name;
  spec.uid = "uid-" + name;
  spec.signer_name = "kubernetes.io/kubelet-serving";
  spec.usages = {"digital signature", "server auth"};
  spec.username = "system:node:" + node;
  spec.groups = {"system:nodes", "system:authenticated"};
  testing::RequestSpec request;
  request.subject = {{"O", "system:nodes"}, {"CN", "system:node:" + node}};
  request.dns_names = {dns_name};
  spec.request_pem = testing::MakeRequestPem(request);
  return testing::MakeCsrObject(spec);
}

nlohmann::json NodeJson(const std::string& name, const std::string& hostname) {
  nlohmann::json node = {{"apiVersion", "v1"},
                         {"kind", "Node"},
                         {"metadata", {{"name", name}, {"resourceVersion", "7"}}}};
  if (!hostname.empty()) {
    node["status"]["addresses"] = {{{"type", "Hostname"}, {"address", hostname}}};
  }
  return node;
}

class NodeIdentityReconcilerTest : public ReconcilerTest {
 protected:
  NodeIdentityReconcilerTest() {
    policies_.Set(testing::MustParsePolicy(kKubeletServingPolicy));
    options_.node_facts = &source_;
  }
  int Writes() {
    int writes = 0;
    for (const auto& call : api_.calls()) writes += call.verb == "patch" || call.verb == "update";
    return writes;
  }
  ApiNodeFactsSource source_{api_, metrics_, clock_, NodeFactsOptions{}};
};

// A Node that appears after its kubelet's CSR, and addresses that appear after the Node: the
// CSR waits (nothing written, no decision counted) and is approved once they exist.
TEST_F(NodeIdentityReconcilerTest, WaitsForTheNodeAndItsAddressesThenApproves) {
  Arrive(ServingCsrJson("serving", "w1", "w1.example.com"));
  auto reconciler = MakeReconciler();
  EXPECT_EQ(reconciler->Reconcile("serving"), Outcome::kWaitForNode);
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(Series("kube_csr_approver_node_lookups_total{result=\"missing\"}"), 1);

  api_.Store("/api/v1/nodes/w1", NodeJson("w1", ""));
  EXPECT_EQ(reconciler->Reconcile("serving"), Outcome::kWaitForNode);
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(Series("kube_csr_approver_node_lookups_total{result=\"missing\"}"), 2);
  // No denial counted (-1: the series does not even exist).
  EXPECT_LE(Series("kube_csr_approver_decisions_total{decision=\"denied\",rule=\"kubelet-serving\","
                   "signer=\"kubernetes.io/kubelet-serving\"}"),
            0);

  api_.Store("/api/v1/nodes/w1", NodeJson("w1", "W1.example.com."));
  EXPECT_EQ(reconciler->Reconcile("serving"), Outcome::kDone);
  ASSERT_EQ(Writes(), 1);
  EXPECT_EQ(Stored("serving")["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ(Series("kube_csr_approver_node_lookups_total{result=\"found\"}"), 1);
}

TEST_F(NodeIdentityReconcilerTest, LookupErrorsWaitNeverDeny) {
  Arrive(ServingCsrJson("serving", "w1", "w1.example.com"));
  api_.Store("/api/v1/nodes/w1", NodeJson("w1", "w1.example.com"));
  api_.FailNextReads(1, testing::MakeApiError(503, "ServiceUnavailable"));
  auto reconciler = MakeReconciler();
  EXPECT_EQ(reconciler->Reconcile("serving"), Outcome::kWaitForNode);
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(Series("kube_csr_approver_node_lookups_total{result=\"error\"}"), 1);
  EXPECT_EQ(reconciler->Reconcile("serving"), Outcome::kDone);
  EXPECT_EQ(Stored("serving")["status"]["conditions"][0]["type"], "Approved");
}

// A SubjectAccessReview that cannot be made (here 503) is a lookup error: counted, never a denial.
TEST_F(NodeIdentityReconcilerTest, AFailedReviewIsCountedAndWaits) {
  policies_.Set(testing::MustParsePolicy(R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: kubelet-client-renewal
    selector: {signerNames: [kubernetes.io/kube-apiserver-client-kubelet]}
    allowed:
      commonName: {nodeIdentity: true}
      organizations: [system:nodes]
      usages: [digital signature, client auth]
    constraints:
      requestorAuthorized: {group: certificates.k8s.io, resource: certificatesigningrequests,
                            subresource: selfnodeclient, verb: create}
    action: approve
    onViolation: deny
)"));
  testing::CsrObjectSpec spec;
  spec.name = "renewal";
  spec.uid = "uid-renewal";
  spec.signer_name = "kubernetes.io/kube-apiserver-client-kubelet";
  spec.usages = {"digital signature", "client auth"};
  spec.username = "system:node:w1";
  spec.groups = {"system:nodes", "system:authenticated"};
  testing::RequestSpec request;
  request.subject = {{"O", "system:nodes"}, {"CN", "system:node:w1"}};
  spec.request_pem = testing::MakeRequestPem(request);
  Arrive(testing::MakeCsrObject(spec));
  api_.FailNextWrites(1, testing::MakeApiError(503, "ServiceUnavailable"));
  EXPECT_EQ(MakeReconciler()->Reconcile("renewal"), Outcome::kWaitForFacts);
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(Series("kube_csr_approver_node_lookups_total{result=\"error\"}"), 1);
}

// The issue's report: worker-1 asking for worker-2's name is denied, not approved.
TEST_F(NodeIdentityReconcilerTest, AnotherNodesNameIsDenied) {
  Arrive(ServingCsrJson("serving", "worker-1", "worker-2.nodes.example.com"));
  api_.Store("/api/v1/nodes/worker-1", NodeJson("worker-1", "worker-1.nodes.example.com"));
  EXPECT_EQ(MakeReconciler()->Reconcile("serving"), Outcome::kDone);
  EXPECT_EQ(Stored("serving")["status"]["conditions"][0]["type"], "Denied");
}

}  // namespace
}  // namespace kca::controller
