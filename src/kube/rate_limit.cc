#include "kube_csr_approver/kube/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace kca::kube {

TokenBucket::TokenBucket(double qps, int burst, const Clock& clock)
    : qps_(qps),
      burst_(std::max(1, burst)),
      clock_(clock),
      tokens_(burst_),
      last_(clock.SteadyNow()) {}

std::chrono::nanoseconds TokenBucket::Reserve() {
  if (unlimited()) return std::chrono::nanoseconds(0);
  MutexLock lock(mutex_);
  const auto now = clock_.SteadyNow();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(std::llround(-tokens_ / qps_ * 1e9));
}

ExponentialBackoff::ExponentialBackoff(Options options, std::uint64_t seed)
    : options_(options), random_(seed), base_ns_(static_cast<double>(options.initial.count())) {}

std::chrono::nanoseconds ExponentialBackoff::Next() {
  const double max_ns = static_cast<double>(options_.max.count());
  const double base = std::min(base_ns_, max_ns);
  std::uniform_real_distribution<double> fraction(0.0, options_.jitter);
  const double delay = std::min(max_ns, base * (1.0 + fraction(random_)));
  base_ns_ = std::min(max_ns, base_ns_ * options_.factor);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(delay));
}

void ExponentialBackoff::Reset() { base_ns_ = static_cast<double>(options_.initial.count()); }

}  // namespace kca::kube
