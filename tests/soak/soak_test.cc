// Chaos soak (issue 11): two replicas of the real binary with leader election against the API
// emulator, a generator of CSRs whose right decision is known, seeded random faults of every kind
// the emulator has, SIGKILL of the leader, SIGTERM of the follower, and a policy file rewritten
// and once broken. The invariants are checked at the end from the emulator's state, its request
// counts and its audit log of writes (docs/emulator.md), and printed as a table naming each one;
// docs/reliability.md explains the figures and how to run the long form.
//
// Environment: KCA_SOAK_SECONDS (default 150), KCA_SOAK_SEED (default: random, printed),
// KCA_SOAK_RATE (CSRs per second, default 2), KCA_SOAK_OUTPUT (default: soak-output in the build
// tree; samples as CSV, summary.json, soak.png).
//
// Leader election follows client-go's tools/leaderelection/leaderelection.go: a replica may write
// only while it holds the Lease and its renewTime + leaseDurationSeconds has not passed.
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "e2e_fixture.h"

namespace kca::soak {
namespace {

using Clock = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;
using e2e::ApproverProcess;
using e2e::CsrRequest;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSourceDir = KCA_SOURCE_DIR;
constexpr const char* kLeaseNamespace = "kube-system";
constexpr const char* kLeaseName = "kube-csr-approver";
constexpr const char* kReplicaGroup = "soak:replicas";
constexpr int kReplicas = 2;
// Runs this long or longer are the long form: a calm window for the memory verdict, which must
// then judge at least one series.
constexpr double kLongFormSeconds = 1200;

double EnvNumber(const char* name, double fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::strtod(value, nullptr);
}

// ---- the policy: P1 at start, P2 adds a rule (team-b), P2' is P2 with a comment, P3 is broken.

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Node identity (issue 12) for the kubelets named nid-*: first, so they precede cluster.yaml's
// kubelet-client-renewal (system:node:*); other kubelets keep cluster.yaml's rules.
std::string FirstPolicy() {
  std::string policy = ReadFile(kSourceDir + "/examples/policies/cluster.yaml");
  const std::string rules = "rules:\n";
  policy.insert(policy.find(rules) + rules.size(),
                "  - name: soak-kubelet-serving\n"
                "    selector:\n"
                "      signerNames: [kubernetes.io/kubelet-serving]\n"
                "      requestor:\n"
                "        usernames: [\"system:node:nid-*\"]\n"
                "        groups: [system:nodes]\n"
                "    allowed:\n"
                "      commonName: {nodeIdentity: true}\n"
                "      organizations: [system:nodes]\n"
                "      dnsNames: [{nodeAddresses: true}]\n"
                "      ipAddresses: [{nodeAddresses: true}]\n"
                "      usages: [digital signature, key encipherment, server auth]\n"
                "    required:\n"
                "      usages: [server auth]\n"
                "    constraints:\n"
                "      reservedSANs: true\n"
                "      serviceCIDRs: [10.96.0.0/12]\n"
                "    action: approve\n"
                "    onViolation: deny\n"
                "  - name: soak-kubelet-client\n"
                "    selector:\n"
                "      signerNames: [kubernetes.io/kube-apiserver-client-kubelet]\n"
                "      requestor:\n"
                "        usernames: [\"system:node:nid-*\"]\n"
                "        groups: [system:nodes]\n"
                "    allowed:\n"
                "      commonName: {nodeIdentity: true}\n"
                "      organizations: [system:nodes]\n"
                "      usages: [digital signature, key encipherment, client auth]\n"
                "    required:\n"
                "      usages: [client auth]\n"
                "    constraints:\n"
                "      requestorAuthorized: {group: certificates.k8s.io, resource: "
                "certificatesigningrequests, subresource: selfnodeclient, verb: create}\n"
                "    action: approve\n"
                "    onViolation: deny\n");
  return policy;
}

std::string SecondPolicy() {
  std::string policy = FirstPolicy();
  const std::string rules = "rules:\n";
  policy.insert(policy.find(rules) + rules.size(),
                "  - name: team-b-client-certs\n"
                "    selector:\n"
                "      signerNames: [kubernetes.io/kube-apiserver-client]\n"
                "      requestor:\n"
                "        groups: [team-b]\n"
                "    allowed:\n"
                "      commonName: {sameAsRequestor: true}\n"
                "      organizations: [team-b]\n"
                "      usages: [digital signature, key encipherment, client auth]\n"
                "    required:\n"
                "      usages: [client auth]\n"
                "    action: approve\n"
                "    onViolation: deny\n");
  return policy;
}

constexpr int kFirstPolicyRules = 6;
constexpr int kSecondPolicyRules = 7;

// ---- the generator: kinds of CSRs and the decision the policy in force gives them.

enum class Expect { kApprove, kDeny, kLog };
const char* ExpectName(Expect e) {
  return e == Expect::kApprove ? "Approved" : e == Expect::kDeny ? "Denied" : "pending";
}

// When the requestor's Node (node identity, issue 12) comes to hold the facts the decision needs.
enum class NodeFacts {
  kNone,           // the decision needs no Node
  kBefore,         // created, with its addresses, before the CSR
  kLateNode,       // created, with its addresses, a few seconds after the CSR
  kLateAddresses,  // created without addresses with the CSR, the addresses a few seconds later
};

struct CsrKind {
  std::string name;
  Expect expect;
  bool second_policy_only;  // generated only once the second policy is in force everywhere
  std::function<CsrRequest(const std::string& csr, uint64_t n)> make;
  NodeFacts node_facts = NodeFacts::kNone;  // the Node is nid-<n>, with NodeAddresses(n)
};

// Node nid-<n>'s status.addresses: its DNS name, an IP outside the service range and one inside
// it (10.96.0.0/12, the policy's serviceCIDRs).
json NodeAddresses(uint64_t n) {
  const std::string octets = std::to_string(n / 250 % 250) + "." + std::to_string(n % 250 + 1);
  return json::array(
      {{{"type", "Hostname"}, {"address", "nid-" + std::to_string(n) + ".nodes.soak"}},
       {{"type", "InternalIP"}, {"address", "10.240." + octets}},
       {{"type", "InternalIP"}, {"address", "10.96." + octets}}});
}

CsrRequest Client(const std::string& csr, const std::string& user, std::vector<std::string> groups,
                  std::vector<std::pair<std::string, std::string>> subject) {
  CsrRequest request;
  request.name = csr;
  request.user = user;
  request.groups = std::move(groups);
  request.subject = std::move(subject);
  request.expiration_seconds = 3600;
  return request;
}

CsrRequest Kubelet(const std::string& csr, const std::string& node,
                   std::vector<std::pair<std::string, std::string>> subject) {
  CsrRequest request;
  request.name = csr;
  request.user = "system:node:" + node;
  request.groups = {"system:nodes"};
  request.signer = "kubernetes.io/kube-apiserver-client-kubelet";
  request.subject = std::move(subject);
  return request;
}

// A kubelet-serving CSR of node nid-<n> for its DNS name and its IP outside the service range, or
// (service_ip) the one inside it.
CsrRequest NodeServing(const std::string& csr, uint64_t n, bool service_ip) {
  const std::string node = "nid-" + std::to_string(n);
  CsrRequest request = Kubelet(csr, node, {{"O", "system:nodes"}, {"CN", "system:node:" + node}});
  request.signer = "kubernetes.io/kubelet-serving";
  request.usages = {"digital signature", "server auth"};
  const json addresses = NodeAddresses(n);
  request.dns_names = {addresses[0]["address"].get<std::string>()};
  request.ip_addresses = {addresses[service_ip ? 2 : 1]["address"].get<std::string>()};
  return request;
}

const std::vector<CsrKind>& Kinds() {
  static const std::vector<CsrKind> kinds = {
      {"dev-own-cert", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) {
         const std::string user = "dev-" + std::to_string(n % 7);
         return Client(csr, user, {"devs"}, {{"CN", user}, {"O", "devs"}});
       }},
      {"ci-runner", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) {
         CsrRequest request = Client(csr, "system:serviceaccount:ci:runner",
                                     {"system:serviceaccounts", "system:serviceaccounts:ci"},
                                     {{"CN", "ci-" + std::to_string(n)}, {"O", "ci-runners"}});
         request.usages = {"digital signature", "client auth"};
         request.expiration_seconds.reset();
         return request;
       }},
      {"kubelet-client", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) {
         const std::string node = "node-" + std::to_string(n % 5);
         return Kubelet(csr, node, {{"O", "system:nodes"}, {"CN", "system:node:" + node}});
       }},
      // Protected organizations: the built-in kubeadm:cluster-admins through the devs rule's "*".
      {"dev-kubeadm-cluster-admins", Expect::kDeny, false,
       [](const std::string& csr, uint64_t) {
         return Client(csr, "dev-1", {"devs"}, {{"CN", "dev-1"}, {"O", "kubeadm:cluster-admins"}});
       }},
      // system:masters through another signer (the API server refuses it only for
      // kube-apiserver-client).
      {"kubelet-system-masters", Expect::kDeny, false,
       [](const std::string& csr, uint64_t) {
         return Kubelet(
             csr, "node-1",
             {{"O", "system:nodes"}, {"O", "system:masters"}, {"CN", "system:node:node-1"}});
       }},
      {"dev-platform-admins", Expect::kDeny, false,
       [](const std::string& csr, uint64_t) {
         return Client(csr, "dev-2", {"devs"}, {{"CN", "dev-2"}, {"O", "platform:admins"}});
       }},
      {"dev-impersonation", Expect::kDeny, false,
       [](const std::string& csr, uint64_t) {
         return Client(csr, "mallory", {"devs"}, {{"CN", "alice"}, {"O", "devs"}});
       }},
      {"kubelet-serving", Expect::kLog, false,
       [](const std::string& csr, uint64_t) {
         CsrRequest request =
             Kubelet(csr, "node-2", {{"O", "system:nodes"}, {"CN", "system:node:node-2"}});
         request.signer = "kubernetes.io/kubelet-serving";
         request.usages = {"digital signature", "server auth"};
         request.dns_names = {"node-2"};
         return request;
       }},
      {"other-client", Expect::kLog, false,
       [](const std::string& csr, uint64_t) {
         return Client(csr, "bob", {"testers"}, {{"CN", "bob"}});
       }},
      {"team-b-cert", Expect::kApprove, true,
       [](const std::string& csr, uint64_t n) {
         const std::string user = "team-b-" + std::to_string(n % 3);
         return Client(csr, user, {"team-b"}, {{"CN", user}, {"O", "team-b"}});
       }},
      // Node identity: the right answer follows from Node nid-<n>, which may come late.
      {"nid-serving-late-node", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) { return NodeServing(csr, n, false); },
       NodeFacts::kLateNode},
      {"nid-serving-late-addresses", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) { return NodeServing(csr, n, false); },
       NodeFacts::kLateAddresses},
      {"nid-serving-other-node", Expect::kDeny, false,
       [](const std::string& csr, uint64_t n) {
         CsrRequest request = NodeServing(csr, n, false);
         request.dns_names.push_back("nid-" + std::to_string(n + 1) + ".nodes.soak");
         return request;
       },
       NodeFacts::kLateNode},
      {"nid-serving-service-ip", Expect::kDeny, false,
       // Before: a reserved IP is refused without the Node, so there is no wait to check.
       [](const std::string& csr, uint64_t n) { return NodeServing(csr, n, true); },
       NodeFacts::kBefore},
      {"nid-client-renewal", Expect::kApprove, false,
       [](const std::string& csr, uint64_t n) {
         const std::string node = "nid-" + std::to_string(n);
         return Kubelet(csr, node, {{"O", "system:nodes"}, {"CN", "system:node:" + node}});
       }},
      {"nid-client-other-node", Expect::kDeny, false,
       [](const std::string& csr, uint64_t n) {
         const std::string other = "system:node:nid-" + std::to_string(n + 1);
         CsrRequest request =
             Kubelet(csr, "nid-" + std::to_string(n), {{"O", "system:nodes"}, {"CN", other}});
         return request;
       }},
  };
  return kinds;
}

