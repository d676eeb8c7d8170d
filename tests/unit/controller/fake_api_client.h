// An in-memory API server behind kube::ApiClient, with fault switches, for controller tests.
// It keeps objects by path and implements what the controller relies on: GET, POST (create,
// 409 when the name exists), PUT with resourceVersion checks (409 when stale), and the CSR
// /approval subresource (only status.conditions is taken from the body).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
    objects_[path] = std::move(object);
  }
  std::optional<nlohmann::json> Object(const std::string& path) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(path);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  void Erase(const std::string& path) {
    std::lock_guard lock(mutex_);
    objects_.erase(path);
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

  kube::ApiResult<nlohmann::json> List(const std::string& path, const kube::ListOptions& /*options*/,
                                       const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("list", path, nullptr);
    return MakeApiError(405, "MethodNotAllowed");
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
    return it->second;
  }

  kube::ApiResult<nlohmann::json> Delete(const std::string& path,
                                         const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("delete", path, nullptr);
    if (objects_.erase(path) == 0) return MakeApiError(404, "NotFound");
    return nlohmann::json::object();
  }

  kube::ApiResult<std::unique_ptr<kube::WatchStream>> Watch(
      const std::string& path, const kube::WatchOptions& /*options*/,
      const kube::Cancellation* /*cancel*/) override {
    std::lock_guard lock(mutex_);
    Record("watch", path, nullptr);
    return MakeApiError(405, "MethodNotAllowed");
  }

 private:
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
  long revision_ = 100;
};

}  // namespace kca::testing
