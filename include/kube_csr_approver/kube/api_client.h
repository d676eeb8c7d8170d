// Talking to the Kubernetes API server: JSON requests and watch streams, behind small interfaces
// so the controller and tests never see the HTTP library (cpprestsdk, archived upstream).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/credentials.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "kube_csr_approver/kube/rate_limit.h"

namespace kca::kube {

// What kind of failure an ApiError is. Set where the error is made (from the HTTP status and the
// Status' reason, or from the transport failure) and read by every caller that branches on a
// failure: nothing compares reason or message strings. Without an HTTP answer (http_status 0):
// kCanceled, kTimeout, kConnectionFailed, kTlsVerifyFailed, kCredentialsUnavailable, and
// kInvalidResponse / kResponseTooLarge for an answer that could not be read.
enum class ApiErrorCode {
  kOther,                    // any other answer (3xx, 418, 501, a watch ERROR without a code)
  kCanceled,                 // the caller's Cancellation fired, or CallOptions::may_send said no
  kTimeout,                  // no (complete) answer in time
  kConnectionFailed,         // refused, unreachable, reset, dropped mid-body or mid-stream
  kTlsVerifyFailed,          // the server's certificate did not verify (message: the x509 cause)
  kCredentialsUnavailable,   // nothing to authenticate with (token file, exec plugin failed)
  kUnauthorized,             // 401 / Unauthorized
  kForbidden,                // 403 / Forbidden
  kNotFound,                 // 404 / NotFound
  kAlreadyExists,            // AlreadyExists (409 on a create)
  kConflict,                 // 409 / Conflict: a stale resourceVersion
  kGone,                     // 410 / Gone / Expired: the resourceVersion or continue token is
                             // older than the server's history
  kResourceVersionTooLarge,  // the resourceVersion is newer than the server's (etcd restore)
  kThrottled,                // 429, whatever the reason says (retry_after from Retry-After)
  kInvalid,                  // 400, 405, 406, 413, 415, 422 / BadRequest, Invalid, ...: refused
                             // as sent
  kServerError,              // 500, 502, 503, 504 and other 5xx but 501 / InternalError,
                             // ServiceUnavailable, Timeout, ServerTimeout
  kInvalidResponse,          // the answer is not what the API sends (not JSON, not an event)
  kResponseTooLarge,         // a body over max_response_bytes or a watch line over
                             // max_watch_line_bytes (the response was cancelled)
};
// "not_found", "tls_verify_failed", ...: the error_code field of log lines (docs/operations.md).
std::string_view ToString(ApiErrorCode code);

// A failed API call: the server's Status, or what went wrong on the way. A plain value type.
struct ApiError {
  ApiErrorCode code = ApiErrorCode::kOther;
  int http_status = 0;        // 0: no HTTP answer (connection, TLS, timeout, cancelled, bad body)
  std::string status_reason;  // the server's Status.reason, for logs only (branch on `code`)
  std::string message;        // names the request and the cause: the Status.message or the
                              // transport failure ("connection refused to 10.0.0.1:6443")
  std::optional<std::chrono::seconds> retry_after;  // from a Retry-After header

  // Retrying later may succeed: a timeout, a connection failure, missing credentials, 401 (the
  // token may rotate), 429, a server error.
  bool transient() const;
  // No HTTP answer came, the call was not cancelled, and the failure is the network's: a
  // timeout, a connection failure or a TLS verification failure.
  bool transport_failure() const;
};

// The error for an HTTP answer `http_status` (>= 400) with `body` (a Status object or anything),
// its Retry-After header value (seconds) if any, and `request` ("GET /apis/...") for the message.
// Never throws, whatever the body holds: fields of unexpected types are ignored.
ApiError DecodeApiError(int http_status, std::string_view body, std::string_view retry_after,
                        std::string_view request);
// The same for an already parsed Status (a watch ERROR event's object). `status` may be any JSON
// value; only string reason/message and the details.causes list are read.
// Classification (as apimachinery's pkg/api/errors Is* functions): a known Status.reason decides
// the code; an unknown or absent one leaves it to the HTTP status; 429 is kThrottled whatever
// the reason. A ResourceVersionTooLarge cause (or, from servers before 1.18.6, a Timeout saying
// "Too large resource version") wins over both (client-go reflector.go,
// isTooLargeResourceVersionError).
ApiError DecodeApiStatus(int http_status, const nlohmann::json& status, std::string_view request);

// A value or an ApiError. Accessing the wrong alternative is a programming error (asserted).
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : state_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const ApiError& error() const { return std::get<ApiError>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

// One page of a list: GET ...?limit=&continue=&resourceVersion=&labelSelector=&fieldSelector=.
struct ListOptions {
  int limit = 500;             // 0 = no limit parameter
  std::string continue_token;  // from the previous page's metadata.continue
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
};

// GET ...?watch=1&resourceVersion=&allowWatchBookmarks=&timeoutSeconds=.
struct WatchOptions {
  std::string resource_version;  // where to resume; empty = "from now" (avoid: events are lost)
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{300};  // server-side: the server ends the stream cleanly then
  std::string label_selector;
  std::string field_selector;
};

// One line of a watch stream. For ERROR, `object` is a Status.
struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  nlohmann::json object;
};

// One line of a watch stream: a JSON object with a string "type" and an object "object" (other
// members are ignored). Anything else is an error saying which; never throws.
Result<WatchEvent> DecodeWatchEvent(std::string_view line);

// An open watch. Thread-safety: Next() from one thread at a time; the stream is aborted by the
// Cancellation given to ApiClient::Watch (from any thread).
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks for the next event. nullopt: the server ended the stream cleanly (its timeout). An
  // error: the connection dropped or timed out, a line was too long or not a watch event, or the
  // watch was cancelled (code kCanceled). After nullopt or an error, do not call again.
  virtual ApiResult<std::optional<WatchEvent>> Next() = 0;
};