struct TrackedCsr {
  std::string name;
  const CsrKind* kind;
  Wall::time_point created;
  std::string policy_phase;  // first, second, broken, restored
  // Wall seconds when the write that completed its Node's facts was sent (NodeFacts other than
  // kNone): no decision may be accepted before.
  double facts_sent = 0;
};

// ---- times: RFC 3339 as the emulator and the approver write them (fraction optional).

std::optional<double> ParseTime(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  double fraction = 0;
  if (static_cast<size_t>(consumed) < text.size() && text[consumed] == '.') {
    fraction = std::strtod(text.c_str() + consumed, nullptr);
  }
  return static_cast<double>(timegm(&tm)) + fraction;
}

double WallSeconds(Wall::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// ---- memory: VmRSS of a process, from /proc.

long RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

struct RssSample {
  double t;  // seconds since the soak started
  int replica;
  int incarnation;
  long kib;
};

// ---- one invariant's verdict, for the table and the test's failures.

struct Verdict {
  std::string invariant;
  bool passed;
  std::string figures;
};

class ChaosSoak : public e2e::E2eTest {
 protected:
  struct Replica {
    int index = 0;
    std::string user;
    std::filesystem::path token_file;
    std::string kubeconfig;
    std::unique_ptr<ApproverProcess> process;
    int incarnation = 0;
  };
  struct Incarnation {
    int replica;
    int number;
    std::string log_path;
    double started;  // wall seconds
    double ended = 0;
  };

  void SetUp() override {
    E2eTest::SetUp();
    duration_ = seconds(static_cast<int64_t>(EnvNumber("KCA_SOAK_SECONDS", 150)));
    rate_ = EnvNumber("KCA_SOAK_RATE", 2);
    const char* seed = std::getenv("KCA_SOAK_SEED");
    seed_ = seed != nullptr && *seed != '\0' ? std::strtoull(seed, nullptr, 10)
                                             : std::random_device{}();
    random_.seed(seed_);
    const char* out = std::getenv("KCA_SOAK_OUTPUT");
    output_ = out != nullptr && *out != '\0' ? std::filesystem::path(out)
                                             : std::filesystem::path(KCA_SOAK_OUTPUT_DIR);
    std::filesystem::create_directories(output_);
    std::printf("soak: seed %" PRIu64 " (KCA_SOAK_SEED=%" PRIu64
                " repeats this run), %lld s, "
                "%.1f CSRs/s, output %s\n",
                seed_, seed_, static_cast<long long>(duration_.count()), rate_, output_.c_str());
    std::fflush(stdout);
  }

  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  int Uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

  void Note(const std::string& what) {
    std::printf("soak %7.1f s: %s\n", Elapsed(), what.c_str());
    std::fflush(stdout);
  }

  // A control or admin request that faults (429, 5xx, refused connections) must not defeat.
  Result<emulator::HttpResponse> Retrying(
      const std::string& method, const std::string& target, const std::string& body = "",
      std::vector<std::pair<std::string, std::string>> headers = {},
      milliseconds timeout = seconds(60)) {
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    const auto deadline = Clock::now() + timeout;
    std::string last = "no attempt";
    while (Clock::now() < deadline) {
      auto response = admin_->Request(method, target, body, headers, seconds(10));
      if (response.ok() && response->status != 429 && response->status < 500) return response;
      last = response.ok() ? std::to_string(response->status) + " " + response->body
                           : response.error().message;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return Error{method + " " + target + ": no answer but faults within the deadline: " + last};
  }

  void Control(const std::string& method, const std::string& path, const json& body) {
    auto response = Retrying(method, path, body.is_null() ? "" : body.dump());
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 200) << path << ": " << response->body;
  }

  // ---- replicas: each its own user, token file and kubeconfig, so writes are attributable.

  void PrepareReplicas() {
    json rules = {
        {{"verbs", {"get", "list", "watch"}},
         {"apiGroups", {"certificates.k8s.io"}},
         {"resources", {"certificatesigningrequests"}}},
        // As deploy/rbac.yaml and the chart grant it: the approver PATCHes /approval.
        {{"verbs", {"patch"}},
         {"apiGroups", {"certificates.k8s.io"}},
         {"resources", {"certificatesigningrequests/approval"}}},
        {{"verbs", {"approve"}},
         {"apiGroups", {"certificates.k8s.io"}},
         {"resources", {"signers"}},
         {"resourceNames",
          {"kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
           "kubernetes.io/kubelet-serving"}}},
        {{"verbs", {"create", "patch", "update"}},
         {"apiGroups", {"", "events.k8s.io"}},
         {"resources", {"events"}}},
        {{"verbs", {"get", "list", "watch", "create", "update", "patch"}},
         {"apiGroups", {"coordination.k8s.io"}},
         {"resources", {"leases"}},
         {"namespaces", {kLeaseNamespace}}},
        {{"verbs", {"create"}},
         {"apiGroups", {"authorization.k8s.io"}},
         {"resources", {"subjectaccessreviews"}}},
        {{"verbs", {"get", "list", "watch"}}, {"apiGroups", {""}}, {"resources", {"nodes"}}},
        {{"verbs", {"list"}},
         {"apiGroups", {"networking.k8s.io"}},
         {"resources", {"servicecidrs"}}}};
    // Every kubelet may renew its own client certificate (the SubjectAccessReview of
    // soak-kubelet-client), as kube-controller-manager's default RBAC grants system:nodes.
    const json selfnodeclient = {{{"verbs", {"create"}},
                                  {"apiGroups", {"certificates.k8s.io"}},
                                  {"resources", {"certificatesigningrequests/selfnodeclient"}}}};
    Control("POST", "/emulator/v1/bindings",
            {{"bindings",
              {{{"group", kReplicaGroup}, {"rules", rules}},
               {{"group", "system:nodes"}, {"rules", selfnodeclient}}}}});
    const std::string approver_kubeconfig = ReadFile(emulator_->kubeconfig("approver"));
    const std::string sa_token = emulator_->data_dir() + "/serviceaccount/token";
    ASSERT_NE(approver_kubeconfig.find(sa_token), std::string::npos) << approver_kubeconfig;
    std::ofstream tokens(emulator_->data_dir() + "/tokens.csv", std::ios::app);
    for (int i = 0; i < kReplicas; ++i) {
      Replica replica;
      replica.index = i;
      replica.user = "soak-replica-" + std::to_string(i);
      replica.token_file = dir_ / (replica.user + ".token");
      const std::string token = "soak-token-" + std::to_string(i) + "-" + std::to_string(seed_);
      std::ofstream(replica.token_file) << token;
      tokens << token << "," << replica.user << ",uid-" << replica.user << ",\"" << kReplicaGroup
             << "\"\n";
      std::string kubeconfig = approver_kubeconfig;
      kubeconfig.replace(kubeconfig.find(sa_token), sa_token.size(), replica.token_file.string());
      replica.kubeconfig = WriteFile(replica.user + ".kubeconfig", kubeconfig);
      replicas_.push_back(std::move(replica));
    }
  }

  void StartReplica(Replica& replica) {
    ++replica.incarnation;
    ApproverProcess::Options options;
    options.args = {"--policy",
                    policy_path_,
                    "--kubeconfig",
                    replica.kubeconfig,
                    "--leader-elect",
                    "--leader-election-namespace",
                    kLeaseNamespace,
                    "--metrics-bind-address",
                    "127.0.0.1:0",
                    "--health-probe-bind-address",
                    "127.0.0.1:0",
                    "--log-format",
                    "json",
                    "--log-level",
                    "info"};
    options.log_path =
        (dir_ / (replica.user + "." + std::to_string(replica.incarnation) + ".log")).string();
    options.start_timeout = seconds(60);  // faults may be in force
    auto process = ApproverProcess::Start(options);
    ASSERT_TRUE(process.ok()) << replica.user << ": " << process.error().message;
    std::lock_guard lock(replicas_mu_);
    replica.process = std::move(*process);
    incarnations_.push_back(
        {replica.index, replica.incarnation, options.log_path, WallSeconds(Wall::now())});
    Note("started " + replica.user + " #" + std::to_string(replica.incarnation) + " (pid " +
         std::to_string(replica.process->pid()) + ")");
  }

  void Ended(const Replica& replica) {
    for (auto& incarnation : incarnations_) {
      if (incarnation.replica == replica.index && incarnation.number == replica.incarnation) {
        incarnation.ended = WallSeconds(Wall::now());
      }
    }
  }

  // SIGTERM must end a replica with status 0 (and release the Lease when it leads).
  void StopGracefully(Replica& replica) {
    auto exit = replica.process->Stop(SIGTERM, seconds(15));
    const std::string outcome = exit.ok() ? "exit " + std::to_string(exit->status) + " after " +
                                                std::to_string(exit->took.count()) + " ms"
                                          : exit.error().message;
    Note("SIGTERM " + replica.user + ": " + outcome);
    ++sigterms_;
    if (!exit.ok() || exit->status != 0) unclean_exits_.push_back(replica.user + ": " + outcome);
    std::lock_guard lock(replicas_mu_);
    Ended(replica);
    replica.process.reset();
  }

  void Kill(Replica& replica) {
    auto exit = replica.process->Stop(SIGKILL, seconds(15));
    Note("SIGKILL " + replica.user + (exit.ok() ? "" : " (" + exit.error().message + ")"));
    std::lock_guard lock(replicas_mu_);
    Ended(replica);
    replica.process.reset();
  }

  // The replica whose /metrics says it leads; nullptr when none does within `timeout`.
  Replica* Leader(milliseconds timeout) {
    Replica* leader = nullptr;
    Eventually(
        [&] {
          for (auto& replica : replicas_) {
            if (replica.process && replica.process->Metric("kube_csr_approver_leader") == 1) {
              leader = &replica;
              return true;
            }
          }
          return false;
        },
        timeout);
    return leader;
  }

  // Whether every running replica reports the policy with `rules` rules in
  // kube_csr_approver_policy_info.
  bool PolicyInForce(int rules) {
    for (auto& replica : replicas_) {
      if (!replica.process) continue;
      const auto metrics = e2e::LocalHttpGet(replica.process->metrics_port(), "/metrics");
      if (metrics.status != 200) return false;
      bool found = false;
      std::istringstream lines(metrics.body);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("kube_csr_approver_policy_info{", 0) == 0 &&
            line.find("rules=\"" + std::to_string(rules) + "\"") != std::string::npos &&
            line.size() > 2 && line.substr(line.size() - 2) == " 1") {
          found = true;
        }
      }
      if (!found) return false;
    }
    return true;
  }

  // policy_reloads_total{result} of each running replica, to see a reload happen.
  std::map<int, double> Reloads(const std::string& result) {
    std::map<int, double> counts;
    for (auto& replica : replicas_) {
      if (!replica.process) continue;
      counts[replica.index] = replica.process->Metric(
          "kube_csr_approver_policy_reloads_total{result=\"" + result + "\"}");
    }
    return counts;
  }

  // Every running replica counted a reload with `result` since `before` (DESIGN.md's
  // policy_last_reload_successful gauge is not served today, so the counters tell).
  bool ReloadedEverywhere(const std::string& result, const std::map<int, double>& before) {
    for (const auto& [index, count] : Reloads(result)) {
      const auto was = before.find(index);
      if (count <= (was == before.end() ? 0 : was->second)) return false;
    }
    return true;
  }

  // A ConfigMap-style swap: write a new file and rename it over the policy path.
  void WritePolicy(const std::string& text) {
    const auto next = dir_ / "policy.yaml.next";
    std::ofstream(next) << text;
    std::filesystem::rename(next, policy_path_);
  }

  // ---- the generator.

  void CreateOne(const CsrKind& kind) {
    const uint64_t n = ++created_count_;
    char name[96];
    std::snprintf(name, sizeof(name), "soak-%05" PRIu64 "-%s", n, kind.name.c_str());
    const CsrRequest request = kind.make(name, n);
    const std::string node = "nid-" + std::to_string(n);
    double facts_sent = 0;
    if (kind.node_facts == NodeFacts::kBefore || kind.node_facts == NodeFacts::kLateAddresses) {
      facts_sent =
          WriteNode(node, kind.node_facts == NodeFacts::kBefore ? NodeAddresses(n) : json(nullptr));
    }
    kca::testing::RequestSpec spec;
    spec.subject = request.subject;
    spec.key = request.key;
    spec.dns_names = request.dns_names;
    spec.ip_addresses = request.ip_addresses;
    json csr = {{"apiVersion", "certificates.k8s.io/v1"},
                {"kind", "CertificateSigningRequest"},
                {"metadata",
                 {{"name", name},
                  {"labels", {{"soak.kca.io/kind", kind.name}}},
                  {"annotations", {{"soak.kca.io/seed", std::to_string(seed_)}}}}},
                {"spec",
                 {{"request", kca::testing::Base64Encode(kca::testing::MakeRequestPem(spec))},
                  {"signerName", request.signer},
                  {"usages", request.usages}}}};
    if (request.expiration_seconds) csr["spec"]["expirationSeconds"] = *request.expiration_seconds;
    std::vector<std::pair<std::string, std::string>> headers = {{"Impersonate-User", request.user}};
    for (const auto& group : request.groups) headers.emplace_back("Impersonate-Group", group);
    auto response = Retrying("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                             csr.dump(), headers);
    // 409 AlreadyExists: an earlier attempt was stored but its answer lost.
    const bool created = response.ok() && (response->status == 201 || response->status == 409);
    ASSERT_TRUE(created) << name << ": "
                         << (response.ok() ? std::to_string(response->status) + " " + response->body
                                           : response.error().message);
    tracked_.push_back({name, &kind, Wall::now(), policy_phase_, facts_sent});
    if (kind.node_facts == NodeFacts::kLateNode || kind.node_facts == NodeFacts::kLateAddresses) {
      late_nodes_.push_back({Elapsed() + Uniform(1, 5), tracked_.size() - 1, node, n,
                             kind.node_facts == NodeFacts::kLateNode});
    }
  }

  // Creates Node `name` (addresses null: none yet) or sets its addresses (`create` false);
  // returns the wall seconds at which the write was sent.
  double WriteNode(const std::string& name, const json& addresses, bool create = true) {
    json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
    if (!addresses.is_null()) node["status"]["addresses"] = addresses;
    const double sent = WallSeconds(Wall::now());
    auto response = create ? Retrying("POST", "/api/v1/nodes", node.dump())
                           : Retrying("PUT", "/api/v1/nodes/" + name + "/status", node.dump());
    // 409 on create: an earlier attempt was stored but its answer lost.
    const bool written = response.ok() && (response->status == 200 || response->status == 201 ||
                                           (create && response->status == 409));
    EXPECT_TRUE(written) << name << ": "
                         << (response.ok() ? std::to_string(response->status) + " " + response->body
                                           : response.error().message);
    return sent;
  }

  // The late Node writes that are due (all of them with `all`).
  void WriteLateNodes(bool all) {
    const double now = Elapsed();
    for (auto it = late_nodes_.begin(); it != late_nodes_.end();) {
      if (!all && it->at > now) {
        ++it;
        continue;
      }
      tracked_[it->csr].facts_sent = WriteNode(it->node, NodeAddresses(it->n), it->create);
      it = late_nodes_.erase(it);
    }
  }

  void Generate(bool second_policy) {
    std::vector<const CsrKind*> kinds;
    for (const auto& kind : Kinds()) {
      if (!kind.second_policy_only || second_policy) kinds.push_back(&kind);
    }
    CreateOne(*kinds[static_cast<size_t>(Uniform(0, static_cast<int>(kinds.size()) - 1))]);
  }

  // ---- faults: one at a time for the timed ones, seeded.

  struct ActiveFault {
    std::string name;
    json clear;
    Clock::time_point until;
  };

  void InjectRandomFault() {
    const int kind = Uniform(0, 11);
    auto timed = [&](const std::string& name, const json& set, const json& clear, int secs) {
      if (active_) return;  // one timed fault at a time
      Control("POST", "/emulator/v1/faults", set);
      active_ = ActiveFault{name, clear, Clock::now() + seconds(secs)};
      ++faults_[name];
      Note("fault " + name + " " + set.dump() + " for " + std::to_string(secs) + " s");
    };
    auto once = [&](const std::string& name, const std::string& path, const json& body) {
      Control("POST", path, body);
      ++faults_[name];
      Note("fault " + name + " " + body.dump());
    };
    switch (kind) {
      case 0:
        once("409 conflicts", "/emulator/v1/faults", {{"conflictNextApprovals", Uniform(1, 3)}});
        break;
      case 1:
        once("429 Retry-After", "/emulator/v1/faults",
             {{"throttleNextRequests", Uniform(2, 6)}, {"retryAfterSeconds", 1}});
        break;
      case 2:
        timed("500 burst", {{"errorFraction", 0.5}, {"errorCode", 500}}, {{"errorFraction", 0}},
              Uniform(2, 4));
        break;
      case 3:
        timed("503 burst", {{"errorFraction", 0.5}, {"errorCode", 503}}, {{"errorFraction", 0}},
              Uniform(2, 4));
        break;
      case 4:
        timed("latency", {{"latencyMs", Uniform(100, 400)}}, {{"latencyMs", 0}}, Uniform(3, 6));
        break;
      case 5:
        once("refused connections", "/emulator/v1/faults",
             {{"refuseConnectionsSeconds", Uniform(1, 3)}});
        break;
      case 6:
        timed("watch drops (events)", {{"dropWatchAfterEvents", Uniform(2, 10)}},
              {{"dropWatchAfterEvents", 0}}, 6);
        break;
      case 7:
        timed("watch drops (seconds)", {{"dropWatchAfterSeconds", 1}},
              {{"dropWatchAfterSeconds", 0}}, 5);
        break;
      case 8:
        once("410 expired watches", "/emulator/v1/faults", {{"expireNextWatches", Uniform(1, 2)}});
        break;
      case 9:
        once("compaction", "/emulator/v1/compact", json::object());
        break;
      case 11: {
        const int codes[] = {403, 500, 503, 504};
        const int code = codes[Uniform(0, 3)];
        timed("review errors " + std::to_string(code), {{"reviewErrorCode", code}},
              {{"reviewErrorCode", 0}}, Uniform(2, 5));
        break;
      }
      case 10: {
        Replica& replica = replicas_[static_cast<size_t>(Uniform(0, kReplicas - 1))];
        auto rotated =
            Retrying("POST", "/emulator/v1/tokens/rotate", json{{"user", replica.user}}.dump());
        ASSERT_TRUE(rotated.ok()) << rotated.error().message;
        ASSERT_EQ(rotated->status, 200) << rotated->body;
        // As the kubelet refreshes a projected token: a new file renamed into place.
        const auto next = replica.token_file.string() + ".next";
        std::ofstream(next) << rotated->Json()["token"].get<std::string>();
        std::filesystem::rename(next, replica.token_file);
        ++faults_["token rotation"];
        Note("fault token rotation for " + replica.user);
        break;
      }
    }
  }

  void EndTimedFault(bool now) {
    if (!active_ || (!now && Clock::now() < active_->until)) return;
    Control("POST", "/emulator/v1/faults", active_->clear);
    active_.reset();
  }

  // ---- the run.

  void SampleRss(const std::atomic<bool>& stop) {
    while (!stop) {
      {
        std::lock_guard lock(replicas_mu_);
        for (const auto& replica : replicas_) {
          if (!replica.process) continue;
          const long kib = RssKib(replica.process->pid());
          if (kib > 0) rss_.push_back({Elapsed(), replica.index, replica.incarnation, kib});
        }
      }
      std::this_thread::sleep_for(milliseconds(500));
    }
  }

  std::filesystem::path output_;
  seconds duration_{150};
  double rate_ = 2;
  uint64_t seed_ = 0;
  std::mt19937_64 random_;
  Clock::time_point start_;
  std::string policy_path_;
  std::string policy_phase_ = "first";

  std::mutex replicas_mu_;  // the sampler thread reads replicas_' processes
  std::vector<Replica> replicas_;
  std::vector<Incarnation> incarnations_;
  std::vector<RssSample> rss_;  // GUARDED_BY(replicas_mu_)

  uint64_t created_count_ = 0;
  std::vector<TrackedCsr> tracked_;
  struct LateNode {
    double at;   // Elapsed() seconds
    size_t csr;  // index into tracked_
    std::string node;
    uint64_t n;
    bool create;  // create the Node, else set its addresses
  };
  std::vector<LateNode> late_nodes_;
  std::optional<ActiveFault> active_;
  std::map<std::string, int> faults_;
  int sigterms_ = 0;
  std::vector<std::string> unclean_exits_;
};

