// The offline commands driven through their functions, with in-memory streams.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "commands.h"
#include "csr_factory.h"

namespace kca {
namespace {

const std::filesystem::path kExamples = std::filesystem::path(KCA_SOURCE_DIR) / "examples";

std::string ExamplePolicy(const char* name) { return (kExamples / "policies" / name).string(); }
std::string ExampleCsr(const char* name) { return (kExamples / "csrs" / name).string(); }

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome Check(CheckOptions options, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  const int exit_code = RunCheck(options, {in, out, err});
  return {exit_code, out.str(), err.str()};
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

TEST(CheckCommandTest, TextOutputExplainsTheSeedEscalationDenial) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.inputs = {ExampleCsr("seed-escalation.yaml")};
  const Outcome outcome = Check(options);
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("seed-escalation: DENY (rule \"api-client-other\")"),
            std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find("requestor: kubernetes-admin"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("O=kubeadm:cluster-admins"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("[FAIL] organizations"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("1 CSRs: 0 approve, 1 deny, 0 log, 0 skip"), std::string::npos)
      << outcome.out;
}

TEST(CheckCommandTest, JsonOutputHasTheDocumentedShape) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.output = "json";
  options.inputs = {ExampleCsr("alice-client.yaml"), ExampleCsr("kubelet-serving.yaml")};
  const Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto results = nlohmann::json::parse(outcome.out);
  ASSERT_EQ(results.size(), 2u);

  const auto& approved = results[0];
  EXPECT_EQ(approved.at("name"), "alice-client");
  EXPECT_EQ(approved.at("decision"), "approve");
  EXPECT_EQ(approved.at("rule"), "devs-own-client-cert");
  EXPECT_TRUE(approved.at("reasons").empty());
  ASSERT_FALSE(approved.at("checks").empty());
  for (const auto& check : approved.at("checks")) {
    EXPECT_TRUE(check.at("passed").get<bool>()) << check.dump();
    EXPECT_TRUE(check.at("name").is_string());
    EXPECT_TRUE(check.at("detail").is_string());
  }

  const auto& unselected = results[1];
  EXPECT_EQ(unselected.at("decision"), "log");
  EXPECT_TRUE(unselected.at("rule").is_null());
  EXPECT_EQ(unselected.at("reasons"), nlohmann::json::array({"no rule selects this CSR"}));
}

TEST(CheckCommandTest, BarePemTakesTheRestFromFlags) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("team-client-certs.yaml");
  options.output = "json";
  options.inputs = {ExampleCsr("alice-client.pem")};
  options.signer_name = "kubernetes.io/kube-apiserver-client";
  options.username = "alice";
  options.groups = {"devs", "system:authenticated"};
  options.usages = {"digital signature", "key encipherment", "client auth"};
  options.expiration_seconds = 3600;
  Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(nlohmann::json::parse(outcome.out)[0].at("decision"), "approve") << outcome.out;

  // The same request claimed by another user violates sameAsRequestor.
  options.username = "mallory";
  outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(nlohmann::json::parse(outcome.out)[0].at("decision"), "deny") << outcome.out;
}

// An RSASSA-PSS request is decided like a PKCS#1 v1.5 one: its key is RSA, and minRSABits
// applies to it.
TEST(CheckCommandTest, RsaPssRequestsAreDecidedByThePolicy) {
  const auto write_request = [](int bits) {
    testing::RequestSpec request;
    request.subject = {{"CN", "alice"}, {"O", "devs"}};
    request.key = testing::KeySpec::Rsa(bits);
    request.pss.emplace();
    const std::string path = ::testing::TempDir() + "pss-" + std::to_string(bits) + ".pem";
    std::ofstream(path) << testing::MakeRequestPem(request);
    return path;
  };
  CheckOptions options;
  options.policy_path = ExamplePolicy("team-client-certs.yaml");
  options.output = "json";
  options.inputs = {write_request(2048), write_request(1024)};
  options.signer_name = "kubernetes.io/kube-apiserver-client";
  options.username = "alice";
  options.groups = {"devs", "system:authenticated"};
  options.usages = {"digital signature", "client auth"};
  options.expiration_seconds = 3600;
  const Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto results = nlohmann::json::parse(outcome.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].at("decision"), "approve") << results[0].dump();
  EXPECT_EQ(results[1].at("decision"), "deny") << results[1].dump();
  EXPECT_NE(results[1].at("reasons").dump().find("minRSABits"), std::string::npos)
      << results[1].dump();
}

// Invalid UTF-8 in a file name or a flag value reaches the output; nlohmann's dump used to throw
// on it and abort the command.
TEST(CheckCommandTest, InvalidUtf8InFileNamesAndFlagsIsReplacedNotThrown) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kca-check-utf8-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path odd = dir / "caf\xC3(-\xFF.pem";
  std::filesystem::copy_file(ExampleCsr("alice-client.pem"), odd,
                             std::filesystem::copy_options::overwrite_existing);
  CheckOptions options;
  options.policy_path = ExamplePolicy("team-client-certs.yaml");
  options.inputs = {odd.string()};
  options.signer_name = "kubernetes.io/kube-apiserver-client";
  options.username = "al\xFFice";
  options.groups = {"devs\xC0"};
  options.usages = {"client auth"};
  options.output = "json";
  Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto results = nlohmann::json::parse(outcome.out);
  const std::string name = results.at(0).at("name");
  EXPECT_NE(name.find("caf\xEF\xBF\xBD(-\xEF\xBF\xBD.pem"), std::string::npos) << name;
  EXPECT_TRUE(results.at(0).at("decision").is_string());

