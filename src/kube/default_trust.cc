#include "kube_csr_approver/kube/default_trust.h"

#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

namespace kca::kube {
namespace {

constexpr char kEmptyFile[] = "/dev/null";

// Written once by DeferDefaultTrustStore before any thread starts, read-only afterwards.
struct Deferred {
  bool active = false;
  std::string default_file;                 // what OpenSSL would have loaded
  std::optional<std::string> original_env;  // SSL_CERT_FILE as the process started with
};

Deferred& State() {
  static Deferred state;
  return state;
}

}  // namespace

void DeferDefaultTrustStore() {
  Deferred& state = State();
  if (state.active) return;
  const char* variable = X509_get_default_cert_file_env();  // "SSL_CERT_FILE"
  const char* value = std::getenv(variable);
  if (value != nullptr) state.original_env = value;
  state.default_file = value != nullptr ? value : X509_get_default_cert_file();
  if (::setenv(variable, kEmptyFile, 1) == 0) state.active = true;
}

const std::string& DeferredDefaultCaFile() {
  static const std::string none;
  return State().active ? State().default_file : none;
}

void RestoreTrustEnvironment(std::vector<std::string>& environment) {
  const Deferred& state = State();
  if (!state.active) return;
  const std::string prefix = std::string(X509_get_default_cert_file_env()) + "=";
  std::erase_if(environment, [&](const std::string& entry) { return entry.starts_with(prefix); });
  if (state.original_env) environment.push_back(prefix + *state.original_env);
}

}  // namespace kca::kube
