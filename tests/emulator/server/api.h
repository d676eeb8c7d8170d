// The emulated kube-apiserver request handling: authentication result in, Kubernetes response
// out. No sockets here: the HTTP layer (http_server.h) parses requests, calls Handle() and, for
// watches, Stream() with a chunk writer.
// Thread-safety: ApiServer is thread-safe; Handle/Stream run concurrently on connection threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit_log.h"
#include "auth.h"
#include "store.h"

namespace kca::emulator {

struct ApiRequest {
  std::string method;  // upper case
  std::string target;  // path and query, as received
  std::string accept;
  std::string content_type;
  std::string body;
  std::optional<UserInfo> user;  // nullopt: no valid credentials (401)
  // Impersonate-User / Impersonate-Group headers (kubectl --as / --as-group).
  std::string impersonate_user;
  std::vector<std::string> impersonate_groups;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Injected outage: after writing this response, the HTTP layer closes this connection, every
  // other one and the listener for this long.
  std::chrono::milliseconds refuse_connections_for{0};
};

// One term of a field or label selector.
struct Selector {
  std::string key;
  std::string op;  // "=", "!=", "exists", "!exists"
  std::string value;
};

// A watch the HTTP layer must stream (200, chunked) by calling ApiServer::Stream.
struct WatchPlan {
  std::string resource;  // store resource key
  std::string kind;
  std::string api_version;
  std::string ns;
  std::vector<Selector> fields;  // field labels in storage terms; the URL's NAME as metadata.name=
  std::vector<Selector> labels;
  bool send_initial = false;  // resourceVersion "" or "0": synthetic ADDED for the current state
  uint64_t from_resource_version = 0;
  bool bookmarks = false;
  bool table = false;
  std::string include_object = "Metadata";
  std::chrono::steady_clock::time_point deadline;
  bool expire_at_once = false;              // injected 410
  uint64_t drop_after_events = 0;           // injected: 0 = never
  std::chrono::milliseconds drop_after{0};  // injected: 0 = never
  std::vector<std::string> raw_chunks;      // injected: sent verbatim instead of events
};

struct Outcome {
  ApiResponse response;
  std::optional<WatchPlan> watch;
};

// Faults tests inject (control API or command line). Counters decrement as faults fire.
struct FaultSettings {
  uint64_t drop_watch_after_events = 0;
  double drop_watch_after_seconds = 0;
  uint64_t expire_next_watches = 0;
  uint64_t conflict_next_approvals = 0;
  uint64_t throttle_next_requests = 0;
  int retry_after_seconds = 1;
  double error_fraction = 0;
  int error_code = 500;
  int latency_ms = 0;
  // SubjectAccessReview creates only (other endpoints unaffected): answered with this status
  // (403, 500, 503, 504; 0 = off) for review_error_seconds from when it was set (0 = until
  // cleared), each after review_latency_ms.
  int review_error_code = 0;
  double review_error_seconds = 0;
  int review_latency_ms = 0;
  // The next watch sends these chunks verbatim (no newline added), then ends cleanly: hostile or
  // malformed watch lines for client tests. Control API only.
  std::vector<std::string> next_watch_raw_chunks;
};

// The statuses FaultSettings::review_error_code may take.
inline bool IsReviewErrorCode(int code) {
  return code == 0 || code == 403 || code == 500 || code == 503 || code == 504;
}

struct ApiOptions {
  std::chrono::seconds bookmark_interval{60};
  std::string token_file;
  std::vector<std::string> token_mirrors;  // files that also receive the approver's rotated token
  std::chrono::seconds token_grace{60};
  size_t history = 10000;
  // networking.k8s.io/v1 ServiceCIDRs are served (a v1.33 server); false: a v1.32 server, where
  // the API is 404 and absent from discovery.
  bool serve_service_cidrs = true;
};

class ApiServer {
 public:
  ApiServer(ApiOptions options, FaultSettings initial_faults);

  Outcome Handle(const ApiRequest& request);

  enum class StreamEnd { kFinished, kDropped };
  // Streams a watch. `write` sends one chunk and returns false once the client is gone;
  // `client_alive` is polled about once a second while the watch is idle. Returns when the watch
  // ends: kFinished (timeout, 410, client gone, shutdown: finish the chunked body) or kDropped
  // (an injected fault: cut the connection without finishing the body).
  StreamEnd Stream(const WatchPlan& plan, const std::function<bool(const std::string&)>& write,
                   const std::function<bool()>& client_alive);

  TokenAuthenticator& tokens() { return tokens_; }
  Store& store() { return store_; }
  void Shutdown() { store_.Shutdown(); }

 private:
  struct Route;
  Outcome HandleResource(const ApiRequest& request, const Route& route, const UserInfo& user);
  Outcome HandleControl(const ApiRequest& request, const std::string& path);
  // `resource` and `user` (the caller) select and word the review faults.
  std::optional<ApiResponse> InjectFault(const std::string& resource, const std::string& user);
  std::optional<ApiResponse> InjectReviewFault(const std::string& user);
  void Count(const std::string& user, const std::string& verb, const std::string& resource);
  void AuditWrite(const ApiRequest& request, const UserInfo& user, const std::string& verb,
                  const std::string& resource, const ApiResponse& response);

  ApiOptions options_;
  Store store_;
  Authorizer authorizer_;
  TokenAuthenticator tokens_;

  std::mutex faults_mu_;
  FaultSettings faults_;         // GUARDED_BY(faults_mu_)
  uint64_t fault_requests_ = 0;  // GUARDED_BY(faults_mu_): for deterministic error fractions
  std::chrono::steady_clock::time_point review_faults_set_;  // GUARDED_BY(faults_mu_)

  std::mutex counts_mu_;
  // user -> "resource[/subresource]" -> verb -> requests
  std::map<std::string, std::map<std::string, std::map<std::string, uint64_t>>>
      counts_;  // GUARDED_BY(counts_mu_)

  AuditLog audit_{200000};  // the last 200000 writes
};

}  // namespace kca::emulator
