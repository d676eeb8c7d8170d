#include <charconv>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {
namespace {

constexpr std::size_t kMaxQuotedBody = 256;
constexpr std::string_view kTooLargeResourceVersion = "Too large resource version";

// The member `key` of `object` when it is a string, else empty. Never throws.
std::string StringMember(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The code a known Status.reason stands for (apimachinery's pkg/apis/meta/v1 StatusReason
// constants and pkg/api/errors knownReasons); nullopt for an unknown or empty one.
std::optional<ApiErrorCode> CodeOfReason(std::string_view reason) {
  struct Known {
    std::string_view reason;
    ApiErrorCode code;
  };
  static constexpr Known kKnown[] = {
      {"Unauthorized", ApiErrorCode::kUnauthorized},
      {"Forbidden", ApiErrorCode::kForbidden},
      {"NotFound", ApiErrorCode::kNotFound},
      {"AlreadyExists", ApiErrorCode::kAlreadyExists},
      {"Conflict", ApiErrorCode::kConflict},
      {"Gone", ApiErrorCode::kGone},
      {"Expired", ApiErrorCode::kGone},
      {"TooManyRequests", ApiErrorCode::kThrottled},
      {"BadRequest", ApiErrorCode::kInvalid},
      {"Invalid", ApiErrorCode::kInvalid},
      {"MethodNotAllowed", ApiErrorCode::kInvalid},
      {"NotAcceptable", ApiErrorCode::kInvalid},
      {"RequestEntityTooLarge", ApiErrorCode::kInvalid},
      {"UnsupportedMediaType", ApiErrorCode::kInvalid},
      {"InternalError", ApiErrorCode::kServerError},
      {"ServiceUnavailable", ApiErrorCode::kServerError},
      {"Timeout", ApiErrorCode::kServerError},
      {"ServerTimeout", ApiErrorCode::kServerError},
  };
  for (const Known& known : kKnown) {
    if (known.reason == reason) return known.code;
  }
  return std::nullopt;
}

ApiErrorCode CodeOfHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422:
      return ApiErrorCode::kInvalid;
    case 401:
      return ApiErrorCode::kUnauthorized;
    case 403:
      return ApiErrorCode::kForbidden;
    case 404:
      return ApiErrorCode::kNotFound;
    case 409:
      return ApiErrorCode::kConflict;
    case 410:
      return ApiErrorCode::kGone;
    case 429:
      return ApiErrorCode::kThrottled;
    case 501:
      return ApiErrorCode::kOther;  // "not implemented" will not be, later
    default:
      return http_status >= 500 && http_status <= 599 ? ApiErrorCode::kServerError
                                                      : ApiErrorCode::kOther;
  }
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
  // 429 whatever the reason says (apimachinery's IsTooManyRequests checks the code first).
  const std::optional<ApiErrorCode> by_reason = CodeOfReason(reason);
  error.code = http_status == 429 ? ApiErrorCode::kThrottled
                                  : by_reason.value_or(CodeOfHttpStatus(http_status));
  error.status_reason = std::move(reason);
  error.message = std::string(request) + ": HTTP " + std::to_string(http_status);
  if (!error.status_reason.empty()) error.message += " " + error.status_reason;
  if (!detail.empty()) error.message += ": " + detail;
  return error;
}

}  // namespace

std::string_view ToString(ApiErrorCode code) {
  switch (code) {
    case ApiErrorCode::kOther:
      return "other";
    case ApiErrorCode::kCanceled:
      return "canceled";
    case ApiErrorCode::kTimeout:
      return "timeout";
    case ApiErrorCode::kConnectionFailed:
      return "connection_failed";
    case ApiErrorCode::kTlsVerifyFailed:
      return "tls_verify_failed";
    case ApiErrorCode::kCredentialsUnavailable:
      return "credentials_unavailable";
    case ApiErrorCode::kUnauthorized:
      return "unauthorized";
    case ApiErrorCode::kForbidden:
      return "forbidden";
    case ApiErrorCode::kNotFound:
      return "not_found";
    case ApiErrorCode::kAlreadyExists:
      return "already_exists";
    case ApiErrorCode::kConflict:
      return "conflict";
    case ApiErrorCode::kGone:
      return "gone";
    case ApiErrorCode::kResourceVersionTooLarge:
      return "resource_version_too_large";
    case ApiErrorCode::kThrottled:
      return "throttled";
    case ApiErrorCode::kInvalid:
      return "invalid";
    case ApiErrorCode::kServerError:
      return "server_error";
    case ApiErrorCode::kInvalidResponse:
      return "invalid_response";
    case ApiErrorCode::kResponseTooLarge:
      return "response_too_large";
  }
  return "other";
}

bool ApiError::transient() const {
  switch (code) {
    case ApiErrorCode::kTimeout:
    case ApiErrorCode::kConnectionFailed:
    case ApiErrorCode::kCredentialsUnavailable:
    case ApiErrorCode::kUnauthorized:
    case ApiErrorCode::kThrottled:
    case ApiErrorCode::kServerError:
      return true;
    default:
      return false;
  }
}

bool ApiError::transport_failure() const {
  return code == ApiErrorCode::kTimeout || code == ApiErrorCode::kConnectionFailed ||
         code == ApiErrorCode::kTlsVerifyFailed;
}

ApiError DecodeApiStatus(int http_status, const nlohmann::json& status, std::string_view request) {
  if (!status.is_object() || StringMember(status, "kind") != "Status") {
    return Classified(http_status, "", "the answer is not a Status object", request);
  }
  std::string reason = StringMember(status, "reason");
  std::string message = StringMember(status, "message");
  const bool too_large = SaysResourceVersionTooLarge(status, http_status, reason, message);
  ApiError error = Classified(http_status, std::move(reason), std::move(message), request);
  if (too_large) error.code = ApiErrorCode::kResourceVersionTooLarge;
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
  // delay-seconds is 1*DIGIT (RFC 9110 10.2.3): from_chars alone would also take "-0".
  if (!retry_after.empty() && retry_after.front() >= '0' && retry_after.front() <= '9') {
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
