// The controller against kube-apiserver-emulator over TLS, with the real ApiClient and informer:
// decisions land on the server as the real API expects them, with one write each, through
// conflicts and server errors, and two replicas elect one writer.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "csr_factory.h"
#include "emulator_process.h"
#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/controller/controller.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "request_counter.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

const std::string kCsrs(kube::kCsrCollectionPath);

constexpr std::string_view kPolicy = R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
defaultAction: log
rules:
  - name: alice-clients
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client]
      requestor: {usernames: [alice]}
    allowed:
      commonName: {sameAsRequestor: true}
      organizations: [devs]
      usages: [digital signature, key encipherment, client auth]
    required: {usages: [client auth]}
    action: approve
    onViolation: deny
)";

template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::seconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string Render(const ApproverMetrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

// A controller with its own client, policy and metrics, running on its own thread.
class Replica {
 public:
  Replica(const std::string& kubeconfig, const std::string& policy_path,
          ControllerOptions options) {
    auto config = kube::LoadKubeconfigFile(kubeconfig);
    EXPECT_TRUE(config.ok()) << config.error().message;
    kube::ApiClientOptions client_options;
    client_options.qps = 0;
    client_options.retry_backoff = {10ms, 50ms, 2.0, 0.1};
    client_options.observer = requests.Observer();
    auto client =
        kube::NewApiClient(*config, kube::NewCredentialSource(*config, RealClock::Instance()),
                           RealClock::Instance(), client_options);
    EXPECT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(*client);
    watcher_ = std::make_unique<PolicyFileWatcher>(policy_path, policies_, metrics);
    EXPECT_TRUE(watcher_->LoadInitial().ok());
    options.queue.retry_initial = 20ms;
    controller_ = std::make_unique<Controller>(*client_, RealClock::Instance(), metrics, health,
                                               policies_, watcher_.get(), std::move(options));
    EXPECT_TRUE(controller_->Validate().ok());
    thread_ = std::thread([this] { controller_->Run(); });
  }
  ~Replica() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    controller_->Stop();
    thread_.join();
  }
  Controller& controller() { return *controller_; }

  kca::testing::RequestCounter requests;
  ApproverMetrics metrics{"test", "test"};
  HealthState health{RealClock::Instance(), 2min};

 private:
  std::unique_ptr<kube::ApiClient> client_;
  PolicyHolder policies_;
  std::unique_ptr<PolicyFileWatcher> watcher_;
  std::unique_ptr<Controller> controller_;
  std::thread thread_;
};

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator::EmulatorProcess::Options options;
    options.extra_args = {"--bookmark-interval", "1"};
    auto started = emulator::EmulatorProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.error().message;
    emulator_ = std::move(*started);
    admin_ = Client("admin");
    alice_ = Client("user");
    ASSERT_NE(admin_, nullptr);
    ASSERT_NE(alice_, nullptr);
    policy_path_ = emulator_->data_dir() + "/policy.yaml";
    std::ofstream(policy_path_) << kPolicy;
  }

  std::unique_ptr<kube::ApiClient> Client(const std::string& identity) {
    auto config = kube::LoadKubeconfigFile(emulator_->kubeconfig(identity));
    EXPECT_TRUE(config.ok()) << config.error().message;
    if (!config.ok()) return nullptr;
    kube::ApiClientOptions options;
    options.qps = 0;
    auto client =
        kube::NewApiClient(*config, kube::NewCredentialSource(*config, RealClock::Instance()),
                           RealClock::Instance(), options);
    EXPECT_TRUE(client.ok()) << client.error().message;
    return client.ok() ? std::move(*client) : nullptr;
  }

  // alice asks for a client certificate with subject CN/O.
  void CreateCsr(const std::string& name, const std::string& cn, const std::string& organization,
                 const std::string& signer = "kubernetes.io/kube-apiserver-client") {
    testing::CsrObjectSpec spec;
    spec.name = name;
    spec.signer_name = signer;
    testing::RequestSpec request;
    request.subject = {{"CN", cn}, {"O", organization}};
    spec.request_pem = testing::MakeRequestPem(request);
    nlohmann::json object = testing::MakeCsrObject(spec);
    object["metadata"].erase("resourceVersion");
    object["metadata"].erase("uid");
    object.erase("status");
    auto created = alice_->Create(kCsrs, object);
    ASSERT_TRUE(created.ok()) << created.error().message;
  }

  // The type of the last condition, "" while pending.
  std::string Condition(const std::string& name) {
    auto csr = admin_->Get(kCsrs + "/" + name);
    if (!csr.ok()) return "error";
    const auto& conditions = (*csr)["status"].value("conditions", nlohmann::json::array());
    return conditions.empty() ? "" : conditions.back().value("type", "");
  }

  void SetFaults(const nlohmann::json& faults) {
    auto set = admin_->Create("/emulator/v1/faults", faults);
    ASSERT_TRUE(set.ok()) << set.error().message;
  }

  ControllerOptions Options() {
    ControllerOptions options;
    options.events.reporting_instance = "it";
    return options;
  }

  std::unique_ptr<emulator::EmulatorProcess> emulator_;
  std::unique_ptr<kube::ApiClient> admin_, alice_;
  std::string policy_path_;
};

