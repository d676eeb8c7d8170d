// A scripted kube::ApiClient for fuzz targets: each verb answers what the target set, so a
// decoder of server data runs in the code that calls it, without a network.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/kube/api_client.h"

namespace kca::fuzz {

// Time stands still unless a target moves it: runs are deterministic.
class StoppedClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point SteadyNow() const override { return steady; }
  std::chrono::system_clock::time_point WallNow() const override { return wall; }
  // A wait on a clock that never moves would never end: waits end at once instead.
  std::cv_status WaitUntil(MutexLock&, std::condition_variable&,
                           std::chrono::steady_clock::time_point) const override {
    return std::cv_status::timeout;
  }
  std::chrono::steady_clock::time_point steady{std::chrono::hours(1000)};
  std::chrono::system_clock::time_point wall{std::chrono::seconds(1798761600)};  // 2027-01-01
};

// An ApiError as the HTTP client reports a body that is not JSON.
inline kube::ApiError BadResponse(const std::string& request) {
  kube::ApiError error;
  error.code = kube::ApiErrorCode::kInvalidResponse;
  error.message = request + ": response is not JSON";
  return error;
}

// The parsed body, or the error the HTTP client returns for a body that is not JSON.
inline kube::ApiResult<nlohmann::json> ParsedBody(std::string_view body,
                                                  const std::string& request) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return BadResponse(request);
  return parsed;
}

class FakeApiClient : public kube::ApiClient {
 public:
  using Answer = std::function<kube::ApiResult<nlohmann::json>(const std::string& path,
                                                               const nlohmann::json* body)>;
  Answer get, list, create, update;
  std::function<kube::ApiResult<std::unique_ptr<kube::WatchStream>>()> watch;

  kube::ApiResult<nlohmann::json> Get(const std::string& path, const kube::Cancellation*) override {
    return Call(get, path, nullptr);
  }
  kube::ApiResult<nlohmann::json> List(const std::string& path, const kube::ListOptions& options,
                                       const kube::Cancellation*) override {
    const nlohmann::json continue_token = options.continue_token;
    return Call(list, path, &continue_token);
  }
  kube::ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation*) override {
    return Call(create, path, &body);
  }
  kube::ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                         const kube::Cancellation*) override {
    return Call(update, path, &body);
  }
  kube::ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& body,
                                        const kube::Cancellation*,
                                        const kube::CallOptions&) override {
    return Call(nullptr, path, &body);
  }
  kube::ApiResult<nlohmann::json> Delete(const std::string& path,
                                         const kube::Cancellation*) override {
    return Call(nullptr, path, nullptr);
  }
  kube::ApiResult<std::unique_ptr<kube::WatchStream>> Watch(const std::string& path,
                                                            const kube::WatchOptions&,
                                                            const kube::Cancellation*) override {
    if (!watch) return NotScripted(path);
    return watch();
  }

 private:
  static kube::ApiError NotScripted(const std::string& path) {
    kube::ApiError error;
    error.http_status = 501;
    error.code = kube::ApiErrorCode::kOther;
    error.message = path + ": not scripted";
    return error;
  }
  static kube::ApiResult<nlohmann::json> Call(const Answer& answer, const std::string& path,
                                              const nlohmann::json* body) {
    if (!answer) return NotScripted(path);
    return answer(path, body);
  }
};

}  // namespace kca::fuzz
