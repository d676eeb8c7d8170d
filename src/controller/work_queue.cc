#include "kube_csr_approver/controller/work_queue.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kca::controller {

WorkQueue::WorkQueue(const Clock& clock, HealthState* health, Options options)
    : clock_(clock), health_(health), options_(options) {}

void WorkQueue::Add(const std::string& name, const std::string& requestor) {
  MutexLock lock(mutex_);
  if (shut_down_) return;
  if (processing_.contains(name)) {
    dirty_while_processing_[name] = requestor;
    return;
  }
  if (queued_.contains(name)) return;
  if (auto delayed = delayed_by_name_.find(name); delayed != delayed_by_name_.end()) {
    // Added for a new reason (a watch event): it need not wait for its retry delay any more.
    auto [first, last] = delayed_.equal_range(delayed->second.first);
    for (auto it = first; it != last; ++it) {
      if (it->second == name) {
        delayed_.erase(it);
        break;
      }
    }
    delayed_by_name_.erase(delayed);
  }
  EnqueueLocked(name, requestor);
  ReportBacklogLocked();
  ready_cv_.notify_one();
}

std::chrono::nanoseconds WorkQueue::Retry(const std::string& name, const std::string& requestor,
                                          std::chrono::nanoseconds at_least,
                                          std::optional<std::chrono::nanoseconds> max) {
  MutexLock lock(mutex_);
  const int failures = ++failures_[name];
  // Doubling in floating point cannot overflow; the cap keeps the result representable.
  const double initial_ns = static_cast<double>(options_.retry_initial.count());
  const double max_ns =
      static_cast<double>(std::min(options_.retry_max, max.value_or(options_.retry_max)).count());
  const double delay_ns = std::min(max_ns, initial_ns * std::pow(2.0, std::min(failures - 1, 62)));
  const auto delay =
      std::max(at_least, std::chrono::nanoseconds(static_cast<std::int64_t>(delay_ns)));
  if (shut_down_ || queued_.contains(name)) return delay;
  const auto due = clock_.SteadyNow() + delay;
  if (auto existing = delayed_by_name_.find(name); existing != delayed_by_name_.end()) {
    if (existing->second.first <= due) return delay;
    auto [first, last] = delayed_.equal_range(existing->second.first);
    for (auto it = first; it != last; ++it) {
      if (it->second == name) {
        delayed_.erase(it);
        break;
      }
    }
  }
  delayed_.emplace(due, name);
  delayed_by_name_[name] = {due, requestor};
  ready_cv_.notify_all();  // a waiting Get() may need to wake earlier than it planned
  return delay;
}

void WorkQueue::Forget(const std::string& name) {
  MutexLock lock(mutex_);
  failures_.erase(name);
}

int WorkQueue::retries(const std::string& name) const {
  MutexLock lock(mutex_);
  auto it = failures_.find(name);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<WorkQueue::Item> WorkQueue::Get() {
  MutexLock lock(mutex_);
  while (true) {
    if (shut_down_) return std::nullopt;
    if (auto item = PopLocked()) return item;
    // Add(), Retry() and ShutDown() notify; otherwise the first delayed item falls due.
    if (delayed_.empty()) {
      lock.Wait(ready_cv_);
    } else {
      clock_.WaitUntil(lock, ready_cv_, delayed_.begin()->first);
    }
  }
}

std::optional<WorkQueue::Item> WorkQueue::TryGet() {
  MutexLock lock(mutex_);
  if (shut_down_) return std::nullopt;
  return PopLocked();
}

void WorkQueue::Done(const std::string& name) {
  MutexLock lock(mutex_);
  processing_.erase(name);
  if (auto dirty = dirty_while_processing_.find(name); dirty != dirty_while_processing_.end()) {
    const std::string requestor = dirty->second;
    dirty_while_processing_.erase(dirty);
    if (!shut_down_ && !queued_.contains(name)) {
      EnqueueLocked(name, requestor);
      ready_cv_.notify_one();
    }
  }
  if (health_ != nullptr) health_->RecordProgress(queued_.size());
}

void WorkQueue::ShutDown() {
  MutexLock lock(mutex_);
  shut_down_ = true;
  ready_cv_.notify_all();
}

std::size_t WorkQueue::backlog() const {
  MutexLock lock(mutex_);
  return queued_.size() + delayed_by_name_.size();
}

std::size_t WorkQueue::processing() const {
  MutexLock lock(mutex_);
  return processing_.size();
}

void WorkQueue::EnqueueLocked(const std::string& name, const std::string& requestor) {
  queued_[name] = requestor;
  Bucket& bucket = buckets_[requestor];
  bucket.names.push_back(name);
  if (!bucket.in_rotation) {
    bucket.in_rotation = true;
    rotation_.push_back(requestor);
  }
}

void WorkQueue::PromoteDueLocked() {
  const auto now = clock_.SteadyNow();
  bool promoted = false;
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    const std::string name = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    auto entry = delayed_by_name_.find(name);
    const std::string requestor = entry->second.second;
    delayed_by_name_.erase(entry);
    if (processing_.contains(name)) {
      dirty_while_processing_[name] = requestor;
    } else if (!queued_.contains(name)) {
      EnqueueLocked(name, requestor);
      promoted = true;
    }
  }
  if (promoted) ReportBacklogLocked();
}

std::optional<WorkQueue::Item> WorkQueue::PopLocked() {
  PromoteDueLocked();
  while (!rotation_.empty()) {
    std::string requestor = std::move(rotation_.front());
    rotation_.pop_front();
    auto bucket = buckets_.find(requestor);
    if (bucket == buckets_.end()) continue;
    if (bucket->second.names.empty()) {
      buckets_.erase(bucket);
      continue;
    }
    std::string name = std::move(bucket->second.names.front());
    bucket->second.names.pop_front();
    if (bucket->second.names.empty()) {
      buckets_.erase(bucket);
    } else {
      rotation_.push_back(requestor);  // its next name waits for every other requestor's turn
    }
    queued_.erase(name);
    processing_.insert(name);
    ReportBacklogLocked();
    return Item{std::move(name), std::move(requestor)};
  }
  return std::nullopt;
}

void WorkQueue::ReportBacklogLocked() {
  // Only ready items count: an item waiting for its retry delay is not a stuck loop.
  if (health_ != nullptr) health_->RecordBacklog(queued_.size());
}

}  // namespace kca::controller
