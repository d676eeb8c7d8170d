// Keeps the controller told about CertificateSigningRequests: paginated list, then watch from the
// list's resourceVersion, resuming after clean ends and drops, relisting when history expired.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/csr/csr_object.h"
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

// Why a list+watch cycle restarted (label values of watch_restarts_total).
enum class WatchRestartReason {
  kTimeout,  // the server ended the stream cleanly at its timeoutSeconds (normal)
  kClosed,   // the stream ended cleanly before its timeout, after >= 1 s or some events (a proxy
             // or a server shutting down closed it): watched again at once, as client-go does
  kExpired,  // 410, or a resourceVersion newer than the server's: a relist follows
  kError,    // a list that failed, an error status or ERROR event, a connection cut mid-stream,
             // an unreadable line, a watch that ended in under 1 s with no event
};
std::string_view ToString(WatchRestartReason reason);

// Checked against client-go's reflector (staging/src/k8s.io/client-go/tools/cache/reflector.go:
// Run/BackoffUntil with NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0), watch(),
// watchHandler's "very short watch", relistResourceVersion, isTooLargeResourceVersionError).
struct CsrInformerOptions {
  int page_size = 500;  // list limit per page. Default: 500.
  // Server-side watch timeout, drawn uniformly from [min, max] per watch (client-go: 300..600 s)
  // so a fleet of replicas does not reconnect in step. Defaults: 300 s, 600 s.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  // Delay before a relist or re-watch after a failure or expiry (never after a watch ended
  // normally). Grows with every failure; client-go's values: 800 ms doubling to 30 s, each
  // stretched by up to 100 %.
  ExponentialBackoff::Options backoff{std::chrono::milliseconds(800), std::chrono::seconds(30), 2.0,
                                      1.0};
  // The backoff starts over once no failure happened for this long (client-go), or when a watch
  // delivered an event. Default: 2 min.
  std::chrono::seconds backoff_reset_after{120};
  // A watch that ends cleanly within this, with no event, counts as a failure. Default: 1 s.
  std::chrono::milliseconds min_watch_duration{1000};
  std::string label_selector;  // optional, passed to list and watch
  std::string field_selector;  // optional (metadata.name and spec.signerName only)
  // Told of every restart of the list+watch cycle (watch ends and failed lists), on the
  // informer's thread; optional; must be quick.
  std::function<void(WatchRestartReason)> on_watch_restart;
  // Told when the informer gains (true) or loses (false) touch with the server: true after a
  // complete list, a watch opened from a known resourceVersion or an event received; false after
  // a failure or expiry. Only changes are reported. Informer's thread; optional; must be quick.
  std::function<void(bool in_touch)> on_sync_state;
  // Told when the informer thread's top-level guard caught an exception (a bug, or input no
  // decoder anticipated): it logs, relists after a backoff and continues. Optional.
  std::function<void()> on_unexpected_error;
  // Measures watch durations and the backoff reset, and times the backoff waits. Default (null):
  // RealClock.
  const Clock* clock = nullptr;
  // Waits `delay` unless `stop` is cancelled first (returns false then). Default (empty): a wait
  // on `clock`, cut short by Stop(). Tests pass one that records delays and advances a fake clock.
  std::function<bool(std::chrono::nanoseconds delay, const Cancellation& stop)> sleep;
  std::uint64_t seed = 0;  // for timeouts and jitter; 0 = random
};

// Runs list+watch on one dedicated thread between Start() and Stop().
// Ownership: `client` and `handler` are borrowed and must outlive the informer.
// Thread-safety: Start/Stop from one controlling thread; synced() and resource_version() from
// any thread. Memory: the names of known CSRs (to notice deletions across relists), no objects.
// Every list is a consistent read (resourceVersion=""), so a relist also recovers from a
// resourceVersion the server no longer knows (expired) or does not know yet (too large).
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
  // What to do after a list or watch ended.
  enum class Next { kWatch, kWatchAfterBackoff, kRelistAfterBackoff };

  void Run();
  // One list or one watch; what follows it.
  Next RunOnce();
  // Lists every page and delivers it.
  Next ListAndDeliver();
  // Watches until the stream ends.
  Next WatchOnce();
  // Reports the end of a watch or list, and what follows it.
  Next Restart(WatchRestartReason reason, Next next);
  void Deliver(const WatchEvent& event);
  void SetResourceVersion(std::string rv);
  void SetInTouch(bool in_touch);
  // Waits the next backoff delay. Returns false when stopped.
  bool Backoff();
  const Clock& clock() const;  // options_.clock or RealClock
  std::chrono::steady_clock::time_point Now() const;

  ApiClient& client_;
  CsrEventHandler& handler_;
  const CsrInformerOptions options_;
  Cancellation stop_;
  std::thread thread_;
  std::atomic<bool> synced_{false};
  mutable Mutex rv_mutex_;
  std::string resource_version_ KCA_GUARDED_BY(rv_mutex_);
  // Informer thread only. Every CSR name ever delivered (a list that failed halfway included)
  // and not since reported deleted, with the number of the list that last saw it (watch events
  // count as the current one): a complete list reports the names it did not mark deleted.
  std::unordered_map<std::string, std::uint64_t> known_names_;
  std::uint64_t list_number_ = 0;
  bool relist_ = true;
  std::optional<bool> in_touch_;
  ExponentialBackoff backoff_;
  std::optional<std::chrono::steady_clock::time_point> last_backoff_;
  std::uint64_t seed_;
};

}  // namespace kca::kube