TEST_F(ChaosSoak, TwoReplicasUnderFaultsDecideExactlyAsThePolicySays) {
  StartEmulator({"--token-grace-seconds", "5", "--history", "500"});
  ASSERT_FALSE(HasFatalFailure());
  PrepareReplicas();
  ASSERT_FALSE(HasFatalFailure());
  policy_path_ = (dir_ / "policy.yaml").string();
  WritePolicy(FirstPolicy());
  start_ = Clock::now();

  std::atomic<bool> stop_sampling{false};
  std::thread sampler([&] { SampleRss(stop_sampling); });
  struct JoinAtExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinAtExit() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_at_exit{stop_sampling, sampler};

  // Replica 0 first, so it leads and replica 1 runs through the whole soak (its RSS is the
  // long series the memory invariant reads).
  StartReplica(replicas_[0]);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_NE(Leader(seconds(30)), nullptr) << "replica 0 never became the leader";
  StartReplica(replicas_[1]);
  ASSERT_FALSE(HasFatalFailure());

  const double total = static_cast<double>(duration_.count());
  const double rewrite_at = 0.4 * total;
  const double broken_at = 0.7 * total;
  const double restored_at = 0.8 * total;
  const double chaos_period = std::min(60.0, total / 4);
  // The long form pauses replica chaos from 45 % to 65 % of the run (6 min of 30), so each
  // replica has an incarnation long enough for the memory verdict (kMemoryJudgedAfter): with a
  // restart every minute, alternating, none lives past 2 minutes and the verdict judged nothing.
  const bool long_form = total >= kLongFormSeconds;
  const double calm_from = 0.45 * total;
  const double calm_until = 0.65 * total;
  double next_chaos = chaos_period;
  bool kill_leader_next = true;
  double next_fault = Uniform(2, 5);
  double next_csr = 0;
  double restart_at = 0;
  Replica* restart = nullptr;  // to start again at restart_at
  bool second_policy = false;
  std::string phase_note;
  int chaos_skipped = 0;
  int chaos_calm = 0;  // ticks of the long form's calm window (replica chaos paused)

  while (Elapsed() < total && !HasFatalFailure()) {
    const double now = Elapsed();
    if (now >= next_csr) {
      Generate(second_policy);
      next_csr += 1.0 / rate_;
    }
    if (now >= next_fault) {
      InjectRandomFault();
      next_fault = now + Uniform(2, 6);
    }
    EndTimedFault(false);
    WriteLateNodes(false);
    if (restart != nullptr && now >= restart_at) {
      StartReplica(*restart);
      restart = nullptr;
    }
    const bool in_broken_window = now > broken_at - 10 && now < restored_at + 5;
    const bool in_calm_window = long_form && now >= calm_from && now < calm_until;
    if (now >= next_chaos && restart == nullptr) {
      next_chaos += chaos_period;
      if (in_broken_window) {
        ++chaos_skipped;  // a replica started on a broken policy file exits 2, by design
      } else if (in_calm_window) {
        ++chaos_calm;
      } else if (kill_leader_next) {
        if (Replica* leader = Leader(seconds(25))) {
          Kill(*leader);
          ++faults_["SIGKILL leader"];
          restart = leader;
          restart_at = Elapsed() + Uniform(1, 4);
          kill_leader_next = false;
        } else {
          ++chaos_skipped;
        }
      } else {
        for (auto& replica : replicas_) {
          if (replica.process && replica.process->Metric("kube_csr_approver_leader") == 0) {
            StopGracefully(replica);
            ++faults_["SIGTERM follower"];
            StartReplica(replica);
            kill_leader_next = true;
            break;
          }
        }
      }
    }
    if (!second_policy && policy_phase_ == "first" && now >= rewrite_at && restart == nullptr) {
      WritePolicy(SecondPolicy());
      ASSERT_TRUE(Eventually([&] { return PolicyInForce(kSecondPolicyRules); }, seconds(30)))
          << "the rewritten policy did not come into force on every replica";
      second_policy = true;
      policy_phase_ = "second";
      ++faults_["policy rewritten"];
      Note("policy rewritten: second policy in force on every replica");
    }
    if (policy_phase_ == "second" && now >= broken_at && restart == nullptr) {
      const auto failures = Reloads("failure");
      WritePolicy("apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\nrules: [\n");
      ASSERT_TRUE(Eventually([&] { return ReloadedEverywhere("failure", failures); }, seconds(30)))
          << "the broken policy was not reported (policy_reloads_total{result=\"failure\"})";
      policy_phase_ = "broken";
      ++faults_["policy broken"];
      Note("policy broken: every replica reports the failed reload and keeps the last good one");
    }
    if (policy_phase_ == "broken" && now >= restored_at) {
      const auto successes = Reloads("success");
      WritePolicy(SecondPolicy() + "# restored\n");
      ASSERT_TRUE(Eventually([&] { return ReloadedEverywhere("success", successes); }, seconds(30)))
          << "the restored policy was not reloaded";
      policy_phase_ = "restored";
      Note("policy restored");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_FALSE(HasFatalFailure());
  if (restart != nullptr) StartReplica(*restart);
  EndTimedFault(true);
  Control("DELETE", "/emulator/v1/faults", nullptr);
  WriteLateNodes(true);
  Note("generation over: " + std::to_string(tracked_.size()) + " CSRs; draining without faults");

  // Drain: every CSR the policy approves or denies gets its decision (a failover may be under way).
  auto decision_of = [](const json& csr) -> std::string {
    if (!csr.is_object()) return "missing";
    for (const auto& condition : csr["status"].value("conditions", json::array())) {
      const std::string type = condition.value("type", "");
      if ((type == "Approved" || type == "Denied") && condition.value("status", "") == "True") {
        return type;
      }
    }
    return "pending";
  };
  std::map<std::string, json> stored;
  auto read_all = [&] {
    stored.clear();
    auto list = Retrying("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests");
    if (!list.ok() || list->status != 200) return false;
    const json body = list->Json();  // the loop below must not iterate into a temporary
    for (const auto& item : body.value("items", json::array())) {
      stored[item["metadata"].value("name", "")] = item;
    }
    return !body.is_discarded();
  };
  const bool drained = Eventually(
      [&] {
        if (!read_all()) return false;
        for (const auto& csr : tracked_) {
          if (csr.kind->expect != Expect::kLog && decision_of(stored[csr.name]) == "pending") {
            return false;
          }
        }
        return true;
      },
      seconds(90));
  Note(drained ? "drained" : "not drained within 90 s");
  for (auto& replica : replicas_) {
    if (replica.process && replica.process->Metric("kube_csr_approver_leader") == 0) {
      StopGracefully(replica);
    }
  }
  for (auto& replica : replicas_) {
    if (replica.process) StopGracefully(replica);
  }
  stop_sampling = true;
  sampler.join();
  ASSERT_TRUE(read_all());
  const double run_seconds = Elapsed();

  // ---- the evidence.
  auto audit_response = Retrying("GET", "/emulator/v1/audit");
  ASSERT_TRUE(audit_response.ok() && audit_response->status == 200);
  const json audit = audit_response->Json();
  auto requests_response = Retrying("GET", "/emulator/v1/requests");
  ASSERT_TRUE(requests_response.ok() && requests_response->status == 200);
  const json requests = requests_response->Json()["users"];

  std::vector<Verdict> verdicts;
  auto verdict = [&](const std::string& invariant, bool passed, const std::string& figures) {
    verdicts.push_back({invariant, passed, figures});
  };
  auto examples = [](const std::vector<std::string>& items) {
    std::string text;
    for (size_t i = 0; i < items.size() && i < 5; ++i) text += (i ? "; " : "") + items[i];
    return text;
  };

  // 1. Every decision exactly as the policy says; 2. none lost; 3. none denied for a transient
  // fault.
  std::map<std::string, int> by_outcome;
  std::vector<std::string> wrong, lost, transient_denials, metadata_lost;
  std::set<std::string> logged;
  for (const auto& incarnation : incarnations_) {
    std::ifstream log(incarnation.log_path);
    for (std::string line; std::getline(log, line);) {
      const auto parsed = json::parse(line, nullptr, false);
      if (parsed.is_object() && parsed.value("msg", "") == "csr decided" &&
          parsed.value("decision", "") == "log") {
        logged.insert(parsed.value("csr", ""));
      }
    }
  }
  for (const auto& csr : tracked_) {
    const json& object = stored[csr.name];
    const std::string got = decision_of(object);
    const std::string want = ExpectName(csr.kind->expect);
    ++by_outcome[std::string(want) + " " + csr.kind->name];
    if (got == "missing" || (got == "pending" && csr.kind->expect != Expect::kLog)) {
      lost.push_back(csr.name + " (" + got + ")");
    } else if (got != want) {
      wrong.push_back(csr.name + " got " + got + " want " + want + " [" + csr.policy_phase + "]");
      if (got == "Denied" && csr.kind->expect == Expect::kApprove) {
        transient_denials.push_back(csr.name);
      }
    }
    if (csr.kind->expect == Expect::kLog && got == "pending" && logged.count(csr.name) == 0) {
      lost.push_back(csr.name + " (log decision never made)");
    }
    if (object.is_object()) {
      const json& meta = object["metadata"];
      if (meta.value("labels", json::object()).value("soak.kca.io/kind", "") != csr.kind->name ||
          meta.value("annotations", json::object()).value("soak.kca.io/seed", "") !=
              std::to_string(seed_)) {
        metadata_lost.push_back(csr.name);
      }
    }
  }
  const size_t decided = static_cast<size_t>(
      std::count_if(tracked_.begin(), tracked_.end(),
                    [&](const TrackedCsr& csr) { return csr.kind->expect != Expect::kLog; }));
  verdict("every decision as the policy says", wrong.empty(),
          std::to_string(tracked_.size() - wrong.size() - lost.size()) + "/" +
              std::to_string(tracked_.size()) + " right" +
              (wrong.empty() ? "" : "; wrong: " + examples(wrong)));
  verdict("none lost (decided, or pending and logged)", lost.empty(),
          std::to_string(lost.size()) + " lost" + (lost.empty() ? "" : ": " + examples(lost)));
  verdict("none denied for a transient fault", transient_denials.empty(),
          std::to_string(transient_denials.size()) + " approvable CSRs denied" +
              (transient_denials.empty() ? "" : ": " + examples(transient_denials)));
  verdict("labels and annotations kept by the decision (issue 9)", metadata_lost.empty(),
          std::to_string(metadata_lost.size()) + " CSRs lost metadata" +
              (metadata_lost.empty() ? "" : ": " + examples(metadata_lost)));

  // 4. No /approval write accepted from a replica that did not hold a valid Lease at that moment.
  std::map<std::string, const Incarnation*> identity_owner;  // holderIdentity -> incarnation
  for (const auto& incarnation : incarnations_) {
    std::ifstream log(incarnation.log_path);
    for (std::string line; std::getline(log, line);) {
      const auto parsed = json::parse(line, nullptr, false);
      if (parsed.is_object() && parsed.contains("identity") && parsed["identity"].is_string()) {
        identity_owner[parsed["identity"].get<std::string>()] = &incarnation;
      }
    }
  }
  std::vector<std::string> deposed_writes, duplicate_writes;
  std::map<std::string, int> accepted_writes;  // CSR -> accepted /approval writes
  std::map<std::string, double> decided_at;    // CSR -> wall seconds of the accepted write
  int approval_attempts = 0;
  const std::string csr_prefix = "/apis/certificates.k8s.io/v1/certificatesigningrequests/";
  for (const auto& entry : audit["entries"]) {
    const std::string path = entry.value("path", "");
    const std::string user = entry.value("user", "");
    if (path.rfind(csr_prefix, 0) != 0 || path.find("/approval") == std::string::npos) continue;
    if (user.rfind("soak-replica-", 0) != 0) continue;
    ++approval_attempts;
    const int code = entry.value("code", 0);
    if (code < 200 || code >= 300) continue;
    const std::string csr =
        path.substr(csr_prefix.size(), path.find('/', csr_prefix.size()) - csr_prefix.size());
    const double at = ParseTime(entry.value("time", "")).value_or(0);
    ++accepted_writes[csr];
    decided_at.emplace(csr, at);
    const json* lease = nullptr;
    for (const auto& l : entry["leases"]) {
      if (l.value("namespace", "") == kLeaseNamespace && l.value("name", "") == kLeaseName)
        lease = &l;
    }
    std::string why;
    if (lease == nullptr) {
      why = "no Lease";
    } else {
      const std::string holder = lease->value("holderIdentity", "");
      const double expires = ParseTime(lease->value("renewTime", "")).value_or(0) +
                             lease->value("leaseDurationSeconds", 0);
      if (holder.empty()) {
        why = "Lease released";
      } else if (lease->value("writtenBy", "") != user) {
        why = "Lease held by " + holder + " (written by " + lease->value("writtenBy", "") + ")";
      } else if (at > expires) {
        why = "Lease expired " + std::to_string(at - expires) + " s before";
      } else if (const auto owner = identity_owner.find(holder); owner != identity_owner.end() &&
                                                                 owner->second->ended > 0 &&
                                                                 owner->second->ended < at) {
        // A request the holder sent before its SIGKILL can still be accepted after it: the bytes
        // were on the socket. Only a later incarnation of the same user, started by then, can
        // have written without holding the Lease.
        const bool later_running =
            std::any_of(incarnations_.begin(), incarnations_.end(), [&](const Incarnation& other) {
              return other.replica == owner->second->replica &&
                     other.number > owner->second->number && other.started < at;
            });
        if (later_running) why = "holder " + holder + " had exited; written by a later incarnation";
      }
    }
    if (!why.empty()) deposed_writes.push_back(csr + " by " + user + ": " + why);
  }
  for (const auto& [csr, n] : accepted_writes) {
    if (n > 1) duplicate_writes.push_back(csr + " x" + std::to_string(n));
  }
  // 5. Node identity (issue 12): no decision accepted before the Node facts it needs were written.
  std::vector<std::string> decided_early;
  int node_identity_csrs = 0;
  for (const auto& csr : tracked_) {
    if (csr.kind->node_facts == NodeFacts::kNone) continue;
    ++node_identity_csrs;
    const auto decided = decided_at.find(csr.name);
    if (decided != decided_at.end() && decided->second < csr.facts_sent) {
      char text[160];
      std::snprintf(text, sizeof(text), "%s decided %.3f s before its Node facts", csr.name.c_str(),
                    csr.facts_sent - decided->second);
      decided_early.push_back(text);
    }
  }
  verdict("none decided while its Node facts were missing (issue 12)", decided_early.empty(),
          std::to_string(decided_early.size()) + " of " + std::to_string(node_identity_csrs) +
              " node-identity CSRs" +
              (decided_early.empty() ? "" : ": " + examples(decided_early)));
  verdict("no /approval write without the Lease", deposed_writes.empty(),
          std::to_string(deposed_writes.size()) + " of " + std::to_string(accepted_writes.size()) +
              " accepted writes" + (deposed_writes.empty() ? "" : ": " + examples(deposed_writes)));
  verdict("one accepted /approval write per decided CSR", duplicate_writes.empty(),
          std::to_string(duplicate_writes.size()) + " CSRs written twice" +
              (duplicate_writes.empty() ? "" : ": " + examples(duplicate_writes)));

  // 5. Memory flat: each incarnation whose settled samples (after the first 10 s of start-up)
  // span at least kMemoryJudgedAfter, mean RSS of its last third against its first third.
  // Shorter series are reported but not judged: in a run of a few minutes, warm-up and a
  // follower's takeover (its caches and the Event sender filling) are a third of the series,
  // and would pass for a leak. The short form prints the figures; the long form judges them.
  constexpr double kMemoryJudgedAfter = 300;
  std::map<std::pair<int, int>, std::vector<const RssSample*>> series;
  for (const auto& sample : rss_) series[{sample.replica, sample.incarnation}].push_back(&sample);
  std::string memory_figures;
  bool memory_flat = true;
  int memory_series = 0;
  for (const auto& [key, samples] : series) {
    std::vector<const RssSample*> settled;
    for (const auto* s : samples) {
      if (s->t - samples.front()->t >= 10) settled.push_back(s);
    }
    if (settled.size() < 60) continue;  // under 30 s of settled samples: nothing to show
    const bool judged = settled.back()->t - settled.front()->t >= kMemoryJudgedAfter;
    if (judged) ++memory_series;
    const size_t third = settled.size() / 3;
    double first = 0, last = 0;
    for (size_t i = 0; i < third; ++i) first += static_cast<double>(settled[i]->kib);
    for (size_t i = settled.size() - third; i < settled.size(); ++i) {
      last += static_cast<double>(settled[i]->kib);
    }
    first /= static_cast<double>(third) * 1024;
    last /= static_cast<double>(third) * 1024;
    // Bound: 10% of the first third plus 2 MiB of allocator slack.
    const bool flat = last <= first * 1.10 + 2;
    if (judged) memory_flat = memory_flat && flat;
    char text[200];
    std::snprintf(text, sizeof(text), "%sreplica-%d #%d %.1f -> %.1f MiB%s",
                  memory_figures.empty() ? "" : "; ", key.first, key.second, first, last,
                  judged ? "" : " (under 5 min: not judged)");
    memory_figures += text;
  }
  // The long form must judge something: a pass over no series at all is no verdict.
  const bool memory_judged = memory_series > 0 || total < kLongFormSeconds;
  verdict(
      "memory flat (last third <= first third x1.1 + 2 MiB, series of 5 min or more)",
      memory_flat && memory_judged,
      std::to_string(memory_series) + " series judged" +
          (memory_judged ? "" : " (the long form must judge one)") + ": " +
          (memory_figures.empty() ? "no incarnation lived long enough to sample" : memory_figures));

  // 6. Requests per decision: everything the replicas sent, CSR requests alone, per decided CSR.
  uint64_t replica_requests = 0, csr_requests = 0, lease_requests = 0;
  for (const auto& [user, counts] : requests.items()) {
    if (user.rfind("soak-replica-", 0) != 0) continue;
    replica_requests += counts.value("total", uint64_t{0});
    for (const auto& [resource, verbs] : counts["resources"].items()) {
      uint64_t n = 0;
      for (const auto& [verb, count] : verbs.items()) n += count.get<uint64_t>();
      if (resource.rfind("certificatesigningrequests", 0) == 0) csr_requests += n;
      if (resource == "leases") lease_requests += n;
    }
  }
  const double per_decision =
      decided == 0 ? 0 : static_cast<double>(csr_requests) / static_cast<double>(decided);
  const double all_per_decision =
      decided == 0 ? 0 : static_cast<double>(replica_requests) / static_cast<double>(decided);
  char request_figures[200];
  std::snprintf(request_figures, sizeof(request_figures),
                "%.2f CSR requests per decision (%" PRIu64 "), %.2f in all (%" PRIu64
                " incl. %" PRIu64 " Lease)",
                per_decision, csr_requests, all_per_decision, replica_requests, lease_requests);
  // Bound: one write per decision plus retries, re-reads after conflicts and relists.
  verdict("CSR requests per decision <= 3", decided > 0 && per_decision <= 3, request_figures);

  // 7. Clean exits.
  verdict("every SIGTERM exits 0", unclean_exits_.empty() && sigterms_ > 0,
          std::to_string(sigterms_) + " SIGTERMs, " + std::to_string(unclean_exits_.size()) +
              " unclean" + (unclean_exits_.empty() ? "" : ": " + examples(unclean_exits_)));
  verdict("chaos ran (leader killed, follower stopped, policy broken)",
          faults_["SIGKILL leader"] > 0 && faults_["SIGTERM follower"] > 0 &&
              faults_["policy broken"] > 0,
          std::to_string(chaos_skipped) + " chaos ticks skipped, " + std::to_string(chaos_calm) +
              " paused (calm window)");

  // ---- latency per decision (creation seen by the generator -> accepted write). CSRs whose Node
  // comes late by design wait for it: measured from when its facts were written.
  std::vector<std::pair<double, double>> latencies;  // (t since start, seconds)
  const double start_wall = WallSeconds(Wall::now()) - Elapsed();
  for (const auto& csr : tracked_) {
    const auto at = decided_at.find(csr.name);
    if (at == decided_at.end()) continue;
    if (csr.facts_sent > 0) {
      latencies.emplace_back(
          WallSeconds(csr.created) - start_wall,
          std::max(0.0, at->second - std::max(csr.facts_sent, WallSeconds(csr.created))));
      continue;
    }
    const double created = WallSeconds(csr.created);
    latencies.emplace_back(created - start_wall, std::max(0.0, at->second - created));
  }
  std::vector<double> sorted;
  for (const auto& [t, l] : latencies) sorted.push_back(l);
  std::sort(sorted.begin(), sorted.end());
  auto percentile = [&](double p) {
    return sorted.empty()
               ? 0.0
               : sorted[std::min(sorted.size() - 1,
                                 static_cast<size_t>(p * static_cast<double>(sorted.size())))];
  };

  // ---- the summary table, the samples and the plot.
  std::ostringstream table;
  table << "\n== chaos soak: seed " << seed_ << ", " << static_cast<int>(run_seconds) << " s ("
        << duration_.count() << " s of generation) ==\n";
  char line[512];
  std::snprintf(line, sizeof(line),
                "CSRs %zu: %zu to approve or deny, %zu to log; accepted /approval writes %zu of %d "
                "attempts\n",
                tracked_.size(), decided, tracked_.size() - decided, accepted_writes.size(),
                approval_attempts);
  table << line;
  std::snprintf(
      line, sizeof(line), "decision latency: p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s\n",
      percentile(0.5), percentile(0.9), percentile(0.99), sorted.empty() ? 0.0 : sorted.back());
  table << line << "faults injected:";
  int fault_total = 0;
  for (const auto& [name, n] : faults_) {
    table << " " << name << " " << n << ";";
    fault_total += n;
  }
  table << " (" << fault_total << " in all)\n";
  table << "CSRs by kind:";
  for (const auto& [kind, n] : by_outcome) table << " " << kind << " " << n << ";";
  table << "\n";
  std::snprintf(line, sizeof(line), "| %-58s | %-6s | %s\n", "invariant", "result", "figures");
  table << line;
  for (const auto& v : verdicts) {
    // The figures after the fixed columns: a long list (memory series) must not be cut off.
    std::snprintf(line, sizeof(line), "| %-58s | %-6s | ", v.invariant.c_str(),
                  v.passed ? "pass" : "FAIL");
    table << line << v.figures << "\n";
  }
  std::printf("%s\n", table.str().c_str());
  std::ofstream(output_ / "summary.txt") << table.str();

  {
    std::ofstream rss(output_ / "rss.csv");
    rss << "seconds,replica,incarnation,rss_kib\n";
    for (const auto& s : rss_)
      rss << s.t << "," << s.replica << "," << s.incarnation << "," << s.kib << "\n";
    std::ofstream latency(output_ / "latency.csv");
    latency << "created_seconds,latency_seconds\n";
    for (const auto& [t, l] : latencies) latency << t << "," << l << "\n";
    json summary = {
        {"seed", seed_},
        {"seconds", run_seconds},
        {"csrs", tracked_.size()},
        {"decided", decided},
        {"faults", faults_},
        {"requests", {{"csr", csr_requests}, {"lease", lease_requests}, {"all", replica_requests}}},
        {"latency",
         {{"p50", percentile(0.5)}, {"p90", percentile(0.9)}, {"p99", percentile(0.99)}}},
        {"invariants", json::array()}};
    for (const auto& v : verdicts) {
      summary["invariants"].push_back(
          {{"name", v.invariant}, {"passed", v.passed}, {"figures", v.figures}});
    }
    std::ofstream(output_ / "summary.json") << summary.dump(2) << "\n";
  }
  // Debian's interpreter, which has python3-matplotlib, even when another python3 comes first.
  const std::string python =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  // Spawned without a shell, so an output path with spaces or quotes reaches the script whole.
  const std::string script = std::string(kSourceDir) + "/tests/soak/plot_soak.py";
  const std::string output = output_.string();
  std::vector<char*> argv{const_cast<char*>(python.c_str()), const_cast<char*>(script.c_str()),
                          const_cast<char*>(output.c_str()), nullptr};
  pid_t plotter = 0;
  int status = 0;
  if (::posix_spawnp(&plotter, python.c_str(), nullptr, nullptr, argv.data(), environ) != 0 ||
      ::waitpid(plotter, &status, 0) != plotter || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::printf("soak: no plot (%s %s %s failed)\n", python.c_str(), script.c_str(),
                output.c_str());
  }

  for (const auto& v : verdicts)
    EXPECT_TRUE(v.passed) << "invariant failed: " << v.invariant << ": " << v.figures;
  EXPECT_TRUE(drained) << "not every CSR was decided 90 s after the faults ended";
}

}  // namespace
}  // namespace kca::soak
