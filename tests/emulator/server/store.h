// The emulator's storage: every object of every resource under one mutex, one global
// resourceVersion counter (like etcd's revision) and a bounded event history for watches.
// Thread-safety: all public methods are thread-safe; the mutex is held only inside them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kca::emulator {

using Json = nlohmann::ordered_json;

// Identifies a stored object. `resource` is "group/resource" ("/nodes" for the core group);
// `ns` is empty for cluster-scoped resources.
struct ObjectKey {
  std::string resource;
  std::string ns;
  std::string name;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED or DELETED
  std::string resource;
  std::string ns;
  uint64_t resource_version = 0;
  Json object;
};

// Outcome of reading history for a watcher.
struct HistoryRead {
  bool expired = false;           // events after `after` were compacted away
  uint64_t oldest_available = 0;  // for the "too old resource version" message
  uint64_t revision = 0;          // the store's revision when read: the watcher is synced to it
  std::vector<WatchEvent> events;
};

class Store {
 public:
  // `history_limit` bounds how many events are kept for watches (at least 1).
  explicit Store(size_t history_limit);

  uint64_t CurrentResourceVersion() const;

  // Runs `fn` under the store mutex with read access to the current object (nullptr if absent).
  // `fn` returns the new object to store, std::nullopt to leave storage untouched, or sets
  // *remove to delete the object. The stored object gets metadata.resourceVersion set to the new
  // global revision and an event is recorded. Returns the object as stored (or as deleted).
  using Mutation = std::function<std::optional<Json>(const Json* current, bool* remove)>;
  std::optional<Json> Mutate(const ObjectKey& key, const Mutation& fn);

  std::optional<Json> Get(const ObjectKey& key) const;

  // All objects of a resource (in namespace `ns`, or all namespaces if empty), ordered by
  // namespace then name, and the revision they were read at.
  std::vector<Json> List(const std::string& resource, const std::string& ns,
                         uint64_t* resource_version) const;

  // Calls `visit` under the store mutex with the objects of a resource (in namespace `ns`, or
  // all namespaces if empty) in the order of List, from the first whose "namespace/name" is not
  // below `start`, until `visit` returns false. Returns the revision they were read at. Lets a
  // paged list copy one page instead of the whole collection.
  using Visitor = std::function<bool(const Json& object)>;
  uint64_t Visit(const std::string& resource, const std::string& ns, const std::string& start,
                 const Visitor& visit) const;

  // Whether events after revision `after` were compacted away (a watch or continue token from
  // there gets 410 Expired).
  bool Expired(uint64_t after) const;

  // Events with revision > after for `resource`. Expired when history no longer covers `after`.
  HistoryRead EventsAfter(const std::string& resource, uint64_t after) const;

  // Blocks until the revision exceeds `after`, the deadline passes or Shutdown() is called.
  // Returns false once shut down.
  bool WaitForChange(uint64_t after, std::chrono::steady_clock::time_point deadline) const;

  // Drops all history: watches from any earlier revision get 410 Expired.
  void Compact();
  // Deletes every object (no events) and compacts; the revision keeps increasing.
  void Reset();
  // Wakes every waiter for good.
  void Shutdown();

  // Full state, for the control API: {"resourceVersion", "objects": {resource: [...]}}.
  Json Dump() const;

 private:
  static std::string MapKey(const ObjectKey& key) { return key.ns + "/" + key.name; }
  void Record(WatchEvent event);  // REQUIRES: mu_ held

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  size_t history_limit_;
  uint64_t revision_ = 1;           // GUARDED_BY(mu_)
  uint64_t compacted_through_ = 1;  // GUARDED_BY(mu_): events <= this are gone
  bool shut_down_ = false;          // GUARDED_BY(mu_)
  std::map<std::string, std::map<std::string, Json>> objects_;  // GUARDED_BY(mu_)
  std::deque<WatchEvent> history_;                              // GUARDED_BY(mu_)
};

}  // namespace kca::emulator
