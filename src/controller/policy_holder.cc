#include "kube_csr_approver/controller/policy_holder.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "kube_csr_approver/observability/logging.h"

namespace kca::controller {
namespace {

// Same bound as the loader's: larger files are not policies.
constexpr std::size_t kMaxPolicyBytes = 4 * 1024 * 1024;

// Follows the ConfigMap's ..data symlink (FileReader does).
Result<std::string> ReadPolicyText(const kube::FileReader& files, const std::string& path) {
  auto text = files.Read(path, kMaxPolicyBytes);
  if (!text.ok()) {
    // The image carries no policy: in a pod this means the ConfigMap is not mounted there.
    return Error{"policy file: " + text.error().message +
                 "; mount the policy there (the chart's or deploy/'s policy ConfigMap as a "
                 "directory) or pass --policy FILE"};
  }
  return text;
}

std::string JoinIssues(const std::vector<PolicyIssue>& issues) {
  std::string joined;
  for (const auto& issue : issues) {
    if (!joined.empty()) joined += '\n';
    joined += issue.ToString();
  }
  return joined;
}

void LogWarnings(const std::vector<PolicyIssue>& warnings) {
  for (const auto& warning : warnings) {
    LogEvent(spdlog::level::warn, "policy warning", {{"warning", warning.ToString()}});
  }
}

}  // namespace

std::shared_ptr<const LoadedPolicy> PolicyHolder::Current() const {
  MutexLock lock(mutex_);
  return current_;
}

void PolicyHolder::Set(std::shared_ptr<const Policy> policy) {
  auto loaded = std::make_shared<LoadedPolicy>();
  loaded->summary = Summarize(*policy);
  loaded->policy = std::move(policy);
  MutexLock lock(mutex_);
  current_ = std::move(loaded);
}

PolicyFileWatcher::PolicyFileWatcher(std::string path, PolicyHolder& holder,
                                     ApproverMetrics& metrics, std::function<void()> on_reloaded,
                                     const kube::FileReader& files)
    : path_(std::move(path)),
      files_(files),
      holder_(holder),
      metrics_(metrics),
      on_reloaded_(std::move(on_reloaded)) {}

Status PolicyFileWatcher::LoadInitial() {
  auto text = ReadPolicyText(files_, path_);
  if (!text.ok()) return text.error();
  PolicyLoadResult loaded = ParsePolicy(*text, path_);
  if (!loaded.errors.empty()) return Error{JoinIssues(loaded.errors)};
  LogWarnings(loaded.warnings);
  holder_.Set(loaded.policy);
  last_content_ = std::move(*text);
  const auto current = holder_.Current();
  PublishInForce(*current);
  LogEvent(spdlog::level::info, "policy loaded",
           {{"file", path_},
            {"sha256", current->summary.sha256},
            {"rules", current->summary.rule_names}});
  return Status::Ok();
}

void PolicyFileWatcher::PublishInForce(const LoadedPolicy& current) {
  metrics_.PrepareDecisions(DecisionSeriesOf(*current.policy));
  metrics_.SetPolicyInfo(current.summary.sha256,
                         static_cast<int>(current.summary.rule_names.size()));
  metrics_.SetPolicyLastReloadSuccessful(true);
}

bool PolicyFileWatcher::Poll() {
  auto text = ReadPolicyText(files_, path_);
  if (!text.ok()) {
    // During a ConfigMap update the path may briefly not resolve; say so once, keep the policy.
    if (!last_read_failed_) {
      LogEvent(spdlog::level::warn, "policy file unreadable; keeping the policy in force",
               {{"file", path_}, {"error", text.error().message}});
      last_read_failed_ = true;
    }
    return false;
  }
  last_read_failed_ = false;
  if (last_content_ == *text) return false;
  last_content_ = *text;

  PolicyLoadResult loaded = ParsePolicy(*text, path_);
  if (!loaded.errors.empty()) {
    metrics_.CountPolicyReload(false);
    metrics_.SetPolicyLastReloadSuccessful(false);
    std::vector<std::string> errors;
    for (const auto& issue : loaded.errors) errors.push_back(issue.ToString());
    const auto current = holder_.Current();
    LogEvent(spdlog::level::err, "policy reload failed; keeping the last good policy",
             {{"file", path_},
              {"errors", errors},
              {"sha256_in_force", current ? current->summary.sha256 : std::string()}});
    return false;
  }
  LogWarnings(loaded.warnings);
  holder_.Set(loaded.policy);
  const auto current = holder_.Current();
  metrics_.CountPolicyReload(true);
  PublishInForce(*current);
  LogEvent(spdlog::level::info, "policy reloaded",
           {{"file", path_},
            {"sha256", current->summary.sha256},
            {"rules", current->summary.rule_names}});
  if (on_reloaded_) on_reloaded_();
  return true;
}

}  // namespace kca::controller
