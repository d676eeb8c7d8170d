#include "e2e_fixture.h"

#include <fstream>
#include <random>
#include <thread>

namespace kca::e2e {

void E2eTest::SetUp() {
  std::random_device random;
  dir_ = std::filesystem::temp_directory_path() /
         ("kca-e2e-" + std::to_string(getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(dir_);
}

void E2eTest::TearDown() {
  admin_.reset();
  emulator_.reset();
  if (!HasFailure()) std::filesystem::remove_all(dir_);
  else std::fprintf(stderr, "logs kept in %s\n", dir_.c_str());
}

void E2eTest::StartEmulator(std::vector<std::string> extra_args) {
  emulator::EmulatorProcess::Options options;
  options.extra_args = std::move(extra_args);
  auto emulator = emulator::EmulatorProcess::Start(options);
  ASSERT_TRUE(emulator.ok()) << emulator.error().message;
  emulator_ = std::move(*emulator);
  auto credentials = emulator::Credentials::FromDataDir(emulator_->data_dir(), "admin");
  ASSERT_TRUE(credentials.ok()) << credentials.error().message;
  admin_ = std::make_unique<emulator::HttpsClient>("127.0.0.1", emulator_->port(), *credentials);
  // As in a real cluster where requestors are granted CSR creation by RBAC: every authenticated
  // user (impersonated by the tests) may create and read CSRs.
  auto bound = admin_->Post(
      "/emulator/v1/bindings",
      {{"bindings",
        {{{"group", "system:authenticated"},
          {"rules",
           {{{"verbs", {"create", "get", "list", "watch"}},
             {"apiGroups", {"certificates.k8s.io"}},
             {"resources", {"certificatesigningrequests"}}}}}}}}});
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  ASSERT_EQ(bound->status, 200) << bound->body;
}

std::string E2eTest::WriteFile(const std::string& name, const std::string& text) {
  const auto path = dir_ / name;
  std::ofstream(path) << text;
  return path.string();
}

std::unique_ptr<ApproverProcess> E2eTest::StartApprover(const std::string& policy_path,
                                                       std::vector<std::string> extra_args,
                                                       const std::string& log_name) {
  ApproverProcess::Options options;
  options.args = {"--policy", policy_path, "--kubeconfig", emulator_->kubeconfig("approver"),
                  "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address",
                  "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"};
  options.args.insert(options.args.end(), extra_args.begin(), extra_args.end());
  options.log_path = (dir_ / log_name).string();
  auto process = ApproverProcess::Start(options);
  if (!process.ok()) {
    ADD_FAILURE() << process.error().message;
    return nullptr;
  }
  return std::move(*process);
}

void E2eTest::CreateCsr(const CsrRequest& request) {
  kca::testing::RequestSpec spec;
  spec.subject = request.subject;
  spec.key = request.key;
  spec.dns_names = request.dns_names;
  spec.ip_addresses = request.ip_addresses;
  nlohmann::json csr = {
      {"apiVersion", "certificates.k8s.io/v1"},
      {"kind", "CertificateSigningRequest"},
      {"metadata", {{"name", request.name}}},
      {"spec",
       {{"request", kca::testing::Base64Encode(kca::testing::MakeRequestPem(spec))},
        {"signerName", request.signer},
        {"usages", request.usages}}}};
  if (request.expiration_seconds) csr["spec"]["expirationSeconds"] = *request.expiration_seconds;
  csr["metadata"].update(request.metadata);
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"}, {"Impersonate-User", request.user}};
  for (const auto& group : request.groups) headers.emplace_back("Impersonate-Group", group);
  auto response = admin_->Request("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                                  csr.dump(), headers);
  ASSERT_TRUE(response.ok()) << response.error().message;
  ASSERT_EQ(response->status, 201) << response->body;
}

nlohmann::json E2eTest::GetCsr(const std::string& name) {
  auto response = admin_->Get("/apis/certificates.k8s.io/v1/certificatesigningrequests/" + name);
  if (!response.ok() || response->status != 200) return nullptr;
  return response->Json();
}

std::string E2eTest::WaitForDecision(const std::string& name, std::chrono::milliseconds timeout) {
  std::string decision;
  Eventually(
      [&] {
        const auto csr = GetCsr(name);
        if (!csr.is_object()) return false;
        for (const auto& condition : csr["status"].value("conditions", nlohmann::json::array())) {
          const std::string type = condition.value("type", "");
          if ((type == "Approved" || type == "Denied") && condition.value("status", "") == "True") {
            decision = type;
            return true;
          }
        }
        return false;
      },
      timeout);
  return decision;
}

int E2eTest::ApproverRequests(const std::string& resource, const std::string& verb) {
  auto response = admin_->Get("/emulator/v1/requests");
  if (!response.ok() || response->status != 200) return -1;
  const auto counts = response->Json();
  if (!counts["users"].contains(kApproverUser)) return 0;
  const auto& resources = counts["users"][kApproverUser]["resources"];
  if (!resources.contains(resource)) return 0;
  return resources[resource].value(verb, 0);
}

void E2eTest::SetFaults(const nlohmann::json& faults) {
  auto response = admin_->Post("/emulator/v1/faults", faults);
  ASSERT_TRUE(response.ok()) << response.error().message;
  ASSERT_EQ(response->status, 200) << response->body;
}

bool E2eTest::Eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace kca::e2e
