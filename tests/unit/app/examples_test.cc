// Every shipped example policy loads cleanly, and every example CSR gets the decision its file
// name promises under each example policy.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "commands.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca {
namespace {

const std::filesystem::path kExamples = std::filesystem::path(KCA_SOURCE_DIR) / "examples";

TEST(ExamplePoliciesTest, EveryExamplePolicyLoadsWithoutErrorsOrWarnings) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples / "policies")) {
    const auto loaded = LoadPolicyFile(entry.path().string());
    EXPECT_TRUE(loaded.policy) << entry.path();
    for (const auto& issue : loaded.errors) ADD_FAILURE() << issue.ToString();
    for (const auto& issue : loaded.warnings) ADD_FAILURE() << "warning: " << issue.ToString();
    ++count;
  }
  EXPECT_GE(count, 5);
}

using ExpectedDecisions = std::map<std::string, std::string>;  // CSR name -> decision

// Runs `check --output json` over every example CSR and returns name -> decision.
// `extra_dirs` (under examples/) add their files, e.g. Node objects for node identity rules.
ExpectedDecisions CheckAllExamples(const std::string& policy_file,
                                   std::vector<std::string> extra_dirs = {}) {
  CheckOptions options;
  options.policy_path = (kExamples / "policies" / policy_file).string();
  options.output = "json";
  extra_dirs.push_back("csrs");
  for (const std::string& dir : extra_dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(kExamples / dir)) {
      if (entry.path().extension() == ".yaml") options.inputs.push_back(entry.path().string());
    }
  }
  std::istringstream in;
  std::ostringstream out, err;
  const int exit_code = RunCheck(options, {in, out, err});
  EXPECT_EQ(exit_code, kExitOk) << err.str();
  ExpectedDecisions decisions;
  for (const auto& result : nlohmann::json::parse(out.str())) {
    decisions[result.at("name").get<std::string>()] = result.at("decision").get<std::string>();
  }
  return decisions;
}

TEST(ExampleCsrsTest, ClusterPolicy) {
  const ExpectedDecisions expected = {
      {"seed-escalation", "deny"},           {"alice-client", "approve"},
      {"carol-client", "approve"},           {"alice-asks-for-masters", "deny"},
      {"bob-impersonates-alice", "deny"},    {"alice-client-with-san", "deny"},
      {"alice-already-approved", "skip"},    {"ci-runner", "approve"},
      {"ci-runner-rsa-key", "deny"},         {"kubelet-client-renewal", "approve"},
      {"kubelet-claims-other-node", "deny"}, {"kubelet-serving", "log"},
      {"kubelet-serving-other-node", "log"},
  };
  EXPECT_EQ(CheckAllExamples("cluster.yaml"), expected);
}

TEST(ExampleCsrsTest, TeamClientCertsPolicy) {
  const ExpectedDecisions expected = {
      {"seed-escalation", "log"},
      {"alice-client", "approve"},
      {"carol-client", "approve"},
      {"alice-asks-for-masters", "deny"},
      {"bob-impersonates-alice", "deny"},
      {"alice-client-with-san", "deny"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "log"},
      {"ci-runner-rsa-key", "log"},
      {"kubelet-client-renewal", "log"},
      {"kubelet-claims-other-node", "log"},
      {"kubelet-serving", "log"},
      {"kubelet-serving-other-node", "log"},
  };
  EXPECT_EQ(CheckAllExamples("team-client-certs.yaml"), expected);
}

TEST(ExampleCsrsTest, CiServiceAccountsPolicy) {
  const ExpectedDecisions expected = {
      {"seed-escalation", "log"},
      {"alice-client", "log"},
      {"carol-client", "log"},
      {"alice-asks-for-masters", "log"},
      {"bob-impersonates-alice", "log"},
      {"alice-client-with-san", "log"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "approve"},
      {"ci-runner-rsa-key", "deny"},
      {"kubelet-client-renewal", "log"},
      {"kubelet-claims-other-node", "log"},
      {"kubelet-serving", "log"},
      {"kubelet-serving-other-node", "log"},
  };
  EXPECT_EQ(CheckAllExamples("ci-service-accounts.yaml"), expected);
}

TEST(ExampleCsrsTest, KubeletClientPolicy) {
  const ExpectedDecisions expected = {
      {"seed-escalation", "log"},
      {"alice-client", "log"},
      {"carol-client", "log"},
      {"alice-asks-for-masters", "log"},
      {"bob-impersonates-alice", "log"},
      {"alice-client-with-san", "log"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "log"},
      {"ci-runner-rsa-key", "log"},
      {"kubelet-client-renewal", "approve"},
      {"kubelet-claims-other-node", "deny"},
      {"kubelet-serving", "log"},
      {"kubelet-serving-other-node", "log"},
  };
  EXPECT_EQ(CheckAllExamples("kubelet-client.yaml"), expected);
}

TEST(ExampleCsrsTest, DenyByDefaultPolicy) {
  // alice's 2048-bit key is below this policy's minRSABits (3072); carol's 3072-bit key passes.
  const ExpectedDecisions expected = {
      {"seed-escalation", "deny"},
      {"alice-client", "deny"},
      {"carol-client", "approve"},
      {"alice-asks-for-masters", "deny"},
      {"bob-impersonates-alice", "deny"},
      {"alice-client-with-san", "deny"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "deny"},
      {"ci-runner-rsa-key", "deny"},
      {"kubelet-client-renewal", "deny"},
      {"kubelet-claims-other-node", "deny"},
      {"kubelet-serving", "deny"},
      {"kubelet-serving-other-node", "deny"},
  };
  EXPECT_EQ(CheckAllExamples("deny-by-default.yaml"), expected);
}

TEST(ExampleCsrsTest, KubeletPolicyWithNodesAndReviews) {
  // examples/nodes holds Node worker-1 and the answer to worker-1's selfnodeclient review.
  const ExpectedDecisions expected = {
      {"seed-escalation", "log"},
      {"alice-client", "log"},
      {"carol-client", "log"},
      {"alice-asks-for-masters", "log"},
      {"bob-impersonates-alice", "log"},
      {"alice-client-with-san", "log"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "log"},
      {"ci-runner-rsa-key", "log"},
      {"kubelet-client-renewal", "approve"},
      {"kubelet-claims-other-node", "deny"},
      {"kubelet-serving", "approve"},
      {"kubelet-serving-other-node", "deny"},
  };
  EXPECT_EQ(CheckAllExamples("kubelet.yaml", {"nodes"}), expected);
}

TEST(ExampleCsrsTest, KubeletPolicyWithoutNodesWaitsNeverApproves) {
  // Offline without the Node or the review's answer: pending, never approve. A request that
  // fails on its own (another node's CN or SANs) is still denied.
  const ExpectedDecisions expected = {
      {"seed-escalation", "log"},
      {"alice-client", "log"},
      {"carol-client", "log"},
      {"alice-asks-for-masters", "log"},
      {"bob-impersonates-alice", "log"},
      {"alice-client-with-san", "log"},
      {"alice-already-approved", "skip"},
      {"ci-runner", "log"},
      {"ci-runner-rsa-key", "log"},
      {"kubelet-client-renewal", "pending"},
      {"kubelet-claims-other-node", "deny"},
      {"kubelet-serving", "pending"},
      {"kubelet-serving-other-node", "pending"},
  };
  EXPECT_EQ(CheckAllExamples("kubelet.yaml"), expected);
}

}  // namespace
}  // namespace kca
