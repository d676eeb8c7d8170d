// Time as the controller sees it, behind an interface so tests drive it (STYLE.md rule 5).
#pragma once

#include <chrono>
#include <condition_variable>

#include "kube_csr_approver/common/thread_annotations.h"

namespace kca {

// Steady time measures intervals (rate limits, backoff, token refresh, lease expiry); wall time
// stamps what the API server reads (condition lastUpdateTime, lease renewTime) and compares with
// server-issued timestamps (exec credential expiry). Every wait for time to pass goes through
// WaitUntil, so that a fake clock also decides when waits end.
// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
  virtual std::chrono::system_clock::time_point WallNow() const = 0;

  // As cv.wait_until(lock, deadline) with `deadline` on this clock's steady time: releases the
  // lock while blocked, returns holding it, with timeout once SteadyNow() >= deadline and
  // no_timeout when `cv` was notified (or woke spuriously). Callers loop on their condition.
  // `lock` must hold the mutex that guards what notifiers of `cv` change.
  virtual std::cv_status WaitUntil(MutexLock& lock, std::condition_variable& cv,
                                   std::chrono::steady_clock::time_point deadline) const = 0;
};

// The process clocks. Stateless; the returned reference lives for the whole program.
class RealClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  std::cv_status WaitUntil(MutexLock& lock, std::condition_variable& cv,
                           std::chrono::steady_clock::time_point deadline) const override {
    return lock.WaitUntil(cv, deadline);
  }
  static const Clock& Instance() {
    static const RealClock clock;
    return clock;
  }
};

}  // namespace kca
