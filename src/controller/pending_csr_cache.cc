#include "kube_csr_approver/controller/pending_csr_cache.h"

#include <algorithm>
#include <utility>

#include "kube_csr_approver/kube/rfc3339.h"

namespace kca::controller {

bool IsDecided(const CsrObject& csr) {
  if (csr.has_certificate) return true;
  return std::any_of(csr.conditions.begin(), csr.conditions.end(), [](const CsrCondition& c) {
    return c.status == "True" && (c.type == "Approved" || c.type == "Denied" || c.type == "Failed");
  });
}

PendingCsrCache::PendingCsrCache(const Clock& clock, SignerLabeler initial_signer_label)
    : clock_(clock), initial_signer_label_(std::move(initial_signer_label)) {}

PendingCsrCache::UpsertResult PendingCsrCache::Upsert(CsrObject csr) {
  MutexLock lock(mutex_);
  auto it = pending_.find(csr.name);
  if (IsDecided(csr)) {
    if (it == pending_.end()) return UpsertResult::kIgnored;
    pending_.erase(it);
    return UpsertResult::kRemoved;
  }
  if (auto decided = decided_uid_by_name_.find(csr.name); decided != decided_uid_by_name_.end()) {
    // Same uid: a stale copy of a CSR we decided. Another uid: the name was reused.
    if (decided->second == csr.uid) return UpsertResult::kIgnored;
    decided_uid_by_name_.erase(decided);
  }
  if (it == pending_.end()) {
    std::string label = initial_signer_label_(csr);
    auto created = kube::ParseRfc3339(csr.creation_timestamp);
    Entry entry{PendingCsr{std::move(csr), clock_.SteadyNow(), created, std::move(label)}, {}};
    pending_.emplace(entry.pending.csr.name, std::move(entry));
    return UpsertResult::kAdded;
  }
  PendingCsr& cached = it->second.pending;
  if (cached.csr.uid != csr.uid) {
    // Deleted and created again under the same name while we were not watching.
    std::string label = initial_signer_label_(csr);
    auto created = kube::ParseRfc3339(csr.creation_timestamp);
    it->second =
        Entry{PendingCsr{std::move(csr), clock_.SteadyNow(), created, std::move(label)}, {}};
    return UpsertResult::kChanged;
  }
  if (cached.csr.resource_version == csr.resource_version) return UpsertResult::kUnchanged;
  cached.csr = std::move(csr);
  return UpsertResult::kChanged;
}

void PendingCsrCache::Remove(const std::string& name) {
  MutexLock lock(mutex_);
  pending_.erase(name);
  decided_uid_by_name_.erase(name);
}

void PendingCsrCache::MarkDecided(const std::string& name, const std::string& uid) {
  MutexLock lock(mutex_);
  pending_.erase(name);
  decided_uid_by_name_[name] = uid;
}

std::optional<PendingCsr> PendingCsrCache::Get(const std::string& name) const {
  MutexLock lock(mutex_);
  auto it = pending_.find(name);
  if (it == pending_.end()) return std::nullopt;
  return it->second.pending;
}

std::vector<PendingCsrCache::Key> PendingCsrCache::Keys() const {
  MutexLock lock(mutex_);
  std::vector<Key> keys;
  keys.reserve(pending_.size());
  for (const auto& [name, entry] : pending_) keys.push_back({name, entry.pending.csr.username});
  return keys;
}

std::size_t PendingCsrCache::size() const {
  MutexLock lock(mutex_);
  return pending_.size();
}

void PendingCsrCache::SetSignerLabel(const std::string& name, const std::string& label) {
  MutexLock lock(mutex_);
  if (auto it = pending_.find(name); it != pending_.end()) it->second.pending.signer_label = label;
}

bool PendingCsrCache::MarkAudited(const std::string& name, const std::string& policy_sha256) {
  MutexLock lock(mutex_);
  auto it = pending_.find(name);
  if (it == pending_.end()) return true;  // not cached (e.g. read fresh): audit it
  if (it->second.audited_policy_sha256 == policy_sha256) return false;
  it->second.audited_policy_sha256 = policy_sha256;
  return true;
}

std::map<std::string, ApproverMetrics::PendingBySigner> PendingCsrCache::PendingBySigner() const {
  const auto now = clock_.SteadyNow();
  const auto wall_now = clock_.WallNow();
  MutexLock lock(mutex_);
  std::map<std::string, ApproverMetrics::PendingBySigner> by_signer;
  for (const auto& [name, entry] : pending_) {
    auto& gauge = by_signer[entry.pending.signer_label];
    gauge.count += 1;
    const double age =
        entry.pending.created
            ? std::max(0.0,
                       std::chrono::duration<double>(wall_now - *entry.pending.created).count())
            : std::chrono::duration<double>(now - entry.pending.first_seen).count();
    gauge.oldest_age_seconds = std::max(gauge.oldest_age_seconds, age);
  }
  return by_signer;
}

}  // namespace kca::controller
