#include "kube_csr_approver/kube/cancellation.h"

#include <utility>
#include <vector>

namespace kca::kube {

void Cancellation::Cancel() {
  std::map<std::uint64_t, std::function<void()>> callbacks;
  {
    MutexLock lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    callbacks.swap(callbacks_);
  }
  cancelled_cv_.notify_all();
  // Outside the lock: a callback may block briefly (closing a socket).
  for (auto& [id, callback] : callbacks) callback();
}

bool Cancellation::cancelled() const {
  MutexLock lock(mutex_);
  return cancelled_;
}

bool Cancellation::SleepFor(const Clock& clock, std::chrono::nanoseconds duration) const {
  const auto deadline = clock.SteadyNow() + duration;
  MutexLock lock(mutex_);
  while (!cancelled_) {
    if (clock.WaitUntil(lock, cancelled_cv_, deadline) == std::cv_status::timeout) {
      return !cancelled_;
    }
  }
  return false;
}

Cancellation::Subscription Cancellation::OnCancel(std::function<void()> callback) const {
  {
    MutexLock lock(mutex_);
    if (!cancelled_) {
      const std::uint64_t id = next_id_++;
      callbacks_.emplace(id, std::move(callback));
      return Subscription(this, id);
    }
  }
  callback();
  return Subscription();
}

void Cancellation::Unsubscribe(std::uint64_t id) const {
  MutexLock lock(mutex_);
  callbacks_.erase(id);
}

Cancellation::Subscription::Subscription(Subscription&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_) {}

Cancellation::Subscription& Cancellation::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Unsubscribe(id_);
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

Cancellation::Subscription::~Subscription() {
  if (owner_ != nullptr) owner_->Unsubscribe(id_);
}

}  // namespace kca::kube
