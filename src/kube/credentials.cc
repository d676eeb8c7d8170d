#include "kube_csr_approver/kube/credentials.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>

#include "exec_plugin.h"
#include "files.h"

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
                       std::chrono::seconds refresh)
      : base_(std::move(base)), path_(std::move(path)), clock_(clock), refresh_(refresh) {}

  Result<Credentials> Current() override {
    std::lock_guard lock(mutex_);
    const auto now = clock_.SteadyNow();
    if (stale_ || !read_at_ || now - *read_at_ >= refresh_) {
      auto contents = ReadSmallFile(path_, 64 << 10);
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
    std::lock_guard lock(mutex_);
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
  std::mutex mutex_;
  std::string token_;                                             // guarded by mutex_
  std::optional<std::chrono::steady_clock::time_point> read_at_;  // guarded by mutex_
  bool stale_ = false;                                            // guarded by mutex_
};

// An exec plugin's credential, cached until shortly before its expiry or until a 401.
class ExecCredentials final : public CredentialSource {
 public:
  ExecCredentials(KubeConfig config, const Clock& clock, CredentialOptions options)
      : config_(std::move(config)), clock_(clock), options_(options) {}

  Result<Credentials> Current() override {
    std::lock_guard lock(mutex_);
    if (cached_ && !stale_ &&
        (!expiry_ || clock_.WallNow() + options_.exec_expiry_margin < *expiry_)) {
      return *cached_;
    }
    auto output = RunExecPlugin(*config_.exec, config_, options_.exec_timeout);
    Result<ExecCredential> parsed = output.ok()
                                        ? ParseExecCredential(*output, config_.exec->api_version)
                                        : Result<ExecCredential>(output.error());
    if (!parsed.ok()) {
      // An expired credential is useless; a merely invalidated one may still work.
      if (cached_ && (!expiry_ || clock_.WallNow() < *expiry_)) {
        spdlog::warn("{}; keeping the previous credential", parsed.error().message);
        return *cached_;
      }
      return parsed.error();
    }
    Credentials credentials = parsed->credentials;
    // A plugin that returns only a token keeps the kubeconfig's client certificate, if any.
    if (credentials.client_certificate_pem.empty()) {
      credentials.client_certificate_pem = config_.client_certificate_pem;
      credentials.client_key_pem = config_.client_key_pem;
    }
    cached_ = credentials;
    expiry_ = parsed->expiry;
    stale_ = false;
    return credentials;
  }

  void Invalidate() override {
    std::lock_guard lock(mutex_);
    stale_ = true;
  }

 private:
  const KubeConfig config_;
  const Clock& clock_;
  const CredentialOptions options_;
  std::mutex mutex_;
  std::optional<Credentials> cached_;                            // guarded by mutex_
  std::optional<std::chrono::system_clock::time_point> expiry_;  // guarded by mutex_
  bool stale_ = false;                                           // guarded by mutex_
};

}  // namespace

std::unique_ptr<CredentialSource> NewCredentialSource(const KubeConfig& config, const Clock& clock,
                                                      CredentialOptions options) {
  if (config.exec) return std::make_unique<ExecCredentials>(config, clock, options);
  Credentials base{config.token, config.client_certificate_pem, config.client_key_pem};
  if (!config.token_file.empty()) {
    return std::make_unique<TokenFileCredentials>(std::move(base), config.token_file, clock,
                                                  options.token_file_refresh);
  }
  return std::make_unique<StaticCredentials>(std::move(base));
}

}  // namespace kca::kube
