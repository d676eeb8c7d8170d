// The policy in force, shared by the workers, and the watcher that reloads it when the file
// changes (a ConfigMap volume swaps a `..data` symlink, so the content is compared, not inodes).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/kube/files.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/observability/metrics.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca::controller {

// An immutable loaded policy with its summary (digest for audit lines and policy_info).
struct LoadedPolicy {
  std::shared_ptr<const Policy> policy;
  PolicySummary summary;
};

// Holds the current policy. Readers take a snapshot (a shared_ptr) and use it for a whole
// decision, so a reload never changes the rules in the middle of one.
// Thread-safety: every method may be called from any thread.
class PolicyHolder {
 public:
  // Null until the first Set().
  std::shared_ptr<const LoadedPolicy> Current() const;
  void Set(std::shared_ptr<const Policy> policy);

 private:
  mutable Mutex mutex_;
  std::shared_ptr<const LoadedPolicy> current_ KCA_GUARDED_BY(mutex_);
};

// Reads the policy file into a PolicyHolder at start-up and whenever its content changes.
// A broken new version keeps the last good policy, logs every loader error and counts
// policy_reloads_total{result="failure"} once per distinct broken content and sets
// policy_last_reload_successful to 0; a good one replaces it, counts a success, sets policy_info,
// the decisions_total zero series and policy_last_reload_successful to 1, and calls `on_reloaded`
// (the controller re-queues every pending CSR so old requests see the new rules). Thread-safety:
// LoadInitial() then Poll() from one thread (the controller's maintenance loop). `holder` and
// `metrics` must outlive the watcher.
class PolicyFileWatcher {
 public:
  // The file is read through `files`, which must outlive the watcher.
  PolicyFileWatcher(std::string path, PolicyHolder& holder, ApproverMetrics& metrics,
                    std::function<void()> on_reloaded = nullptr,
                    const kube::FileReader& files = kube::LocalFiles());

  // The first load. Error: every loader problem, one per line ("FILE:LINE:COL: PATH: MESSAGE"),
  // for `run` to print before exiting non-zero. Warnings are logged.
  Status LoadInitial();

  // Re-reads the file; reloads when its content differs from the last content seen.
  // Returns true when a new policy was put in force.
  bool Poll();

  // Sets the callback run after each successful reload (not after LoadInitial).
  void set_on_reloaded(std::function<void()> on_reloaded) { on_reloaded_ = std::move(on_reloaded); }

 private:
  // policy_info, the zero decisions_total series and policy_last_reload_successful=1.
  void PublishInForce(const LoadedPolicy& current);

  const std::string path_;
  const kube::FileReader& files_;
  PolicyHolder& holder_;
  ApproverMetrics& metrics_;
  std::function<void()> on_reloaded_;
  std::optional<std::string> last_content_;  // what the last Poll() read (good or broken)
  bool last_read_failed_ = false;
};

}  // namespace kca::controller
