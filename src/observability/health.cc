#include "kube_csr_approver/health.h"

#include <string>

namespace kca {

HealthState::HealthState(const Clock& clock, std::chrono::steady_clock::duration stuck_after)
    : clock_(clock), stuck_after_(stuck_after), last_progress_(clock.SteadyNow()) {}

void HealthState::SetPolicyLoaded(bool loaded) {
  std::lock_guard<std::mutex> lock(mutex_);
  policy_loaded_ = loaded;
}

void HealthState::SetSynced(bool synced) {
  std::lock_guard<std::mutex> lock(mutex_);
  synced_ = synced;
}

void HealthState::RecordBacklog(std::size_t backlog) {
  std::lock_guard<std::mutex> lock(mutex_);
  // An idle loop is not a stuck one: the wait starts when work appears.
  if (backlog_ == 0 && backlog > 0) last_progress_ = clock_.SteadyNow();
  backlog_ = backlog;
}

void HealthState::RecordProgress(std::size_t backlog) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_progress_ = clock_.SteadyNow();
  backlog_ = backlog;
}

ProbeResult HealthState::Liveness() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto idle = clock_.SteadyNow() - last_progress_;
  if (backlog_ > 0 && idle > stuck_after_) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(idle).count();
    return {500, "work loop stuck: " + std::to_string(backlog_) + " CSRs waiting, no progress for " +
                     std::to_string(seconds) + " s"};
  }
  return {200, "ok"};
}

ProbeResult HealthState::Readiness() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!policy_loaded_) return {503, "policy not loaded"};
  if (!synced_) return {503, "initial CSR list not synced yet"};
  return {200, "ok"};
}

ProbeRoutes HealthRoutes(const HealthState& health) {
  return {{"/healthz", [&health] { return health.Liveness(); }},
          {"/readyz", [&health] { return health.Readiness(); }}};
}

}  // namespace kca
