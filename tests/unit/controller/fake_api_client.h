// An in-memory API server behind kube::ApiClient, with fault switches, for controller tests.
// It keeps objects by path and implements what the controller relies on: GET, POST (create,
// 409 when the name exists), PUT with resourceVersion checks (409 when stale), and the CSR
// /approval subresource (only status.conditions is taken from the body); List returns every
// object of a collection and Watch streams later changes to it (resourceVersions are ignored).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::testing {

inline kube::ApiError MakeApiError(int status, std::string reason) {
  kube::ApiError error;
  error.http_status = status;
  error.reason = std::move(reason);
  error.message = "fake: " + error.reason;
  error.transient = status == 0 || status == 429 || status >= 500;
  return error;
}

class FakeApiClient final : public kube::ApiClient {
 public:
  struct Call {
    std::string verb;  // get, list, create, update, delete, watch
    std::string path;
    nlohmann::json body;
  };

  // Stores `object` at `path` as is (its metadata.resourceVersion is kept when set).
  void Store(const std::string& path, nlohmann::json object) {
    std::lock_guard lock(mutex_);
    if (!object["metadata"].contains("resourceVersion")) {
      object["metadata"]["resourceVersion"] = std::to_string(++revision_);
    }
    const bool existed = objects_.contains(path);
    objects_[path] = object;
    Broadcast(path, existed ? "MODIFIED" : "ADDED", object);
  }
  std::optional<nlohmann::json> Object(const std::string& path) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(path);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  void Erase(const std::string& path) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(path);
    if (it == objects_.end()) return;
    Broadcast(path, "DELETED", it->second);
    objects_.erase(it);
  }

  // Fault switches: the next `count` calls of that kind fail with `error` before doing anything.
  void FailNextWrites(int count, const kube::ApiError& error) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < count; ++i) write_faults_.push_back(error);
  }
  void FailNextReads(int count, const kube::ApiError& error) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < count; ++i) read_faults_.push_back(error);
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  int CountCalls(const std::string& verb) const {
    std::lock_guard lock(mutex_);
    int count = 0;
    for (const auto& call : calls_) count += call.verb == verb;
    return count;
  }
  // Waits (up to `timeout`) until at least `count` calls of `verb` were made.
  bool WaitForCalls(const std::string& verb, int count,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return called_.wait_for(lock, timeout, [&] {
      int seen = 0;
      for (const auto& call : calls_) seen += call.verb == verb;
      return seen >= count;
    });
  }

  kube::ApiResult<nlohmann::json> Get(const std::string& path,
                                      const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("get", path, nullptr);
    if (auto fault = TakeFault(read_faults_)) return *fault;
    auto it = objects_.find(path);
    if (it == objects_.end()) return MakeApiError(404, "NotFound");
    return it->second;
  }

  kube::ApiResult<nlohmann::json> List(const std::string& path,
                                       const kube::ListOptions& /*options*/,
                                       const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("list", path, nullptr);
    if (auto fault = TakeFault(read_faults_)) return *fault;
    nlohmann::json items = nlohmann::json::array();
    for (const auto& [key, object] : objects_) {
      if (!InCollection(key, path)) continue;
      nlohmann::json item = object;  // the real server omits kind/apiVersion in list items
      item.erase("kind");
      item.erase("apiVersion");
      items.push_back(std::move(item));
    }
    return nlohmann::json{{"kind", "List"},
                          {"apiVersion", "v1"},
                          {"metadata", {{"resourceVersion", std::to_string(revision_)}}},
                          {"items", std::move(items)}};
  }

  kube::ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("create", path, body);
    if (auto fault = TakeFault(write_faults_)) return *fault;
    const std::string item = path + "/" + body["metadata"].value("name", std::string());
    if (objects_.contains(item)) return MakeApiError(409, "AlreadyExists");
    nlohmann::json stored = body;
    stored["metadata"]["resourceVersion"] = std::to_string(++revision_);
    objects_[item] = stored;
    Broadcast(item, "ADDED", stored);
    return stored;
  }

  kube::ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("update", path, body);
    if (auto fault = TakeFault(write_faults_)) return *fault;
    constexpr std::string_view kApproval = "/approval";
    const bool approval = path.ends_with(kApproval);
    const std::string target = approval ? path.substr(0, path.size() - kApproval.size()) : path;
    auto it = objects_.find(target);
    if (it == objects_.end()) return MakeApiError(404, "NotFound");
    const std::string sent_rv = body["metadata"].value("resourceVersion", std::string());
    if (!sent_rv.empty() && sent_rv != it->second["metadata"]["resourceVersion"]) {
      return MakeApiError(409, "Conflict");
    }
    if (approval) {
      it->second["status"]["conditions"] = body["status"]["conditions"];
    } else {
      it->second = body;
    }
    it->second["metadata"]["resourceVersion"] = std::to_string(++revision_);
    Broadcast(target, "MODIFIED", it->second);
    return it->second;
  }

  kube::ApiResult<nlohmann::json> Delete(const std::string& path,
                                         const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("delete", path, nullptr);
    auto it = objects_.find(path);
    if (it == objects_.end()) return MakeApiError(404, "NotFound");
    Broadcast(path, "DELETED", it->second);
    objects_.erase(it);
    return nlohmann::json::object();
  }

  kube::ApiResult<std::unique_ptr<kube::WatchStream>> Watch(
      const std::string& path, const kube::WatchOptions& /*options*/,
      const kube::Cancellation* cancel) override {
    std::lock_guard lock(mutex_);
    Record("watch", path, nullptr);
    if (auto fault = TakeFault(read_faults_)) return *fault;
    auto channel = std::make_shared<Channel>();
    channel->collection = path;
    channels_.push_back(channel);
    return std::unique_ptr<kube::WatchStream>(new Stream(channel, cancel));
  }

 private:
  struct Channel {
    std::string collection;
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<kube::WatchEvent> events;
  };
  class Stream final : public kube::WatchStream {
   public:
    Stream(std::shared_ptr<Channel> channel, const kube::Cancellation* cancel)
        : channel_(std::move(channel)), cancel_(cancel) {}
    kube::ApiResult<std::optional<kube::WatchEvent>> Next() override {
      std::unique_lock lock(channel_->mutex);
      while (channel_->events.empty()) {
        if (cancel_ != nullptr && cancel_->cancelled()) return MakeApiError(0, "Canceled");
        // Cancellation has no const subscription: look at it every few milliseconds.
        channel_->ready.wait_for(lock, std::chrono::milliseconds(5));
      }
      kube::WatchEvent event = std::move(channel_->events.front());
      channel_->events.pop_front();
      return std::optional<kube::WatchEvent>(std::move(event));
    }

   private:
    std::shared_ptr<Channel> channel_;
    const kube::Cancellation* cancel_;
  };

  static bool InCollection(const std::string& key, const std::string& collection) {
    return key.size() > collection.size() + 1 && key.rfind(collection + "/", 0) == 0 &&
           key.find('/', collection.size() + 1) == std::string::npos;
  }
  // REQUIRES: mutex_ held. Tells open watches of the object's collection.
  void Broadcast(const std::string& key, const std::string& type, const nlohmann::json& object) {
    for (auto it = channels_.begin(); it != channels_.end();) {
      auto channel = it->lock();
      if (!channel) {
        it = channels_.erase(it);
        continue;
      }
      if (InCollection(key, channel->collection)) {
        std::lock_guard lock(channel->mutex);
        channel->events.push_back({type, object});
        channel->ready.notify_all();
      }
      ++it;
    }
  }

  // REQUIRES: mutex_ held.
  void Record(std::string verb, const std::string& path, nlohmann::json body) {
    calls_.push_back({std::move(verb), path, std::move(body)});
    called_.notify_all();
  }
  static std::optional<kube::ApiError> TakeFault(std::deque<kube::ApiError>& faults) {
    if (faults.empty()) return std::nullopt;
    kube::ApiError fault = faults.front();
    faults.pop_front();
    return fault;
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable called_;
  std::map<std::string, nlohmann::json> objects_;
  std::deque<kube::ApiError> write_faults_, read_faults_;
  std::vector<Call> calls_;
  std::vector<std::weak_ptr<Channel>> channels_;
  long revision_ = 100;
};

}  // namespace kca::testing
