#include "kube_csr_approver/kube/event_recorder.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "kube_csr_approver/observability/logging.h"

namespace kca::kube {

EventRecorder::EventRecorder(ApiClient& client, const Clock& clock, EventRecorderOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      pace_(options_.qps, options_.burst, clock),
      thread_([this] {
        // Run() returns when stopping; after an exception it carries on with the next Event.
        while (!RunGuarded(
            "events", [this] { Run(); }, options_.on_unexpected_error)) {
          if (!stop_.SleepFor(clock_, std::chrono::seconds(1))) return;
        }
      }) {}

EventRecorder::~EventRecorder() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  stop_.Cancel();
  thread_.join();
}

bool EventRecorder::Record(nlohmann::json event) {
  return RecordIfRoom([&event] { return std::move(event); });
}

bool EventRecorder::RecordIfRoom(const std::function<nlohmann::json()>& build) {
  {
    MutexLock lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return false;
    }
    queue_.push_back(build());
  }
  wake_.notify_one();
  return true;
}

void EventRecorder::Run() {
  const std::string path =
      "/apis/events.k8s.io/v1/namespaces/" + options_.event_namespace + "/events";
  while (true) {
    nlohmann::json event;
    {
      MutexLock lock(mutex_);
      while (!stopping_ && queue_.empty()) lock.Wait(wake_);
      if (stopping_) return;
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    if (const auto wait = pace_.Reserve(); wait.count() > 0 && !stop_.SleepFor(clock_, wait))
      return;
    auto created = client_.Create(path, event, &stop_);
    MutexLock lock(mutex_);
    if (created.ok()) {
      ++sent_;
    } else {
      ++failed_;
      if (created.error().code != ApiErrorCode::kCanceled) {
        // Events are a courtesy: a warning, not a retry (the audit log has the decision).
        spdlog::warn("could not record an Event about {}: {}",
                     event.value("regarding", nlohmann::json::object()).value("name", "?"),
                     created.error().message);
      }
    }
  }
}

std::uint64_t EventRecorder::sent() const {
  MutexLock lock(mutex_);
  return sent_;
}

std::uint64_t EventRecorder::dropped() const {
  MutexLock lock(mutex_);
  return dropped_;
}

std::uint64_t EventRecorder::failed() const {
  MutexLock lock(mutex_);
  return failed_;
}

}  // namespace kca::kube
