#include <charconv>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {
namespace {

constexpr std::size_t kMaxQuotedBody = 256;
constexpr std::string_view kTooLargeResourceVersion = "Too large resource version";

bool IsTransient(int http_status) {
  // 401: a rotated token or re-run plugin may fix it; 5xx except "not implemented".
  return http_status == 401 || http_status == 429 || (http_status >= 500 && http_status != 501);
}

// The member `key` of `object` when it is a string, else empty. Never throws.
std::string StringMember(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// As client-go's isTooLargeResourceVersionError (tools/cache/reflector.go): the cause type
// ResourceVersionTooLarge, or (servers before 1.18.6) a Timeout whose cause or message says so.
bool SaysResourceVersionTooLarge(const nlohmann::json& status, int http_status,
                                 const std::string& reason, const std::string& message) {
  bool cause_says = false;
  if (auto details = status.find("details"); details != status.end() && details->is_object()) {
    if (auto causes = details->find("causes"); causes != details->end() && causes->is_array()) {
      for (const nlohmann::json& cause : *causes) {
        if (StringMember(cause, "reason") == "ResourceVersionTooLarge") return true;
        if (StringMember(cause, "message") == kTooLargeResourceVersion) cause_says = true;
      }
    }
  }
  const bool timeout = http_status == 504 || reason == "Timeout";
  return timeout && (cause_says || message.find(kTooLargeResourceVersion) != std::string::npos);
}

ApiError Classified(int http_status, std::string reason, std::string detail,
                    std::string_view request) {
  ApiError error;
  error.http_status = http_status;
  error.transient = IsTransient(http_status);
  error.reason = std::move(reason);
  error.message = std::string(request) + ": HTTP " + std::to_string(http_status);
  if (!error.reason.empty()) error.message += " " + error.reason;
  if (!detail.empty()) error.message += ": " + detail;
  return error;
}

}  // namespace

ApiError DecodeApiStatus(int http_status, const nlohmann::json& status, std::string_view request) {
  if (!status.is_object() || StringMember(status, "kind") != "Status") {
    return Classified(http_status, "", "the answer is not a Status object", request);
  }
  std::string reason = StringMember(status, "reason");
  std::string message = StringMember(status, "message");
  const bool too_large = SaysResourceVersionTooLarge(status, http_status, reason, message);
  ApiError error = Classified(http_status, std::move(reason), std::move(message), request);
  error.resource_version_too_large = too_large;
  return error;
}

ApiError DecodeApiError(int http_status, std::string_view body, std::string_view retry_after,
                        std::string_view request) {
  const nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
  ApiError error;
  if (!status.is_discarded() && StringMember(status, "kind") == "Status") {
    error = DecodeApiStatus(http_status, status, request);
  } else {
    std::string detail(body.substr(0, kMaxQuotedBody));
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
    error = Classified(http_status, "", std::move(detail), request);
  }
  if (!retry_after.empty()) {
    long long seconds = 0;
    const auto [end, ec] =
        std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
    if (ec == std::errc() && end == retry_after.data() + retry_after.size() && seconds >= 0) {
      error.retry_after = std::chrono::seconds(seconds);
    }
  }
  return error;
}

}  // namespace kca::kube
