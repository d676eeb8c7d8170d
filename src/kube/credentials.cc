#include "kube_csr_approver/kube/credentials.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdint>
#include <optional>
#include <thread>

#include "exec_plugin.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/files.h"

namespace kca::kube {
namespace {

class StaticCredentials final : public CredentialSource {
 public:
  explicit StaticCredentials(Credentials credentials) : credentials_(std::move(credentials)) {}
  Result<Credentials> Current() override { return credentials_; }
  // Nothing to refresh: a static token stays what the kubeconfig says.
  void Invalidate() override {}

 private:
  const Credentials credentials_;
};

// A bound service-account token (or any tokenFile): re-read when older than the refresh period
// or after a 401, keeping the last good token when a re-read fails.
class TokenFileCredentials final : public CredentialSource {
 public:
  TokenFileCredentials(Credentials base, std::string path, const Clock& clock,
                       std::chrono::seconds refresh, const FileReader& files)
      : base_(std::move(base)),
        path_(std::move(path)),
        clock_(clock),
        refresh_(refresh),
        files_(files) {}

  Result<Credentials> Current() override {
    MutexLock lock(mutex_);
    const auto now = clock_.SteadyNow();
    if (stale_ || !read_at_ || now - *read_at_ >= refresh_) {
      auto contents = files_.Read(path_, 64 << 10);
      std::string token = contents.ok() ? Trim(*contents) : std::string();
      if (contents.ok() && !token.empty()) {
        token_ = std::move(token);
        read_at_ = now;
        stale_ = false;
      } else {
        const std::string why = contents.ok() ? path_ + " is empty" : contents.error().message;
        if (token_.empty()) return Error{"bearer token file: " + why};
        // Try again after another period (or 401), not on every request: one warning each time.
        read_at_ = now;
        stale_ = false;
        spdlog::warn("bearer token file: {}; keeping the previous token", why);
      }
    }
    Credentials credentials = base_;
    credentials.bearer_token = token_;
    return credentials;
  }

  void Invalidate() override {
    MutexLock lock(mutex_);
    stale_ = true;
  }

 private:
  static std::string Trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
  }

  const Credentials base_;
  const std::string path_;
  const Clock& clock_;
  const std::chrono::seconds refresh_;
  const FileReader& files_;
  Mutex mutex_;
  std::string token_ KCA_GUARDED_BY(mutex_);
  std::optional<std::chrono::steady_clock::time_point> read_at_ KCA_GUARDED_BY(mutex_);
  bool stale_ KCA_GUARDED_BY(mutex_) = false;
};

// An exec plugin's credential, cached until shortly before its expiry or until a 401.
// The plugin never runs under the lock readers take: while the cached credential is still valid
// (before its expirationTimestamp), a refresh due by the margin runs on a background thread and
// every reader gets the cached credential at once, so a slow plugin (a cloud login, 30 s) does
// not hold up the requests it would otherwise queue (the Lease renewals first of all). Only with
// nothing usable (first call, expired, or rejected by a 401) do readers wait for the run.
class ExecCredentials final : public CredentialSource {
 public:
  ExecCredentials(KubeConfig config, const Clock& clock, CredentialOptions options)
      : config_(std::move(config)), clock_(clock), options_(options) {}

  // Waits for a background run (bounded by exec_timeout, after which the plugin is killed).
  ~ExecCredentials() override {
    if (background_.joinable()) background_.join();
  }

