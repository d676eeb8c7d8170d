// A watch on Nodes that re-queues a CSR waiting for its Node (DESIGN.md "Node identity") the
// moment the Node or its addresses appear, instead of at its next retry. An accelerator only:
// waiting CSRs are retried on their own every few seconds, so a missed event costs a delay, never
// a decision.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/rate_limit.h"

namespace kca::controller {

struct NodeWatchOptions {
  // How long the watch stays open after the last Want() (a CSR waiting for a Node), so nothing
  // watches Nodes when no policy rule needs them (RBAC may not allow it). Default: 2 min.
  std::chrono::nanoseconds linger = std::chrono::minutes(2);
  // Server-side timeout of one watch request. Default: 60 s.
  std::chrono::seconds watch_timeout{60};
  // Between failed lists or watches. Default: 1 s doubling to 30 s.
  kube::ExponentialBackoff::Options backoff{std::chrono::seconds(1), std::chrono::seconds(30), 2.0,
                                            0.2};
};

// GET /api/v1/nodes?limit=1 for a resourceVersion, then watches from it (bookmarks on; 410
// Expired or a failure: list again after the backoff). `on_node` gets the name of every Node
// added or modified. Threads: Start() runs one thread, joined by Stop() (or the destructor);
// Want() from any thread. `client` and `clock` are borrowed and must outlive the watch.
class NodeWatch {
 public:
  NodeWatch(kube::ApiClient& client, const Clock& clock,
            std::function<void(const std::string& node)> on_node, NodeWatchOptions options);
  ~NodeWatch();
  NodeWatch(const NodeWatch&) = delete;
  NodeWatch& operator=(const NodeWatch&) = delete;

  void Start();
  void Stop();
  // A CSR waits for a Node: keep (or start) watching for `linger` from now.
  void Want();

 private:
  void Run();
  bool Wanted() const;
  // One list+watch until the stream ends, fails or is no longer wanted; false on a failure.
  bool WatchOnce();

  kube::ApiClient& client_;
  const Clock& clock_;
  const std::function<void(const std::string&)> on_node_;
  const NodeWatchOptions options_;
  std::atomic<std::int64_t> wanted_until_ns_{0};  // steady clock, since its epoch
  Mutex mutex_;
  std::condition_variable wanted_cv_;  // on mutex_: Want() or Stop() while the watch idles
  bool stopping_ KCA_GUARDED_BY(mutex_) = false;
  kube::Cancellation stop_;
  std::thread thread_;
};

}  // namespace kca::controller
