// The work queue between the informer and the workers: CSR names, deduplicated, fair across
// requestors, with per-item exponential retry delays.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/observability/health.h"

namespace kca::controller {

// Semantics (as client-go's workqueue, plus fairness):
// - An item is a CSR name. A name queued twice is handed out once; a name added while a worker
//   processes it is handed out again after that worker calls Done().
// - Fairness: names are kept in one FIFO bucket per requestor (spec.username) and Get() takes
//   from the buckets in round-robin order, so a requestor who floods the cluster with CSRs delays
//   only its own requests.
// - Retry(name) re-adds the name after a delay that doubles with each consecutive retry of that
//   name (initial, 2*initial, ... capped at max); Forget(name) resets the count.
// Thread-safety: every method may be called from any thread. `clock` and `health` (may be null)
// must outlive the queue. Delays are measured and waited for on `clock`: a blocked Get() wakes
// when the first delayed item falls due on it (and whenever anything is added).
class WorkQueue {
 public:
  struct Options {
    std::chrono::nanoseconds retry_initial = std::chrono::milliseconds(500);  // Default: 500 ms.
    std::chrono::nanoseconds retry_max = std::chrono::minutes(5);             // Default: 5 min.
  };

  WorkQueue(const Clock& clock, HealthState* health, Options options);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  struct Item {
    std::string name;
    std::string requestor;
  };

  // Queues `name` now in the bucket of `requestor`. No effect after ShutDown().
  void Add(const std::string& name, const std::string& requestor);
  // Queues `name` after its next retry delay, or after `at_least` when that is longer (a
  // server's Retry-After); returns the delay. `max` (when shorter than Options::retry_max) caps
  // the backoff, for waits that end as soon as a fact appears (a Node created after its
  // kubelet's CSR).
  std::chrono::nanoseconds Retry(const std::string& name, const std::string& requestor,
                                 std::chrono::nanoseconds at_least = std::chrono::nanoseconds(0),
                                 std::optional<std::chrono::nanoseconds> max = std::nullopt);
  // Resets the retry delay of `name` (after a success, or when giving up on it).
  void Forget(const std::string& name);

  // Blocks until an item is ready (returns it, now "processing") or the queue is shut down
  // (returns nullopt). Every item returned must be given back with Done().
  std::optional<Item> Get();
  // As Get() but never blocks: nullopt when nothing is ready now.
  std::optional<Item> TryGet();
  void Done(const std::string& name);

  // Wakes every blocked Get() with nullopt; items still queued are abandoned.
  void ShutDown();

  // Items ready or waiting for their retry delay (not those being processed).
  std::size_t backlog() const;
  std::size_t processing() const;
  int retries(const std::string& name) const;

 private:
  struct Bucket {
    std::deque<std::string> names;
    bool in_rotation = false;
  };

  void EnqueueLocked(const std::string& name, const std::string& requestor) KCA_REQUIRES(mutex_);
  void PromoteDueLocked() KCA_REQUIRES(mutex_);
  std::optional<Item> PopLocked() KCA_REQUIRES(mutex_);
  void ReportBacklogLocked() KCA_REQUIRES(mutex_);

  const Clock& clock_;
  HealthState* const health_;
  const Options options_;

  mutable Mutex mutex_;
  std::condition_variable ready_cv_;
  bool shut_down_ KCA_GUARDED_BY(mutex_) = false;
  std::unordered_map<std::string, Bucket> buckets_ KCA_GUARDED_BY(mutex_);
  std::list<std::string> rotation_ KCA_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::string> queued_ KCA_GUARDED_BY(mutex_);  // name → requestor
  std::unordered_map<std::string, std::string> dirty_while_processing_ KCA_GUARDED_BY(mutex_);
  std::unordered_set<std::string> processing_ KCA_GUARDED_BY(mutex_);
  // Delayed retries: due time → names; and name → (due, requestor) to keep one per name.
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_ KCA_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::pair<std::chrono::steady_clock::time_point, std::string>>
      delayed_by_name_ KCA_GUARDED_BY(mutex_);
  std::unordered_map<std::string, int> failures_ KCA_GUARDED_BY(mutex_);
};

}  // namespace kca::controller