  Result<Credentials> Current() override {
    MutexLock lock(mutex_);
    const auto now = clock_.WallNow();
    const bool valid = cached_ && !stale_ && (!expiry_ || now < *expiry_);
    if (valid) {
      if (expiry_ && now + options_.exec_expiry_margin >= *expiry_ && !running_) {
        StartBackgroundRefresh();
      }
      return *cached_;
    }
    if (running_) {
      // Another caller runs the plugin: take its result rather than running it twice.
      const auto generation = generation_;
      while (generation_ == generation) lock.Wait(finished_);
      if (cached_ && !stale_ && (!expiry_ || clock_.WallNow() < *expiry_)) return *cached_;
      return Error{last_error_};
    }
    running_ = true;
    lock.Unlock();
    auto fetched = Fetch();
    lock.Lock();
    Finish(fetched);
    if (fetched.ok()) return fetched->credentials;
    // An expired credential is useless; one merely rejected by a 401 may work again.
    if (cached_ && (!expiry_ || clock_.WallNow() < *expiry_)) {
      spdlog::warn("{}; keeping the previous credential", fetched.error().message);
      return *cached_;
    }
    return fetched.error();
  }

  void Invalidate() override {
    MutexLock lock(mutex_);
    stale_ = true;
  }

 private:
  struct Fetched {
    Credentials credentials;
    std::optional<std::chrono::system_clock::time_point> expiry;
  };

  // Runs the plugin; no lock held.
  Result<Fetched> Fetch() const {
    auto output = RunExecPlugin(*config_.exec, config_, options_.exec_timeout);
    Result<ExecCredential> parsed = output.ok()
                                        ? ParseExecCredential(*output, config_.exec->api_version)
                                        : Result<ExecCredential>(output.error());
    if (!parsed.ok()) return parsed.error();
    Credentials credentials = parsed->credentials;
    // A plugin that returns only a token keeps the kubeconfig's client certificate, if any.
    if (credentials.client_certificate_pem.empty()) {
      credentials.client_certificate_pem = config_.client_certificate_pem;
      credentials.client_key_pem = config_.client_key_pem;
    }
    return Fetched{std::move(credentials), parsed->expiry};
  }

  // running_ set by this run.
  void Finish(const Result<Fetched>& fetched) KCA_REQUIRES(mutex_) {
    if (fetched.ok()) {
      cached_ = fetched->credentials;
      expiry_ = fetched->expiry;
      stale_ = false;
    } else {
      last_error_ = fetched.error().message;
    }
    running_ = false;
    ++generation_;
    finished_.notify_all();
  }

  // No run in progress.
  void StartBackgroundRefresh() KCA_REQUIRES(mutex_) {
    running_ = true;
    if (background_.joinable()) background_.join();  // the previous run has finished
    background_ = std::thread([this] {
      auto fetched = Fetch();
      MutexLock lock(mutex_);
      if (!fetched.ok()) {
        spdlog::warn("{}; keeping the previous credential until it expires",
                     fetched.error().message);
      }
      Finish(fetched);
    });
  }

  const KubeConfig config_;
  const Clock& clock_;
  const CredentialOptions options_;
  Mutex mutex_;
  std::condition_variable finished_;
  std::optional<Credentials> cached_ KCA_GUARDED_BY(mutex_);
  std::optional<std::chrono::system_clock::time_point> expiry_ KCA_GUARDED_BY(mutex_);
  bool stale_ KCA_GUARDED_BY(mutex_) = false;
  bool running_ KCA_GUARDED_BY(mutex_) = false;          // a plugin run is in progress
  std::uint64_t generation_ KCA_GUARDED_BY(mutex_) = 0;  // finished runs
  std::string last_error_ KCA_GUARDED_BY(mutex_);        // of the last failed run
  std::thread background_ KCA_GUARDED_BY(mutex_);
};

}  // namespace

std::unique_ptr<CredentialSource> NewCredentialSource(const KubeConfig& config, const Clock& clock,
                                                      CredentialOptions options) {
  if (config.exec) return std::make_unique<ExecCredentials>(config, clock, options);
  Credentials base{config.token, config.client_certificate_pem, config.client_key_pem};
  if (!config.token_file.empty()) {
    return std::make_unique<TokenFileCredentials>(
        std::move(base), config.token_file, clock, options.token_file_refresh,
        options.files != nullptr ? *options.files : LocalFiles());
  }
  return std::make_unique<StaticCredentials>(std::move(base));
}

}  // namespace kca::kube
