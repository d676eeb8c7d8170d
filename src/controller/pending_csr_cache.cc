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

PendingCsrCache::PendingCsrCache(const Clock& clock) : clock_(clock) {}

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
    auto created = kube::ParseRfc3339(csr.creation_timestamp);
    PendingCsr pending{std::move(csr), clock_.SteadyNow(), created};
    pending_.emplace(pending.csr.name, std::move(pending));
    return UpsertResult::kAdded;
  }
  PendingCsr& cached = it->second;
  if (cached.csr.uid != csr.uid) {
    // Deleted and created again under the same name while we were not watching.
    auto created = kube::ParseRfc3339(csr.creation_timestamp);
    it->second = PendingCsr{std::move(csr), clock_.SteadyNow(), created};
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
  return it->second;
}

bool PendingCsrCache::Contains(const std::string& name) const {
  MutexLock lock(mutex_);
  return pending_.contains(name);
}

void PendingCsrCache::ForEach(const std::function<void(const PendingCsr&)>& visit) const {
  MutexLock lock(mutex_);
  for (const auto& [name, pending] : pending_) visit(pending);
}

std::vector<PendingCsrCache::Key> PendingCsrCache::Keys() const {
  MutexLock lock(mutex_);
  std::vector<Key> keys;
  keys.reserve(pending_.size());
  for (const auto& [name, pending] : pending_) keys.push_back({name, pending.csr.username});
  return keys;
}

std::size_t PendingCsrCache::size() const {
  MutexLock lock(mutex_);
  return pending_.size();
}

}  // namespace kca::controller
