#pragma once
// Clang's thread-safety analysis (-Wthread-safety, scripts/thread_safety.sh): members marked
// KCA_GUARDED_BY(mutex_) may only be touched while mutex_ is held, and the compiler checks it.
// libstdc++'s std::mutex carries no capability attributes, hence the small Mutex and MutexLock
// below. With other compilers the macros expand to nothing and the classes are plain wrappers.
#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define KCA_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KCA_THREAD_ANNOTATION(x)
#endif

#define KCA_CAPABILITY(name) KCA_THREAD_ANNOTATION(capability(name))
#define KCA_SCOPED_CAPABILITY KCA_THREAD_ANNOTATION(scoped_lockable)
#define KCA_GUARDED_BY(mutex) KCA_THREAD_ANNOTATION(guarded_by(mutex))
#define KCA_PT_GUARDED_BY(mutex) KCA_THREAD_ANNOTATION(pt_guarded_by(mutex))
#define KCA_REQUIRES(...) KCA_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KCA_EXCLUDES(...) KCA_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define KCA_ACQUIRE(...) KCA_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define KCA_RELEASE(...) KCA_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define KCA_TRY_ACQUIRE(...) KCA_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define KCA_NO_THREAD_SAFETY_ANALYSIS KCA_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace kca {

class KCA_CAPABILITY("mutex") Mutex {
 public:
  void lock() KCA_ACQUIRE() { mutex_.lock(); }
  void unlock() KCA_RELEASE() { mutex_.unlock(); }
  bool try_lock() KCA_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex for its scope. The waits release it while blocked and hold it again on return,
// as std::condition_variable does; write their conditions as loops in the caller (a predicate
// lambda is a function of its own to the analysis, which cannot see that it runs locked).
class KCA_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) KCA_ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() KCA_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Lets go of the mutex for a while (work that must not hold it); Lock() takes it again.
  void Unlock() KCA_RELEASE() { lock_.unlock(); }
  void Lock() KCA_ACQUIRE() { lock_.lock(); }

  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  template <class Clock, class Duration>
  std::cv_status WaitUntil(std::condition_variable& cv,
                           const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv.wait_until(lock_, deadline);
  }
  template <class Rep, class Period>
  std::cv_status WaitFor(std::condition_variable& cv,
                         const std::chrono::duration<Rep, Period>& timeout) {
    return cv.wait_for(lock_, timeout);
  }

  // The mutex held, for a fake clock that must synchronise with a waiter before waking it.
  std::mutex& native_mutex() { return *lock_.mutex(); }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace kca
