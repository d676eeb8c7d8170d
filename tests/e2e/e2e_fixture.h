// A fresh API emulator per test, an admin client to drive it, and helpers to create CSRs as
// any requestor (impersonation), wait for decisions and read the emulator's request counts.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "approver_process.h"
#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"

namespace kca::e2e {

inline constexpr const char* kApproverUser = "system:serviceaccount:kube-system:kube-csr-approver";
inline constexpr const char* kClientSigner = "kubernetes.io/kube-apiserver-client";

struct CsrRequest {
  std::string name;
  std::vector<std::pair<std::string, std::string>> subject;  // {"CN","alice"},{"O","devs"}
  std::string user;                                          // the requestor
  std::vector<std::string> groups;
  std::string signer = kClientSigner;
  std::vector<std::string> usages = {"digital signature", "key encipherment", "client auth"};
  std::optional<int> expiration_seconds;
  kca::testing::KeySpec key = kca::testing::KeySpec::Ecdsa("P-256");
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  nlohmann::json metadata = nlohmann::json::object();  // merged into metadata (labels, ...)
};

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  void StartEmulator(std::vector<std::string> extra_args = {});
  // Writes `text` as DIR/name and returns the path.
  std::string WriteFile(const std::string& name, const std::string& text);
  // The approver with the approver kubeconfig, ports 0, JSON logs, plus `extra_args`.
  std::unique_ptr<ApproverProcess> StartApprover(const std::string& policy_path,
                                                 std::vector<std::string> extra_args = {},
                                                 const std::string& log_name = "approver.log");

  void CreateCsr(const CsrRequest& request);
  nlohmann::json GetCsr(const std::string& name);
  // "Approved", "Denied", or "" when still undecided at the deadline.
  std::string WaitForDecision(const std::string& name,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The approver identity's count of `verb` on `resource` ("certificatesigningrequests/approval").
  int ApproverRequests(const std::string& resource, const std::string& verb);
  void SetFaults(const nlohmann::json& faults);
  // Polls `condition` every 20 ms until it holds or `timeout` passes.
  static bool Eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));

  std::filesystem::path dir_;
  std::unique_ptr<emulator::EmulatorProcess> emulator_;
  std::unique_ptr<emulator::HttpsClient> admin_;
};

}  // namespace kca::e2e
