// A scripted ApiClient for informer and controller tests: list pages and watch sessions are
// queued in advance; calls are recorded. Thread-safe: the code under test calls it on its own
// threads while the test inspects it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::testing {

// One watch connection: an optional open error, then events or errors in order, then either a
// clean end or, with `hang`, blocking until cancelled (a quiet but healthy connection).
// `before_end` (optional) runs just before the clean end, e.g. to let fake time pass.
struct WatchScript {
  std::optional<kube::ApiError> open_error;
  std::vector<kube::ApiResult<std::optional<kube::WatchEvent>>> steps;
  bool hang = false;
  std::function<void()> before_end;
};

// What a server answering HTTP `code` with a Status of `reason` causes: the client's own
// classification (kube::DecodeApiStatus), so the fake and the real client agree on codes.
inline kube::ApiError HttpError(int code, const std::string& reason = "") {
  return kube::DecodeApiStatus(code, {{"kind", "Status"}, {"reason", reason}}, "fake");
}

inline kube::ApiError NetworkError() {
  kube::ApiError error;
  error.code = kube::ApiErrorCode::kConnectionFailed;
  error.message = "fake connection reset";
  return error;
}

class FakeApiClient final : public kube::ApiClient {
 public:
  void QueueList(kube::ApiResult<nlohmann::json> page) {
    std::lock_guard lock(mutex_);
    lists_.push_back(std::move(page));
  }
  void QueueWatch(WatchScript script) {
    std::lock_guard lock(mutex_);
    watches_.push_back(std::move(script));
  }
  // What every list / watch gets once the queue is empty (instead of hanging): a server stuck in
  // one behaviour.
  void SetListFallback(kube::ApiResult<nlohmann::json> page) {
    std::lock_guard lock(mutex_);
    list_fallback_ = std::move(page);
  }
  void SetWatchFallback(WatchScript script) {
    std::lock_guard lock(mutex_);
    watch_fallback_ = std::move(script);
  }
  std::vector<kube::ListOptions> list_calls() const {
    std::lock_guard lock(mutex_);
    return list_calls_;
  }
  std::vector<kube::WatchOptions> watch_calls() const {
    std::lock_guard lock(mutex_);
    return watch_calls_;
  }
  // Waits until `predicate` holds on this client (re-checked after every call), or `timeout`.
  bool WaitFor(const std::function<bool(const FakeApiClient&)>& predicate,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    while (true) {
      const std::uint64_t seen = generation_;
      lock.unlock();
      if (predicate(*this)) return true;
      lock.lock();
      if (!changed_.wait_until(lock, deadline, [&] { return generation_ != seen; })) {
        lock.unlock();
        return predicate(*this);
      }
    }
  }

  kube::ApiResult<nlohmann::json> List(const std::string&, const kube::ListOptions& options,
                                       const kube::Cancellation* cancel) override {
    std::unique_lock lock(mutex_);
    list_calls_.push_back(options);
    ++generation_;
    changed_.notify_all();
    if (!lists_.empty()) {
      auto page = std::move(lists_.front());
      lists_.pop_front();
      return page;
    }
    if (list_fallback_) return *list_fallback_;
    lock.unlock();
    return Hang(cancel);
  }

  kube::ApiResult<std::unique_ptr<kube::WatchStream>> Watch(
      const std::string&, const kube::WatchOptions& options,
      const kube::Cancellation* cancel) override {
    std::lock_guard lock(mutex_);
    watch_calls_.push_back(options);
    ++generation_;
    changed_.notify_all();
    WatchScript script;
    if (!watches_.empty()) {
      script = std::move(watches_.front());
      watches_.pop_front();
    } else if (watch_fallback_) {
      script = *watch_fallback_;
    } else {
      script.hang = true;
    }
    if (script.open_error) return *script.open_error;
    return std::unique_ptr<kube::WatchStream>(std::make_unique<Stream>(std::move(script), cancel));
  }

  kube::ApiResult<nlohmann::json> Get(const std::string&, const kube::Cancellation*) override {
    return HttpError(404, "NotFound");
  }
  kube::ApiResult<nlohmann::json> Create(const std::string&, const nlohmann::json&,
                                         const kube::Cancellation*) override {
    return HttpError(403, "Forbidden");
  }
  kube::ApiResult<nlohmann::json> Update(const std::string&, const nlohmann::json&,
                                         const kube::Cancellation*) override {
    return HttpError(403, "Forbidden");
  }
  kube::ApiResult<nlohmann::json> Patch(const std::string&, const nlohmann::json&,
                                        const kube::Cancellation*,
                                        const kube::CallOptions&) override {
    return HttpError(403, "Forbidden");
  }
  kube::ApiResult<nlohmann::json> Delete(const std::string&, const kube::Cancellation*) override {
    return HttpError(403, "Forbidden");
  }

 private:
  static kube::ApiError Canceled() {
    kube::ApiError error;
    error.code = kube::ApiErrorCode::kCanceled;
    error.message = "fake: cancelled";
    return error;
  }

  static kube::ApiError Hang(const kube::Cancellation* cancel) {
    while (cancel != nullptr &&
           cancel->SleepFor(RealClock::Instance(), std::chrono::seconds(3600))) {
    }
    return Canceled();
  }

  class Stream final : public kube::WatchStream {
   public:
    Stream(WatchScript script, const kube::Cancellation* cancel)
        : script_(std::move(script)), cancel_(cancel) {}
    kube::ApiResult<std::optional<kube::WatchEvent>> Next() override {
      // Moved, not copied: a copy of deeply nested JSON recurses once per level.
      if (next_ < script_.steps.size()) return std::move(script_.steps[next_++]);
      if (!script_.hang) {
        if (script_.before_end) script_.before_end();
        return std::optional<kube::WatchEvent>();
      }
      return Hang(cancel_);
    }

   private:
    WatchScript script_;
    const kube::Cancellation* cancel_;
    std::size_t next_ = 0;
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t generation_ = 0;
  std::deque<kube::ApiResult<nlohmann::json>> lists_;
  std::deque<WatchScript> watches_;
  std::optional<kube::ApiResult<nlohmann::json>> list_fallback_;
  std::optional<WatchScript> watch_fallback_;
  std::vector<kube::ListOptions> list_calls_;
  std::vector<kube::WatchOptions> watch_calls_;
};

}  // namespace kca::testing
