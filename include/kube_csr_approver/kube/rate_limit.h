// Client-side request pacing: a token bucket (--qps/--burst) and capped exponential backoff.
// Pure timing arithmetic on an injected clock; callers do the waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"

namespace kca::kube {

// Token bucket as client-go's flowcontrol (golang.org/x/time/rate): `burst` tokens, refilled at
// `qps` per second. Reserve() always takes a token, going into debt when the bucket is empty, so
// concurrent callers queue in arrival order instead of racing.
// Thread-safety: Reserve() may be called concurrently. `clock` must outlive the bucket.
class TokenBucket {
 public:
  // qps <= 0 means unlimited (Reserve() always returns 0). burst < 1 is treated as 1.
  TokenBucket(double qps, int burst, const Clock& clock);

  // Takes one token; returns how long to wait before sending (zero when one was available).
  std::chrono::nanoseconds Reserve();

  bool unlimited() const { return qps_ <= 0; }

 private:
  const double qps_;
  const double burst_;
  const Clock& clock_;
  Mutex mutex_;
  double tokens_ KCA_GUARDED_BY(mutex_);  // negative = debt
  std::chrono::steady_clock::time_point last_ KCA_GUARDED_BY(mutex_);
};

// Delays for consecutive failures: initial, initial*factor, ... up to max, each stretched by a
// random fraction in [0, jitter) so many clients do not retry in lockstep; the stretched delay
// is capped at max too. Thread-safety: none (one per retry loop).
class ExponentialBackoff {
 public:
  struct Options {
    std::chrono::nanoseconds initial = std::chrono::milliseconds(200);  // Default: 200 ms.
    std::chrono::nanoseconds max = std::chrono::seconds(30);            // Default: 30 s.
    double factor = 2.0;                                                // Default: 2.
    double jitter = 0.2;                                                // Default: 20 %.
  };

  explicit ExponentialBackoff(Options options, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; each call grows the base delay.
  std::chrono::nanoseconds Next();
  // After a success: the next failure starts from `initial` again.
  void Reset();

 private:
  const Options options_;
  std::mt19937_64 random_;
  double base_ns_;
};

}  // namespace kca::kube
