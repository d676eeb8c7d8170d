// libFuzzer target: the ExecCredential decoder (a credential plugin's stdout) and the RFC 3339
// reader behind its expirationTimestamp. First byte: the apiVersion configured (v1 or v1beta1).
// Invariants: never throws; refusals say so; an accepted credential holds a token or a client
// certificate with its key, and re-encoded as the plugin would print it decodes to the same
// credential; a timestamp read is stable through FormatMicroTime when it has no sub-microsecond
// digits.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "exec_plugin.h"
#include "fuzz_invariants.h"
#include "time_format.h"

namespace {

using kca::fuzz::Violated;

// RFC 3339 section 5.6: date-time = YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" / +hh:mm / -hh:mm).
bool HasRfc3339Shape(const std::string& text) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() < kShape.size() + 1) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const char c = text[i];
    const bool ok = kShape[i] == 'd'   ? (c >= '0' && c <= '9')
                    : kShape[i] == 'T' ? (c == 'T' || c == 't')
                                       : c == kShape[i];
    if (!ok) return false;
  }
  size_t at = kShape.size();
  if (text[at] == '.') {
    const size_t start = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == start) return false;
  }
  const std::string zone = text.substr(at);
  if (zone == "Z" || zone == "z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
         std::isdigit(static_cast<unsigned char>(zone[1])) &&
         std::isdigit(static_cast<unsigned char>(zone[2])) &&
         std::isdigit(static_cast<unsigned char>(zone[4])) &&
         std::isdigit(static_cast<unsigned char>(zone[5]));
}

void CheckTimestamp(const std::string& text) {
  const auto parsed = kca::kube::ParseRfc3339(text);
  if (!parsed) return;
  if (!HasRfc3339Shape(text)) Violated("accepted a timestamp that is not RFC 3339", text);
  const std::string formatted = kca::kube::FormatMicroTime(*parsed);
  const auto again = kca::kube::ParseRfc3339(formatted);
  if (!again) Violated("a formatted timestamp does not parse", formatted);
  const auto micros = std::chrono::floor<std::chrono::microseconds>(*parsed);
  if (*again != micros) Violated("a timestamp changes through FormatMicroTime", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string api_version = (data[0] & 1) != 0 ? "client.authentication.k8s.io/v1"
                                                     : "client.authentication.k8s.io/v1beta1";
  const std::string output(reinterpret_cast<const char*>(data) + 1, size - 1);
  CheckTimestamp(output);
  const auto credential = kca::kube::ParseExecCredential(output, api_version);
  if (!credential.ok()) {
    if (credential.error().message.rfind("exec credential plugin output: ", 0) != 0) {
      Violated("a refusal that does not say what was refused", credential.error().message);
    }
    return 0;
  }
  if (credential->expiry) {
    const auto doc = nlohmann::json::parse(output);
    CheckTimestamp(doc["status"]["expirationTimestamp"].get<std::string>());
  }
  const kca::kube::Credentials& c = credential->credentials;
  if (c.client_certificate_pem.empty() != c.client_key_pem.empty()) {
    Violated("a client certificate without its key");
  }
  if (c.bearer_token.empty() && c.client_certificate_pem.empty()) Violated("no credential");

  nlohmann::json status = nlohmann::json::object();
  if (!c.bearer_token.empty()) status["token"] = c.bearer_token;
  if (!c.client_certificate_pem.empty()) {
    status["clientCertificateData"] = c.client_certificate_pem;
    status["clientKeyData"] = c.client_key_pem;
  }
  if (credential->expiry)
    status["expirationTimestamp"] = kca::kube::FormatMicroTime(*credential->expiry);
  const nlohmann::json printed = {
      {"apiVersion", api_version}, {"kind", "ExecCredential"}, {"status", status}};
  const auto again = kca::kube::ParseExecCredential(printed.dump(), api_version);
  if (!again.ok()) Violated("a re-encoded credential is refused", again.error().message);
  const kca::kube::Credentials& d = again->credentials;
  if (d.bearer_token != c.bearer_token || d.client_certificate_pem != c.client_certificate_pem ||
      d.client_key_pem != c.client_key_pem ||
      again->expiry.has_value() != credential->expiry.has_value() ||
      (again->expiry &&
       *again->expiry != std::chrono::floor<std::chrono::microseconds>(*credential->expiry))) {
    Violated("a re-encoded credential decodes differently");
  }
  return 0;
}