  options.output = "text";
  outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("\xEF\xBF\xBD"), std::string::npos) << outcome.out;
  EXPECT_EQ(outcome.out.find("\xFF"), std::string::npos) << outcome.out;
  std::filesystem::remove_all(dir);
}

TEST(CheckCommandTest, BarePemWithoutSignerIsAUsageError) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.inputs = {ExampleCsr("alice-client.pem")};
  const Outcome outcome = Check(options);
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_NE(outcome.err.find("needs --signer-name"), std::string::npos) << outcome.err;
}

TEST(CheckCommandTest, ReadsStdin) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.output = "json";
  options.inputs = {"-"};
  const Outcome outcome = Check(options, ReadFile(ExampleCsr("bob-impersonates-alice.yaml")));
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(nlohmann::json::parse(outcome.out)[0].at("decision"), "deny");
}

TEST(CheckCommandTest, UnreadableInputExitsOneButEvaluatesTheOthers) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.output = "json";
  options.inputs = {"/nonexistent/csr.yaml", ExampleCsr("alice-client.yaml")};
  const Outcome outcome = Check(options);
  EXPECT_EQ(outcome.exit_code, kExitInputError);
  EXPECT_NE(outcome.err.find("/nonexistent/csr.yaml: cannot open the file"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(outcome.out).size(), 1u);
}

TEST(CheckCommandTest, UndecodableInputExitsOne) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("cluster.yaml");
  options.inputs = {"-"};
  const Outcome outcome = Check(options, "{\"kind\": \"CertificateSigningRequest\", \"spec\": 7}");
  EXPECT_EQ(outcome.exit_code, kExitInputError);
  EXPECT_NE(outcome.err.find("<stdin>"), std::string::npos) << outcome.err;
}

TEST(CheckCommandTest, InvalidPolicyExitsTwoAndEvaluatesNothing) {
  const auto policy = std::filesystem::temp_directory_path() / "kca-invalid-policy.yaml";
  std::ofstream(policy) << "apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\n"
                           "defaultAction: approve\n";
  CheckOptions options;
  options.policy_path = policy.string();
  options.inputs = {ExampleCsr("alice-client.yaml")};
  const Outcome outcome = Check(options);
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_NE(outcome.err.find("defaultAction"), std::string::npos) << outcome.err;
  EXPECT_EQ(outcome.out, "");
  std::filesystem::remove(policy);
}

std::string ExampleNode(const char* name) { return (kExamples / "nodes" / name).string(); }