// Per-call limits, for writes that must not land after the caller stopped wanting them (the
// leader's approval writes: issue 9 item 6).
struct CallOptions {
  // Attempts for this call (>= 1); 0 = ApiClientOptions::max_attempts. With 1 a 429 is returned
  // at once with its retry_after for the caller to requeue, instead of being waited out here.
  // (A 401 is still repeated once with refreshed credentials: the server did not act on it.)
  int max_attempts = 0;
  // Checked before every attempt, after the rate limiter's wait; false ends the call with a
  // kCanceled error without sending. Null = always. Must be thread-safe and quick.
  std::function<bool()> may_send;
};

// JSON calls on API paths ("/apis/certificates.k8s.io/v1/certificatesigningrequests/x").
// Every request waits for the client-side rate limiter and carries fresh credentials.
// Thread-safety: all methods may be called concurrently. They block the calling thread, which
// must not be a cpprestsdk (pplx) pool thread. A `cancel` (may be null) aborts the call; the
// caller keeps it alive for the call's duration (for Watch: the stream's lifetime).
class ApiClient {
 public:
  virtual ~ApiClient() = default;

  // Reads (Get, List, Watch) are retried on 429, 5xx and network errors, within the limits of
  // ApiClientOptions. Writes (Create, Update, Patch, Delete) are retried only on 429 (the server
  // did not act on them); after 5xx or a dropped connection the write may or may not have happened,
  // so the error is returned (transient) for the caller, who knows how to re-check, to decide.
  // Any call answered 401 is repeated once with refreshed credentials.
  virtual ApiResult<nlohmann::json> Get(const std::string& path,
                                        const Cancellation* cancel = nullptr) = 0;
  virtual ApiResult<nlohmann::json> List(const std::string& path, const ListOptions& options,
                                         const Cancellation* cancel = nullptr) = 0;
  virtual ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                           const Cancellation* cancel = nullptr) = 0;  // POST
  virtual ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                           const Cancellation* cancel = nullptr) = 0;  // PUT
  // PATCH with Content-Type application/merge-patch+json (RFC 7386): objects merge, lists and
  // scalars replace, null deletes. A metadata.resourceVersion in `patch` is a precondition (409
  // Conflict when stale), as for Update. `options` bound the attempts (see CallOptions).
  virtual ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                          const Cancellation* cancel = nullptr,
                                          const CallOptions& options = {}) = 0;
  virtual ApiResult<nlohmann::json> Delete(const std::string& path,
                                           const Cancellation* cancel = nullptr) = 0;
  // Returns once the server has answered 200 with the stream's headers.
  virtual ApiResult<std::unique_ptr<WatchStream>> Watch(const std::string& path,
                                                        const WatchOptions& options,
                                                        const Cancellation* cancel = nullptr) = 0;
};

// Told about every HTTP answer (or its absence) so callers can count api_requests_total.
// verb: get, list, watch, create, update, patch, delete. code: the HTTP status, 0 without an
// answer. Called on the requesting thread; must be thread-safe and quick.
using RequestObserver = std::function<void(std::string_view verb, int code)>;

struct ApiClientOptions {
  double qps = 20;  // client-side limit (--qps); <= 0 = unlimited. Default: 20.
  int burst = 30;   // (--burst). Default: 30.
  // Inactivity limit for ordinary requests. Default: 30 s.
  std::chrono::seconds request_timeout{30};
  // A watch with no bytes for this long is dropped; keep it above the server's bookmark
  // interval (~60 s). Default: 150 s.
  std::chrono::seconds watch_inactivity_timeout{150};
  int max_attempts = 5;  // per call, for the retries described on ApiClient. Default: 5.
  ExponentialBackoff::Options retry_backoff{std::chrono::milliseconds(200),
                                            std::chrono::seconds(10), 2.0, 0.2};
  std::chrono::seconds max_retry_after{30};  // a larger Retry-After is cut to this. Default: 30 s.
  std::size_t max_response_bytes =
      64u << 20;  // larger bodies fail (kResponseTooLarge). Default 64 MiB.
  std::size_t max_watch_line_bytes = 4u << 20;  // longer watch lines fail. Default: 4 MiB.
  std::string user_agent = "kube-csr-approver";
  RequestObserver observer;  // optional
};

// Starts cpprestsdk's shared I/O pool with one thread, unless something in the process used
// cpprestsdk first (its pool then has 40 threads, or whatever its starter chose). True when the
// pool is this one thread (started by this call or an earlier one): only then does a request
// the client stops (a cancellation, a destroyed watch) close its connection at once; otherwise at
// the connection's next read or write, which an idle watch may not see for minutes. NewApiClient
// calls it; a program calls it first only to know the answer. Thread-safe.
bool StartHttpIoThread();

// An ApiClient for `config` over HTTPS (cpprestsdk). TLS trusts only config.ca_pem (or the system
// store when it is empty) and verifies the server's name (tls_server_name, sent as the Host
// header, else the URL's host). The client certificate is the one `credentials` currently
// returns; when it changes (an exec plugin), later requests use fresh connections presenting it.
// `clock` must outlive the client. Errors: an invalid server URL, CA bundle or client
// certificate/key in `config`.
Result<std::unique_ptr<ApiClient>> NewApiClient(const KubeConfig& config,
                                                std::unique_ptr<CredentialSource> credentials,
                                                const Clock& clock, ApiClientOptions options = {});

}  // namespace kca::kube
