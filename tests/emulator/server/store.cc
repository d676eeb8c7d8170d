#include "store.h"

#include <algorithm>

namespace kca::emulator {

Store::Store(size_t history_limit) : history_limit_(history_limit == 0 ? 1 : history_limit) {}

uint64_t Store::CurrentResourceVersion() const {
  std::lock_guard lock(mu_);
  return revision_;
}

std::optional<Json> Store::Mutate(const ObjectKey& key, const Mutation& fn) {
  std::lock_guard lock(mu_);
  auto& objects = objects_[key.resource];
  auto it = objects.find(MapKey(key));
  const Json* current = it == objects.end() ? nullptr : &it->second;
  bool remove = false;
  std::optional<Json> next = fn(current, &remove);
  if (remove) {
    if (current == nullptr) return std::nullopt;
    Json last = std::move(it->second);
    objects.erase(it);
    ++revision_;
    last["metadata"]["resourceVersion"] = std::to_string(revision_);
    Record({"DELETED", key.resource, key.ns, revision_, last});
    return last;
  }
  if (!next) return std::nullopt;
  ++revision_;
  (*next)["metadata"]["resourceVersion"] = std::to_string(revision_);
  std::string type = current == nullptr ? "ADDED" : "MODIFIED";
  objects[MapKey(key)] = *next;
  Record({type, key.resource, key.ns, revision_, *next});
  return next;
}

void Store::Record(WatchEvent event) {
  history_.push_back(std::move(event));
  while (history_.size() > history_limit_) {
    compacted_through_ = history_.front().resource_version;
    history_.pop_front();
  }
  changed_.notify_all();
}

std::optional<Json> Store::Get(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto res = objects_.find(key.resource);
  if (res == objects_.end()) return std::nullopt;
  auto it = res->second.find(MapKey(key));
  if (it == res->second.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> Store::List(const std::string& resource, const std::string& ns,
                              uint64_t* resource_version) const {
  std::lock_guard lock(mu_);
  std::vector<Json> out;
  *resource_version = revision_;
  auto res = objects_.find(resource);
  if (res == objects_.end()) return out;
  for (const auto& [k, obj] : res->second) {
    if (!ns.empty() && k.compare(0, ns.size() + 1, ns + "/") != 0) continue;
    out.push_back(obj);
  }
  return out;
}

uint64_t Store::Visit(const std::string& resource, const std::string& ns, const std::string& start,
                      const Visitor& visit) const {
  std::lock_guard lock(mu_);
  auto res = objects_.find(resource);
  if (res == objects_.end()) return revision_;
  const std::string prefix = ns.empty() ? std::string() : ns + "/";
  auto it = res->second.lower_bound(std::max(start, prefix));
  for (; it != res->second.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!visit(it->second)) break;
  }
  return revision_;
}

bool Store::Expired(uint64_t after) const {
  std::lock_guard lock(mu_);
  return after < compacted_through_;
}

HistoryRead Store::EventsAfter(const std::string& resource, uint64_t after) const {
  std::lock_guard lock(mu_);
  HistoryRead read;
  read.oldest_available = compacted_through_ + 1;
  read.revision = revision_;
  if (after < compacted_through_) {
    read.expired = true;
    return read;
  }
  // History is ordered by revision: skip the prefix that the watcher has already seen.
  auto it = std::partition_point(history_.begin(), history_.end(), [after](const WatchEvent& e) {
    return e.resource_version <= after;
  });
  for (; it != history_.end(); ++it) {
    if (it->resource == resource) read.events.push_back(*it);
  }
  return read;
}

bool Store::WaitForChange(uint64_t after, std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return shut_down_ || revision_ > after; });
  return !shut_down_;
}

void Store::Compact() {
  std::lock_guard lock(mu_);
  history_.clear();
  compacted_through_ = revision_;
}

void Store::Reset() {
  std::lock_guard lock(mu_);
  objects_.clear();
  history_.clear();
  ++revision_;
  compacted_through_ = revision_;
  changed_.notify_all();
}

void Store::Shutdown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
  changed_.notify_all();
}

Json Store::Dump() const {
  std::lock_guard lock(mu_);
  Json out;
  out["resourceVersion"] = std::to_string(revision_);
  out["oldestWatchableResourceVersion"] = std::to_string(compacted_through_ + 1);
  out["objects"] = Json::object();
  for (const auto& [resource, objects] : objects_) {
    Json list = Json::array();
    for (const auto& [k, obj] : objects) list.push_back(obj);
    out["objects"][resource] = std::move(list);
  }
  return out;
}

}  // namespace kca::emulator
