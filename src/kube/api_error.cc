#include <charconv>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {
namespace {

constexpr std::size_t kMaxQuotedBody = 256;

bool IsTransient(int http_status) {
  // 401: a rotated token or re-run plugin may fix it; 5xx except "not implemented".
  return http_status == 401 || http_status == 429 || (http_status >= 500 && http_status != 501);
}

}  // namespace

ApiError DecodeApiError(int http_status, std::string_view body, std::string_view retry_after,
                        std::string_view request) {
  ApiError error;
  error.http_status = http_status;
  error.transient = IsTransient(http_status);
  std::string detail;
  const nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
  if (!status.is_discarded() && status.is_object() && status.value("kind", "") == "Status") {
    if (auto it = status.find("reason"); it != status.end() && it->is_string()) {
      error.reason = it->get<std::string>();
    }
    if (auto it = status.find("message"); it != status.end() && it->is_string()) {
      detail = it->get<std::string>();
    }
  } else {
    detail = std::string(body.substr(0, kMaxQuotedBody));
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  }
  if (!retry_after.empty()) {
    long long seconds = 0;
    const auto [end, ec] =
        std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
    if (ec == std::errc() && end == retry_after.data() + retry_after.size() && seconds >= 0) {
      error.retry_after = std::chrono::seconds(seconds);
    }
  }
  error.message = std::string(request) + ": HTTP " + std::to_string(http_status);
  if (!error.reason.empty()) error.message += " " + error.reason;
  if (!detail.empty()) error.message += ": " + detail;
  return error;
}

}  // namespace kca::kube
