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

// A failed API call: the server's Status, or what went wrong on the way. A plain value type.
struct ApiError {
  int http_status = 0;  // 0: no HTTP answer (connection, TLS, timeout, cancelled, bad body)
  std::string reason;   // Status.reason (NotFound, Conflict, Forbidden, Expired, ...); without
                        // an HTTP answer: "NetworkError", "Canceled" or "BadResponse"
  std::string message;  // Status.message or the transport error, prefixed with the request
  std::optional<std::chrono::seconds> retry_after;  // from a Retry-After header
  bool transient = false;  // retrying later may succeed: 429, 5xx, 401 (token may rotate), network
  // The resourceVersion asked for is newer than the server's (a Status cause
  // ResourceVersionTooLarge, or a 504 Timeout saying "Too large resource version"; e.g. after an
  // etcd restore): only a list from resourceVersion="" recovers (client-go reflector.go,
  // isTooLargeResourceVersionError).
  bool resource_version_too_large = false;

  bool not_found() const { return http_status == 404; }
  bool conflict() const { return http_status == 409; }
  bool forbidden() const { return http_status == 403; }
  bool expired() const { return http_status == 410 || reason == "Expired" || reason == "Gone"; }
  bool canceled() const { return http_status == 0 && reason == "Canceled"; }
};

// The error for an HTTP answer `http_status` (>= 400) with `body` (a Status object or anything),
// its Retry-After header value (seconds) if any, and `request` ("GET /apis/...") for the message.
// Never throws, whatever the body holds: fields of unexpected types are ignored.
ApiError DecodeApiError(int http_status, std::string_view body, std::string_view retry_after,
                        std::string_view request);
// The same for an already parsed Status (a watch ERROR event's object). `status` may be any JSON
// value; only string reason/message and the details.causes list are read.
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
  // watch was cancelled (error().canceled()). After nullopt or an error, do not call again.
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
  // Canceled error without sending. Null = always. Must be thread-safe and quick.
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
  std::size_t max_response_bytes = 64u << 20;   // larger bodies fail (BadResponse). Default 64 MiB.
  std::size_t max_watch_line_bytes = 4u << 20;  // longer watch lines fail. Default: 4 MiB.
  std::string user_agent = "kube-csr-approver";
  RequestObserver observer;  // optional
};

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
