#include "kube_csr_approver/observability/health.h"

#include <string>

namespace kca {

HealthState::HealthState(const Clock& clock, std::chrono::steady_clock::duration stuck_after,
                         std::chrono::steady_clock::duration unsynced_after)
    : clock_(clock),
      stuck_after_(stuck_after),
      unsynced_after_(unsynced_after),
      last_progress_(clock.SteadyNow()) {}

void HealthState::SetPolicyLoaded(bool loaded) {
  MutexLock lock(mutex_);
  policy_loaded_ = loaded;
}

void HealthState::SetSynced(bool synced) {
  MutexLock lock(mutex_);
  synced_ = synced;
}

void HealthState::RecordSyncState(bool in_touch) {
  MutexLock lock(mutex_);
  if (in_touch) {
    out_of_touch_since_.reset();
  } else if (!out_of_touch_since_) {
    out_of_touch_since_ = clock_.SteadyNow();
  }
}

void HealthState::RecordBacklog(std::size_t backlog) {
  MutexLock lock(mutex_);
  // An idle loop is not a stuck one: the wait starts when work appears.
  if (backlog_ == 0 && backlog > 0) last_progress_ = clock_.SteadyNow();
  backlog_ = backlog;
}

void HealthState::RecordProgress(std::size_t backlog) {
  MutexLock lock(mutex_);
  last_progress_ = clock_.SteadyNow();
  backlog_ = backlog;
}

ProbeResult HealthState::Liveness() const {
  MutexLock lock(mutex_);
  const auto idle = clock_.SteadyNow() - last_progress_;
  if (backlog_ > 0 && idle > stuck_after_) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(idle).count();
    return {500, "work loop stuck: " + std::to_string(backlog_) +
                     " CSRs waiting, no progress for " + std::to_string(seconds) + " s"};
  }
  return {200, "ok"};
}

ProbeResult HealthState::Readiness() const {
  MutexLock lock(mutex_);
  if (!policy_loaded_) return {503, "policy not loaded"};
  if (!synced_) return {503, "initial CSR list not synced yet"};
  if (out_of_touch_since_) {
    const auto out = clock_.SteadyNow() - *out_of_touch_since_;
    if (out > unsynced_after_) {
      const auto seconds = [](auto d) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
      };
      return {503, "CSR list+watch out of touch with the API server for " + seconds(out) +
                       " s (more than " + seconds(unsynced_after_) +
                       " s): see the log and kube_csr_approver_watch_restarts_total"};
    }
  }
  return {200, "ok"};
}

ProbeRoutes HealthRoutes(const HealthState& health) {
  return {{"/healthz", [&health] { return health.Liveness(); }},
          {"/readyz", [&health] { return health.Readiness(); }}};
}

}  // namespace kca
