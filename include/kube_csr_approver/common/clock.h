// Time as the controller sees it, behind an interface so tests drive it (STYLE.md rule 5).
#pragma once

#include <chrono>

namespace kca {

// Steady time measures intervals (rate limits, backoff, token refresh, lease expiry); wall time
// stamps what the API server reads (condition lastUpdateTime, lease renewTime) and compares with
// server-issued timestamps (exec credential expiry).
// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
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
  static const Clock& Instance() {
    static const RealClock clock;
    return clock;
  }
};

}  // namespace kca
