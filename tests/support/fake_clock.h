// A Clock tests move by hand. Thread-safe: readers and waiters may run on other threads while a
// test advances. Waits never end by real time: only Advance() (past their deadline) or their own
// condition variable ends them, so a run loop moves exactly as far as the test advances it.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"

namespace kca::testing {

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point SteadyNow() const override {
    MutexLock lock(mutex_);
    return steady_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    MutexLock lock(mutex_);
    return wall_;
  }

  std::cv_status WaitUntil(MutexLock& lock, std::condition_variable& cv,
                           std::chrono::steady_clock::time_point deadline) const override {
    Waiter waiter{deadline, &cv, &lock.native_mutex()};
    {
      MutexLock clock_lock(mutex_);
      if (steady_ >= deadline) return std::cv_status::timeout;
      waiters_.push_back(&waiter);
    }
    waiters_changed_.notify_all();
    // The caller's mutex is held from the registration until the wait releases it, and Advance()
    // takes that mutex before notifying: a wake-up in between is not lost.
    lock.Wait(cv);
    // Advance() may be about to notify this waiter and needs the caller's mutex to do so.
    lock.Unlock();
    bool passed;
    {
      MutexLock clock_lock(mutex_);
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
      while (waiter.pins > 0) clock_lock.Wait(waiters_changed_);
      passed = steady_ >= deadline;
    }
    waiters_changed_.notify_all();
    lock.Lock();
    return passed ? std::cv_status::timeout : std::cv_status::no_timeout;
  }

  // Moves both clocks on and wakes every waiter whose deadline has been reached.
  void Advance(std::chrono::nanoseconds by) {
    std::vector<Waiter*> due;
    {
      MutexLock lock(mutex_);
      steady_ += by;
      wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
      for (Waiter* waiter : waiters_) {
        if (steady_ >= waiter->deadline) {
          ++waiter->pins;  // keeps it (and its mutex and cv) alive until notified
          due.push_back(waiter);
        }
      }
    }
    for (Waiter* waiter : due) {
      { std::lock_guard waiter_lock(*waiter->mutex); }
      waiter->cv->notify_all();
    }
    {
      MutexLock lock(mutex_);
      for (Waiter* waiter : due) --waiter->pins;
    }
    waiters_changed_.notify_all();
  }

  void SetWall(std::chrono::system_clock::time_point wall) {
    MutexLock lock(mutex_);
    wall_ = wall;
  }

  // Blocks (real time, at most `timeout`: the test's own safety net) until at least `count`
  // threads wait on this clock. False on timeout.
  bool AwaitWaiters(std::size_t count,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return AwaitWaiter([&] { return waiters_.size() >= count; }, timeout);
  }

  // Blocks (as above) until some thread waits for a deadline exactly `in` from now.
  bool AwaitWaiterDue(std::chrono::nanoseconds in,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return AwaitWaiter(
        [&] {
          return std::any_of(waiters_.begin(), waiters_.end(),
                             [&](const Waiter* w) { return w->deadline == steady_ + in; });
        },
        timeout);
  }

 private:
  struct Waiter {
    std::chrono::steady_clock::time_point deadline;
    std::condition_variable* cv;
    std::mutex* mutex;
    int pins = 0;  // Advance() calls about to notify it
  };

  template <typename Condition>
  bool AwaitWaiter(Condition condition,
                   std::chrono::milliseconds timeout) const KCA_NO_THREAD_SAFETY_ANALYSIS {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(mutex_);
    while (!condition()) {
      if (lock.WaitUntil(waiters_changed_, give_up) == std::cv_status::timeout) return condition();
    }
    return true;
  }

  mutable Mutex mutex_;
  mutable std::condition_variable waiters_changed_;
  std::chrono::steady_clock::time_point steady_ KCA_GUARDED_BY(mutex_){std::chrono::hours(1000)};
  std::chrono::system_clock::time_point wall_ KCA_GUARDED_BY(mutex_){
      std::chrono::seconds(1'800'000'000)};
  mutable std::vector<Waiter*> waiters_ KCA_GUARDED_BY(mutex_);
};

}  // namespace kca::testing
