// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm and defaults
// (staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go), so that of several
// replicas only one acts. Generic Kubernetes machinery: knows nothing of CSRs or policy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"

namespace kca::kube {

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

// Options for the elector's own ApiClient, built from `base` (observer, user agent, sizes): its
// own token bucket (5 qps, burst 10: the elector needs about one call a second), one attempt per
// call (the elector's loop is the retry; a retried call could outlive the renew deadline) and a
// request timeout no longer than the renew deadline. Give the elector a client of its own
// (a second NewApiClient with these options and its own CredentialSource), so that a burst of
// work throttled by --qps, or requests queued behind it, never delay a renewal.
ApiClientOptions LeaderElectionClientOptions(const LeaderElectionOptions& election,
                                             ApiClientOptions base);

// One elector per replica. Algorithm (client-go tryAcquireOrRenew): GET the Lease; 404 → create
// it holding it (leader). Another holder whose record this client saw change less than
// leaseDurationSeconds ago (judged by the local steady clock — client-go's observedTime — never
// by renewTime, so clock skew between nodes does not matter) → not leader. Otherwise PUT the
// record with the fetched resourceVersion (409: someone else won) holding it; a new holder
// increments leaseTransitions.
//
// Leading is a deadline, on the injected clock: IsLeader() is true while the last successful
// renewal (measured from before its request) plus renew_deadline is in the future, and turns
// false by itself when it passes, even while a request hangs. During Run() each attempt is
// bounded by that deadline (client-go: context.WithTimeout(ctx, RenewDeadline) around the renew
// loop): a watchdog cancels the attempt's requests when it passes and reports stopped_leading
// at once, so a leader that cannot renew stops acting, and says so, within renew_deadline —
// well before lease_duration lets another replica take over.
//
// Ownership: `client` and `clock` are borrowed and must outlive the elector.
// Thread-safety: Run() on one dedicated thread; IsLeader() and ObservedHolder() from any thread;
// TryAcquireOrRenew() and Release() from the thread that runs Run() (tests call them directly).
class LeaderElector {
 public:
  // Each transition is reported once, in order: started, stopped, started, ... Callbacks run on
  // the elector's thread or on its watchdog thread, must be quick and must not call Run().
  struct Callbacks {
    std::function<void()> started_leading;
    std::function<void()> stopped_leading;  // also when renew_deadline passed during a hang
    // Another holder was observed (client-go OnNewLeader): called when the holder this replica
    // waits for changes. Optional.
    std::function<void(const std::string& holder)> new_leader;
  };

  LeaderElector(ApiClient& client, const Clock& clock, LeaderElectionOptions options,
                Callbacks callbacks = {});

  // Acquires, then renews every retry_period, until `stop` is cancelled; a lost lease goes back
  // to acquiring. At the end, a held lease is released so another replica takes over at once.
  // A follower logs once that it waits for the Lease, and again when its holder changes.
  void Run(const Cancellation& stop);

  // Whether this replica holds the lease now (see above). The write gate.
  bool IsLeader() const;

  // The holder of the Lease as last read ("" before the first read or when nobody holds it).
  std::string ObservedHolder() const;

  // One attempt; true when this replica holds the lease afterwards.
  bool TryAcquireOrRenew(const Cancellation* cancel = nullptr);
  // Gives the lease up (holderIdentity "", leaseDurationSeconds 1) if held. Best effort.
  void Release(const Cancellation* cancel = nullptr);

  std::string LeasePath() const;

 private:
  // One TryAcquireOrRenew bounded by the attempt deadline (Run only).
  bool Attempt(const Cancellation& stop);
  // Cancels an attempt past its deadline and reports a lapsed lead, each when its deadline passes
  // on the clock, until watchdog_done_ (Run only).
  void Watchdog();
  void WakeWatchdogLocked() KCA_REQUIRES(mutex_);
  // Reports a transition to `leading` unless already reported.
  void ReportLeading(bool leading);
  // Logs (and calls new_leader) when the holder we wait for differs from the one reported.
  void ObserveHolder(const std::string& holder);
  bool IsLeaderLocked() const KCA_REQUIRES(mutex_);

  ApiClient& client_;
  const Clock& clock_;
  const LeaderElectionOptions options_;
  const Callbacks callbacks_;
  std::mt19937_64 random_{std::random_device{}()};

  mutable Mutex mutex_;
  bool leading_ KCA_GUARDED_BY(mutex_) = false;
  std::chrono::steady_clock::time_point renewed_at_ KCA_GUARDED_BY(mutex_);
  std::string observed_holder_ KCA_GUARDED_BY(mutex_);
  Cancellation* attempt_ KCA_GUARDED_BY(mutex_) = nullptr;  // in flight
  std::chrono::steady_clock::time_point attempt_deadline_ KCA_GUARDED_BY(mutex_);
  std::uint64_t attempt_number_ KCA_GUARDED_BY(mutex_) = 0;
  std::condition_variable watchdog_wake_;  // on mutex_: an attempt began or ended, or stop
  std::uint64_t watchdog_changes_ KCA_GUARDED_BY(mutex_) = 0;  // each wake-up
  bool watchdog_done_ KCA_GUARDED_BY(mutex_) = false;

  Mutex report_mutex_;  // serialises the callbacks of transitions
  bool reported_leading_ KCA_GUARDED_BY(report_mutex_) = false;

  // Elector thread only:
  nlohmann::json observed_spec_;                       // the last record seen
  std::chrono::steady_clock::time_point observed_at_;  // when it was seen to change
  nlohmann::json held_lease_;                          // our last written Lease (for Release)
  std::string reported_holder_;                        // the holder last logged as awaited
};

}  // namespace kca::kube
