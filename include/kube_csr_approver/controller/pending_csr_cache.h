// The controller's view of the cluster: the CSRs still waiting for a decision, and only what a
// decision needs from them (the decoded CsrObject, not the API server's whole object), plus the
// tombstones of CSRs this process decided. Signer labels and audit marks are the DecisionSink's.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/csr/csr_object.h"

namespace kca::controller {

// True when the CSR carries an Approved, Denied or Failed condition with status "True", or a
// certificate: such a CSR is never written to again (DESIGN.md, evaluation step 1).
bool IsDecided(const CsrObject& csr);

// One pending CSR as the workers see it: a copy, safe to use without the cache's lock.
struct PendingCsr {
  CsrObject csr;
  std::chrono::steady_clock::time_point first_seen;  // for decision_latency_seconds
  // metadata.creationTimestamp, for oldest_pending_csr_age_seconds (survives restarts);
  // nullopt when absent or unparsable, then the age counts from first_seen.
  std::optional<std::chrono::system_clock::time_point> created;
};

// Pending CSRs by name. Decided CSRs are dropped as soon as they are seen decided, and the uid
// of a CSR decided by this process is remembered until the CSR is deleted, so that a stale
// pending copy arriving late (a relist racing our write) is not decided twice.
// Thread-safety: every method may be called from any thread. `clock` must outlive the cache.
class PendingCsrCache {
 public:
  explicit PendingCsrCache(const Clock& clock);

  enum class UpsertResult {
    kAdded,      // a new pending CSR: queue it
    kChanged,    // a pending CSR with a new resourceVersion: queue it
    kUnchanged,  // same resourceVersion as cached: nothing new to decide
    kRemoved,    // it is decided now and left the cache
    kIgnored,    // decided or known to be decided: not cached
  };
  // From the informer (watch event, list item) or a fresh GET.
  UpsertResult Upsert(CsrObject csr);
  // The CSR is gone from the server: forget it entirely.
  void Remove(const std::string& name);
  // This process's write decided it: drop it and remember its uid (see the class comment).
  void MarkDecided(const std::string& name, const std::string& uid);

  std::optional<PendingCsr> Get(const std::string& name) const;
  bool Contains(const std::string& name) const;
  // Calls `visit` for every pending CSR, under the cache's lock: `visit` must be quick and must
  // not call the cache.
  void ForEach(const std::function<void(const PendingCsr&)>& visit) const;
  // Names and requestors (spec.username) of every pending CSR, for resync and re-queueing.
  struct Key {
    std::string name;
    std::string requestor;
  };
  std::vector<Key> Keys() const;
  std::size_t size() const;

 private:
  const Clock& clock_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, PendingCsr> pending_ KCA_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::string> decided_uid_by_name_ KCA_GUARDED_BY(mutex_);
};

}  // namespace kca::controller
