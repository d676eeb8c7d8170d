// Keeps the controller told about CertificateSigningRequests: paginated list, then watch from the
// list's resourceVersion, resuming after clean ends and drops, relisting when history expired.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "kube_csr_approver/csr_object.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/rate_limit.h"

namespace kca::kube {

inline constexpr std::string_view kCsrCollectionPath =
    "/apis/certificates.k8s.io/v1/certificatesigningrequests";

// Receives the informer's view of CSRs. Called on the informer's thread, one call at a time; a
// handler should record what it needs (e.g. enqueue the name of a pending CSR) and return quickly:
// while it runs, watch events pile up in memory.
class CsrEventHandler {
 public:
  virtual ~CsrEventHandler() = default;
  // A CSR was listed, added or modified. Objects that do not decode are logged and skipped.
  virtual void OnUpsert(const CsrObject& csr) = 0;
  // A CSR was deleted, or was found gone by a relist.
  virtual void OnDelete(const std::string& name) = 0;
  // A complete list has been delivered: after the first list and after every relist.
  virtual void OnSynced() = 0;
};

// Why a watch ended (label values of watch_restarts_total).
enum class WatchRestartReason {
  kTimeout,  // the server ended the stream at its timeoutSeconds (normal)
  kClosed,   // the connection dropped or timed out on our side
  kExpired,  // 410: the resourceVersion left the server's history; a relist follows
  kError,    // any other error status, ERROR event or malformed stream
};
std::string_view ToString(WatchRestartReason reason);

struct CsrInformerOptions {
  int page_size = 500;  // list limit per page. Default: 500.
  // Server-side watch timeout, drawn uniformly from [min, max] per watch (client-go: 300..600 s)
  // so a fleet of replicas does not reconnect in step. Defaults: 300 s, 600 s.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  // Delay between failed attempts (list errors, watch errors, drops). Reset after a success.
  ExponentialBackoff::Options backoff{std::chrono::milliseconds(500), std::chrono::seconds(30), 2.0,
                                      0.2};
  std::string label_selector;  // optional, passed to list and watch
  std::string field_selector;  // optional (metadata.name and spec.signerName only)
  // Told of every watch end, on the informer's thread; optional; must be quick.
  std::function<void(WatchRestartReason)> on_watch_restart;
  std::uint64_t seed = 0;  // for timeouts and jitter; 0 = random
};

// Runs list+watch on one dedicated thread between Start() and Stop().
// Ownership: `client` and `handler` are borrowed and must outlive the informer.
// Thread-safety: Start/Stop from one controlling thread; synced() and resource_version() from
// any thread. Memory: the names of known CSRs (to notice deletions across relists), no objects.
class CsrInformer {
 public:
  CsrInformer(ApiClient& client, CsrEventHandler& handler, CsrInformerOptions options = {});
  ~CsrInformer();  // Stop()s
  CsrInformer(const CsrInformer&) = delete;
  CsrInformer& operator=(const CsrInformer&) = delete;

  // Starts the thread. Call at most once.
  void Start();
  // Cancels any request in flight and joins the thread (promptly: well under a second).
  // Idempotent. The informer cannot be started again.
  void Stop();

  // True once the first complete list was delivered (and OnSynced called).
  bool synced() const { return synced_.load(); }
  // The resourceVersion the next watch resumes from; empty before the first list.
  std::string resource_version() const;

 private:
  void Run();
  // Lists every page and delivers it. Returns false when stopped.
  bool ListAndDeliver(ExponentialBackoff& backoff);
  // Watches until the stream ends. Returns the reason; sets relist_ on expiry.
  WatchRestartReason WatchOnce(bool& received_any);
  void Deliver(const WatchEvent& event);
  void SetResourceVersion(std::string rv);
  void Restarted(WatchRestartReason reason);

  ApiClient& client_;
  CsrEventHandler& handler_;
  const CsrInformerOptions options_;
  Cancellation stop_;
  std::thread thread_;
  std::atomic<bool> synced_{false};
  mutable std::mutex rv_mutex_;
  std::string resource_version_;  // guarded by rv_mutex_
  // Informer thread only:
  std::unordered_set<std::string> known_names_;
  bool relist_ = true;
  std::uint64_t seed_;
};

}  // namespace kca::kube