TEST(CheckCommandTest, NodeIdentityWithoutTheNodeIsPendingNotGiven) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("kubelet.yaml");
  options.output = "json";
  options.inputs = {ExampleCsr("kubelet-serving.yaml")};
  const Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto results = nlohmann::json::parse(outcome.out);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("decision"), "pending");
  EXPECT_EQ(results[0].at("rule"), "kubelet-serving");
  EXPECT_EQ(results[0].at("reasons"), nlohmann::json::array({"pending: Node worker-1 not given"}));
  bool waiting = false;
  for (const auto& check : results[0].at("checks")) {
    if (check.value("pending", false)) {
      waiting = true;
      EXPECT_FALSE(check.at("passed").get<bool>());
    }
  }
  EXPECT_TRUE(waiting) << results.dump(2);
}

TEST(CheckCommandTest, NodeFromAnotherInputFileDecides) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("kubelet.yaml");
  // The Node comes after the CSR, in a file of its own, as `kubectl get node -o yaml` prints it.
  options.inputs = {ExampleCsr("kubelet-serving.yaml"),
                    ExampleCsr("kubelet-serving-other-node.yaml"), ExampleNode("worker-1.yaml")};
  const Outcome outcome = Check(options);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("kubelet-serving: APPROVE (rule \"kubelet-serving\")"),
            std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find("kubelet-serving-other-node: DENY"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("DNS name \"worker-2.nodes.example.com\" is not a "
                             "Hostname/InternalDNS/ExternalDNS address of Node \"worker-1\""),
            std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find("2 CSRs: 1 approve, 1 deny, 0 log, 0 skip\n"), std::string::npos)
      << outcome.out;
}

TEST(CheckCommandTest, NodeListAndReviewAnswersFromStdin) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("kubelet.yaml");
  options.inputs = {ExampleCsr("kubelet-client-renewal.yaml"), "-"};
  // A refused review denies; the text output says the CSR waits when the answer is missing.
  const std::string refused = R"({"apiVersion": "v1", "kind": "List", "items": [
    {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
     "spec": {"user": "system:node:worker-1", "resourceAttributes": {"group": "certificates.k8s.io",
              "resource": "certificatesigningrequests", "subresource": "selfnodeclient",
              "verb": "create"}},
     "status": {"allowed": false, "reason": "no binding"}}]})";
  Outcome outcome = Check(options, refused);
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("kubelet-client-renewal: DENY"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("selfnodeclient denied: no binding"), std::string::npos)
      << outcome.out;

  outcome = Check(options, R"({"kind": "NodeList", "apiVersion": "v1", "items": []})");
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_NE(outcome.out.find("kubelet-client-renewal: PENDING"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("[wait] requestorAuthorized: pending: SubjectAccessReview for "
                             "\"system:node:worker-1\" to create "
                             "certificates.k8s.io/certificatesigningrequests/selfnodeclient not "
                             "given"),
            std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find(", 1 pending\n"), std::string::npos) << outcome.out;
}

TEST(CheckCommandTest, MalformedNodeIsAnInputError) {
  CheckOptions options;
  options.policy_path = ExamplePolicy("kubelet.yaml");
  options.inputs = {"-"};
  const Outcome outcome =
      Check(options, "kind: Node\nmetadata: {name: w}\nstatus: {addresses: [{type: 1}]}\n");
  EXPECT_EQ(outcome.exit_code, kExitInputError);
  EXPECT_NE(outcome.err.find("<stdin>: Node \"w\": status.addresses[0].type: expected a string"),
            std::string::npos)
      << outcome.err;
}

TEST(ValidatePolicyCommandTest, ValidPolicyPrintsASummary) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunValidatePolicy({ExamplePolicy("cluster.yaml")}, {in, out, err}), kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("valid policy, 4 rules, sha256 "), std::string::npos) << out.str();
}

TEST(ValidatePolicyCommandTest, MissingFileIsAnError) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunValidatePolicy({"/nonexistent/policy.yaml"}, {in, out, err}), kExitUsageError);
  EXPECT_NE(err.str().find("/nonexistent/policy.yaml"), std::string::npos) << err.str();
}

TEST(VersionCommandTest, PrintsVersionAndRevision) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunVersion({in, out, err}), kExitOk);
  EXPECT_TRUE(out.str().starts_with("kube-csr-approver 0.1.0 (revision ")) << out.str();
}

}  // namespace
}  // namespace kca
