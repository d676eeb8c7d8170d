#include "kube_csr_approver/kube/cancellation.h"

#include <thread>
#include <utility>
#include <vector>

namespace kca::kube {

void Cancellation::Cancel() {
  {
    MutexLock lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    cancelling_thread_ = std::this_thread::get_id();
  }
  cancelled_cv_.notify_all();
  // Outside the lock (a callback may block briefly: closing a socket), one at a time, each taken
  // from the map as it starts: Unsubscribe waits for the one running (no new ones come: OnCancel
  // runs its callback itself once cancelled).
  while (true) {
    std::function<void()> callback;
    {
      MutexLock lock(mutex_);
      if (callbacks_.empty()) break;
      running_callback_ = callbacks_.begin()->first;
      callback = std::move(callbacks_.begin()->second);
      callbacks_.erase(callbacks_.begin());
    }
    callback();
    callback = nullptr;  // its captures too, before its subscriber may go
    {
      MutexLock lock(mutex_);
      running_callback_ = 0;
    }
    callback_done_cv_.notify_all();
  }
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
  // Once unsubscribed, the callback's state may be destroyed: a callback running on Cancel()'s
  // thread must end first (as std::stop_callback's destructor waits). On that thread itself (a
  // callback dropping its own subscription) the callback is already past that point.
  while (running_callback_ == id && cancelling_thread_ != std::this_thread::get_id()) {
    lock.Wait(callback_done_cv_);
  }
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
