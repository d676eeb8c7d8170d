// libFuzzer target: the decoder of error answers (a Status body, or anything a proxy sends).
// Input: one byte choosing the HTTP status (400..599), the Retry-After header value up to the
// first newline, then the body. Invariants: never throws; the error keeps the HTTP status and
// names the request; a Status's string reason is kept; Retry-After is read only when it is a
// whole number of seconds; a body that is no Status is quoted at most 256 bytes; decoding the
// parsed Status (as for a watch ERROR event) gives the same error as decoding the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/kube/api_client.h"

namespace {

using kca::fuzz::Violated;

constexpr std::string_view kRequest = "GET /apis/certificates.k8s.io/v1/certificatesigningrequests";

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int http_status = 400 + data[0] % 200;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t newline = rest.find('\n');
  const std::string_view retry_after =
      newline == std::string_view::npos ? std::string_view() : rest.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? rest : rest.substr(newline + 1);

  const kca::kube::ApiError error =
      kca::kube::DecodeApiError(http_status, body, retry_after, kRequest);
  if (error.http_status != http_status) Violated("the HTTP status changed");
  if (error.message.rfind(kRequest, 0) != 0) Violated("an error that does not name the request");
  if (error.retry_after) {
    if (!AllDigits(retry_after)) Violated("Retry-After read from non-digits");
    if (error.retry_after->count() < 0) Violated("a negative Retry-After");
  } else if (AllDigits(retry_after) && retry_after.size() < 18) {
    Violated("a whole-seconds Retry-After ignored", retry_after);
  }

  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  const bool is_status = parsed.is_object() && parsed.contains("kind") &&
                         parsed["kind"].is_string() && parsed["kind"] == "Status";
  if (!is_status) {
    if (!error.status_reason.empty()) Violated("a reason read from a body that is no Status");
    if (error.message.size() > kRequest.size() + 64 + 256) Violated("an unbounded quote");
    return 0;
  }
  if (parsed.contains("reason") && parsed["reason"].is_string() &&
      error.status_reason != parsed["reason"].get<std::string>()) {
    Violated("a Status reason lost");
  }
  const kca::kube::ApiError direct = kca::kube::DecodeApiStatus(http_status, parsed, kRequest);
  if (direct.http_status != error.http_status || direct.status_reason != error.status_reason ||
      direct.message != error.message || direct.code != error.code) {
    Violated("the parsed Status decodes differently from its body");
  }
  return 0;
}
