// An in-memory API server behind kube::ApiClient, with fault switches, for controller tests.
// It keeps objects by path and implements what the controller relies on: GET, POST (create,
// 409 when the name exists), PUT and merge PATCH with resourceVersion checks (409 when stale),
// and the CSR /approval subresource modelled on kube-apiserver: metadata comes from the body
// (labels, annotations, finalizers, ownerReferences: a PUT without them removes them), name,
// uid, creationTimestamp and generation are kept, spec and status except status.conditions come
// from storage (pkg/registry/certificates/certificates/strategy.go
// csrApprovalStrategy.PrepareForUpdate, staging/src/k8s.io/apiserver/pkg/registry/rest/update.go
// BeforeUpdate). A PATCH is merged into the stored object and then stored like a PUT of the
// result, so a resourceVersion it carries is a precondition
// (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go applyPatch, then
// pkg/registry/generic/registry/store.go Update). List returns every object of a collection and
// Watch streams later changes to it (resourceVersions are ignored).
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

// What a server answering HTTP `status` with a Status of `reason` causes: the client's own
// classification (kube::DecodeApiStatus), so fakes and the real client agree on codes.
inline kube::ApiError MakeApiError(int status, const std::string& reason) {
  return kube::DecodeApiStatus(
      status, {{"kind", "Status"}, {"reason", reason}, {"message", "fake: " + reason}}, "fake");
}

// A failure without an HTTP answer (kConnectionFailed, kCanceled, kTimeout, ...).
inline kube::ApiError MakeTransportError(kube::ApiErrorCode code) {
  kube::ApiError error;
  error.code = code;
  error.message = "fake: " + std::string(kube::ToString(code));
  return error;
}

class FakeApiClient final : public kube::ApiClient {
 public:
  struct Call {
    std::string verb;  // get, list, create, update, patch, delete, watch
    std::string path;
    nlohmann::json body;
    int max_attempts = 0;  // patch: CallOptions::max_attempts as given
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

  // While on, every write (create, update, patch, delete) blocks until its Cancellation fires
  // and then fails Canceled: a write in flight when the caller gives up.
  void BlockWrites(bool block) {
    std::lock_guard lock(mutex_);
    block_writes_ = block;
  }
  // Writes currently blocked by BlockWrites.
  int blocked_writes() const {
    std::lock_guard lock(mutex_);
    return blocked_writes_;
  }
  // Waits (up to `timeout`) until `count` writes are blocked.
  bool WaitForBlockedWrites(int count,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return called_.wait_for(lock, timeout, [&] { return blocked_writes_ >= count; });
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
                                         const kube::Cancellation* cancel) override {
    std::unique_lock lock(mutex_);
    Record("create", path, body);
    if (auto blocked = BlockIfAsked(lock, cancel)) return *blocked;
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
                                         const kube::Cancellation* cancel) override {
    std::unique_lock lock(mutex_);
    Record("update", path, body);
    if (auto blocked = BlockIfAsked(lock, cancel)) return *blocked;
    if (auto fault = TakeFault(write_faults_)) return *fault;
    return Write(path, body, /*patch=*/false);
  }

  kube::ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                        const kube::Cancellation* cancel,
                                        const kube::CallOptions& options) override {
    // Like the HTTP client: the gate is asked before sending; a refused call is not recorded.
    if (options.may_send && !options.may_send())
      return MakeTransportError(kube::ApiErrorCode::kCanceled);
    std::unique_lock lock(mutex_);
    Record("patch", path, patch, options.max_attempts);
    if (auto blocked = BlockIfAsked(lock, cancel)) return *blocked;
    if (auto fault = TakeFault(write_faults_)) return *fault;
    return Write(path, patch, /*patch=*/true);
  }

  kube::ApiResult<nlohmann::json> Delete(const std::string& path,
                                         const kube::Cancellation* cancel) override {
    std::unique_lock lock(mutex_);
    Record("delete", path, nullptr);
    if (auto blocked = BlockIfAsked(lock, cancel)) return *blocked;
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
        if (cancel_ != nullptr && cancel_->cancelled())
          return MakeTransportError(kube::ApiErrorCode::kCanceled);
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

  // REQUIRES: `lock` holds mutex_. With BlockWrites on: waits for `cancel`, returns Canceled.
  std::optional<kube::ApiError> BlockIfAsked(std::unique_lock<std::mutex>& lock,
                                             const kube::Cancellation* cancel) {
    if (!block_writes_) return std::nullopt;
    ++blocked_writes_;
    called_.notify_all();
    // Cancellation has no condition to wait on here: look at it every few milliseconds.
    while (cancel == nullptr || !cancel->cancelled()) {
      called_.wait_for(lock, std::chrono::milliseconds(5));
    }
    --blocked_writes_;
    return MakeTransportError(kube::ApiErrorCode::kCanceled);
  }

  // REQUIRES: mutex_ held. PUT `body` (or merge-PATCH it into the stored object) at `path`.
  kube::ApiResult<nlohmann::json> Write(const std::string& path, const nlohmann::json& body,
                                        bool patch) {
    constexpr std::string_view kApproval = "/approval";
    const bool approval = path.ends_with(kApproval);
    const std::string target = approval ? path.substr(0, path.size() - kApproval.size()) : path;
    auto it = objects_.find(target);
    if (it == objects_.end()) return MakeApiError(404, "NotFound");
    const nlohmann::json& stored = it->second;
    nlohmann::json next = body;
    if (patch) {
      next = stored;
      next.merge_patch(body);
    }
    const nlohmann::json& old_meta = stored["metadata"];
    nlohmann::json& meta = next["metadata"];
    if (!meta.is_object()) meta = nlohmann::json::object();
    const std::string sent_rv = meta.value("resourceVersion", std::string());
    if (!sent_rv.empty() && sent_rv != old_meta.value("resourceVersion", std::string())) {
      return MakeApiError(409, "Conflict");
    }
    const std::string sent_uid = meta.value("uid", std::string());
    if (!sent_uid.empty() && sent_uid != old_meta.value("uid", std::string())) {
      // PUT: a uid precondition (409); PATCH: an immutable field (422). Both refuse the write.
      return patch ? MakeApiError(422, "Invalid") : MakeApiError(409, "Conflict");
    }
    for (const char* kept : {"name", "uid", "creationTimestamp", "generation"}) {
      if (old_meta.contains(kept)) meta[kept] = old_meta[kept];
    }
    if (approval) {
      nlohmann::json conditions = next.contains("status") && next["status"].is_object()
                                      ? next["status"].value("conditions", nlohmann::json::array())
                                      : nlohmann::json::array();
      next["spec"] = stored.value("spec", nlohmann::json::object());
      next["status"] = stored.value("status", nlohmann::json::object());
      next["status"]["conditions"] = std::move(conditions);
    }
    meta["resourceVersion"] = std::to_string(++revision_);
    it->second = std::move(next);
    Broadcast(target, "MODIFIED", it->second);
    return it->second;
  }

  // REQUIRES: mutex_ held.
  void Record(std::string verb, const std::string& path, nlohmann::json body,
              int max_attempts = 0) {
    calls_.push_back({std::move(verb), path, std::move(body), max_attempts});
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
  bool block_writes_ = false;
  int blocked_writes_ = 0;
};

}  // namespace kca::testing