TEST_F(ControllerIntegrationTest, ApprovesDeniesAndLogsWithOneWritePerDecision) {
  CreateCsr("alice-ok", "alice", "devs");
  CreateCsr("alice-admin", "alice", "kubeadm:cluster-admins");
  CreateCsr("other-signer", "alice", "devs", "example.com/custom");
  Replica replica(emulator_->kubeconfig("approver"), policy_path_, Options());
  ASSERT_TRUE(WaitUntil([&] { return Condition("alice-ok") == "Approved"; }));
  ASSERT_TRUE(WaitUntil([&] { return Condition("alice-admin") == "Denied"; }));
  ASSERT_TRUE(WaitUntil([&] { return replica.health.Readiness().status == 200; }));

  CreateCsr("alice-late", "alice", "devs");
  ASSERT_TRUE(WaitUntil([&] { return Condition("alice-late") == "Approved"; }));
  EXPECT_EQ(Condition("other-signer"), "");

  auto approved = *admin_->Get(kCsrs + "/alice-ok");
  const auto& condition = approved["status"]["conditions"][0];
  EXPECT_EQ(condition["reason"], "AutoApproved");
  EXPECT_EQ(condition["status"], "True");
  EXPECT_NE(condition["message"].get<std::string>().find("alice-clients"), std::string::npos);
  auto denied = *admin_->Get(kCsrs + "/alice-admin");
  EXPECT_NE(denied["status"]["conditions"][0]["message"].get<std::string>().find(
                "kubeadm:cluster-admins"),
            std::string::npos);

  EXPECT_EQ(replica.requests.Count("patch 200"), 3) << "one write per decision";
  EXPECT_EQ(replica.requests.Count("get 200"), 0) << "no reads beyond list and watch";
  ASSERT_TRUE(WaitUntil([&] { return replica.requests.Count("create 201") == 3; })) << "Events";
  auto events = admin_->List("/apis/events.k8s.io/v1/namespaces/default/events", {});
  ASSERT_TRUE(events.ok()) << events.error().message;
  EXPECT_EQ((*events)["items"].size(), 3u);
}

TEST_F(ControllerIntegrationTest, ConflictsAndServerErrorsStillEndInTheRightDecision) {
  CreateCsr("a", "alice", "devs");
  CreateCsr("b", "alice", "system:nodes");
  for (int i = 0; i < 6; ++i) CreateCsr("c" + std::to_string(i), "alice", "devs");
  // Two stale-version answers, then a third of all requests failing with 503.
  SetFaults({{"conflictNextApprovals", 2}, {"errorFraction", 0.3}, {"errorCode", 503}});
  Replica replica(emulator_->kubeconfig("approver"), policy_path_, Options());
  ASSERT_TRUE(WaitUntil([&] { return Condition("a") == "Approved"; }));
  ASSERT_TRUE(WaitUntil([&] { return Condition("b") == "Denied"; }));
  for (int i = 0; i < 6; ++i) {
    const std::string name = "c" + std::to_string(i);
    EXPECT_TRUE(WaitUntil([&] { return Condition(name) == "Approved"; })) << name;
  }
  SetFaults({{"errorFraction", 0.0}});
  const std::string text = Render(replica.metrics);
  // Both 409s were met and resolved by a re-read: routine, not decision errors.
  EXPECT_EQ(replica.requests.Count("patch 409"), 2);
  EXPECT_EQ(text.find("decision_errors_total{reason=\"conflict\"} 2"), std::string::npos) << text;
}

TEST_F(ControllerIntegrationTest, DryRunWritesNothing) {
  CreateCsr("a", "alice", "devs");
  CreateCsr("b", "alice", "system:nodes");
  auto options = Options();
  options.dry_run = true;
  Replica replica(emulator_->kubeconfig("approver"), policy_path_, options);
  ASSERT_TRUE(WaitUntil([&] { return replica.health.Readiness().status == 200; }));
  ASSERT_TRUE(WaitUntil([&] {
    const std::string text = Render(replica.metrics);
    return text.find("decisions_total{decision=\"approved\"") != std::string::npos &&
           text.find("decisions_total{decision=\"denied\"") != std::string::npos;
  }));
  replica.Stop();
  EXPECT_EQ(Condition("a"), "");
  EXPECT_EQ(Condition("b"), "");
  EXPECT_EQ(replica.requests.Count("patch 200"), 0);
  EXPECT_EQ(replica.requests.Count("create 201"), 0);
}

TEST_F(ControllerIntegrationTest, TwoReplicasElectOneWriterAndTheOtherTakesOver) {
  auto options_for = [&](const std::string& identity) {
    auto options = Options();
    kube::LeaderElectionOptions election;
    election.lease_namespace = "kube-system";
    election.identity = identity;
    election.lease_duration = 3s;
    election.renew_deadline = 2s;
    election.retry_period = 200ms;
    options.leader_election = election;
    return options;
  };
  auto a = std::make_unique<Replica>(emulator_->kubeconfig("approver"), policy_path_,
                                     options_for("replica-a"));
  ASSERT_TRUE(WaitUntil([&] { return a->controller().MayWrite(); }));
  Replica b(emulator_->kubeconfig("approver"), policy_path_, options_for("replica-b"));
  CreateCsr("first", "alice", "devs");
  ASSERT_TRUE(WaitUntil([&] { return Condition("first") == "Approved"; }));
  EXPECT_FALSE(b.controller().MayWrite());
  EXPECT_EQ(b.requests.Count("update 200") + b.requests.Count("patch 200"), 0)
      << "the follower writes neither Lease nor CSR";

  a->Stop();  // releases the Lease
  ASSERT_TRUE(WaitUntil([&] { return b.controller().MayWrite(); }, 5s));
  CreateCsr("second", "alice", "devs");
  ASSERT_TRUE(WaitUntil([&] { return Condition("second") == "Approved"; }));
  auto lease =
      admin_->Get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-csr-approver");
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "replica-b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

}  // namespace
}  // namespace kca::controller
