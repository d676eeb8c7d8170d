// Stopping blocked API calls and waits from another thread (shutdown, informer Stop()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"

namespace kca::kube {

// A one-way switch: once Cancel() is called, waits end early and in-flight requests given this
// object are aborted. Thread-safety: every method may be called from any thread.
// Not copyable; whoever passes it to a call keeps it alive until that call (or stream) is done.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Idempotent. Runs the subscribed callbacks (on this thread) the first time.
  void Cancel();
  bool cancelled() const;

  // Blocks for `duration` of `clock`'s steady time unless cancelled first (which ends the wait at
  // once). Returns false when cancelled.
  bool SleepFor(const Clock& clock, std::chrono::nanoseconds duration) const;

  // Keeps a callback registered with a Cancellation while it is alive.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription();

   private:
    friend class Cancellation;
    Subscription(const Cancellation* owner, std::uint64_t id) : owner_(owner), id_(id) {}
    const Cancellation* owner_ = nullptr;
    std::uint64_t id_ = 0;
  };

  // Runs `callback` on Cancel(), or at once (on this thread) when already cancelled. The callback
  // must not call back into this Cancellation's OnCancel.
  [[nodiscard]] Subscription OnCancel(std::function<void()> callback) const;

 private:
  void Unsubscribe(std::uint64_t id) const;

  mutable Mutex mutex_;
  mutable std::condition_variable cancelled_cv_;
  bool cancelled_ KCA_GUARDED_BY(mutex_) = false;
  // Subscribing does not change whether this is cancelled, so it works on a const object.
  mutable std::uint64_t next_id_ KCA_GUARDED_BY(mutex_) = 1;
  mutable std::map<std::uint64_t, std::function<void()>> callbacks_ KCA_GUARDED_BY(mutex_);
  // The callback Cancel() is running (0: none), for Unsubscribe to wait on.
  std::uint64_t running_callback_ KCA_GUARDED_BY(mutex_) = 0;
  std::thread::id cancelling_thread_ KCA_GUARDED_BY(mutex_);
  mutable std::condition_variable callback_done_cv_;
};

}  // namespace kca::kube
