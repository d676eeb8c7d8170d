// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm and defaults, so
// that of several replicas only one writes decisions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "kube_csr_approver/clock.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/metrics.h"
#include "kube_csr_approver/result.h"

namespace kca::controller {

struct LeaderElectionOptions {
  std::string lease_namespace;                   // --leader-election-namespace (required)
  std::string lease_name = "kube-csr-approver";  // --leader-election-id. Default as shown.
  std::string identity;  // this replica, unique among replicas (e.g. the pod name)
  // client-go's defaults. Required: lease_duration > renew_deadline > retry_period * jitter.
  std::chrono::milliseconds lease_duration{15000};  // Default: 15 s.
  std::chrono::milliseconds renew_deadline{10000};  // Default: 10 s.
  std::chrono::milliseconds retry_period{2000};     // Default: 2 s.
  double jitter_factor = 1.2;                       // Default: 1.2.
};

// Error naming the first option that breaks the rules above.
Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options);

// One elector per replica. Algorithm (client-go tryAcquireOrRenew): GET the Lease; 404 → create
// it holding it (leader). Another holder whose record this client saw change less than
// leaseDurationSeconds ago (judged by the local steady clock, never by renewTime, so clock skew
// between nodes does not matter) → not leader. Otherwise PUT the record with the fetched
// resourceVersion (409: someone else won) holding it; a new holder increments leaseTransitions.
//
// The write gate IsLeader() turns false by itself as soon as renew_deadline has passed since
// the last successful renewal (measured from before that renewal's request), even while the
// elector's thread is blocked in a request: a leader that cannot renew stops writing at once,
// well before lease_duration lets another replica take over.
//
// Ownership: `client`, `clock` and `metrics` (may be null) are borrowed and must outlive it.
// Thread-safety: Run() on one dedicated thread; IsLeader() from any thread; TryAcquireOrRenew()
// and Release() from the thread that runs Run() (tests call them directly).
class LeaderElector {
 public:
  struct Callbacks {
    std::function<void()> started_leading;  // on the elector's thread; must be quick
    std::function<void()> stopped_leading;  // ditto
  };

  LeaderElector(kube::ApiClient& client, const Clock& clock, ApproverMetrics* metrics,
                LeaderElectionOptions options, Callbacks callbacks = {});

  // Acquires, then renews every retry_period, until `stop` is cancelled; a lost lease goes back
  // to acquiring. At the end, a held lease is released so another replica takes over at once.
  void Run(const kube::Cancellation& stop);

  bool IsLeader() const;

  // One attempt; true when this replica holds the lease afterwards.
  bool TryAcquireOrRenew(const kube::Cancellation* cancel = nullptr);
  // Gives the lease up (holderIdentity "", leaseDurationSeconds 1) if held. Best effort.
  void Release(const kube::Cancellation* cancel = nullptr);

  std::string LeasePath() const;

 private:
  void SetLeading(bool leading);

  kube::ApiClient& client_;
  const Clock& clock_;
  ApproverMetrics* const metrics_;
  const LeaderElectionOptions options_;
  const Callbacks callbacks_;
  std::mt19937_64 random_{std::random_device{}()};

  mutable std::mutex mutex_;
  bool leading_ = false;                              // GUARDED_BY(mutex_)
  std::chrono::steady_clock::time_point renewed_at_;  // GUARDED_BY(mutex_)
  // Elector thread only:
  nlohmann::json observed_spec_;                       // the last record seen
  std::chrono::steady_clock::time_point observed_at_;  // when it was seen to change
  nlohmann::json held_lease_;                          // our last written Lease (for Release)
};

}  // namespace kca::controller
