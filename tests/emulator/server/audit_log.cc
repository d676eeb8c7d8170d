#include "audit_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace kca::emulator {
namespace {

constexpr const char* kLeases = "coordination.k8s.io/leases";

// RFC 3339 with microseconds, like a Lease's MicroTime, so entries compare with renewTime.
std::string NowMicros() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(micros % 1000000));
  return text;
}

uint64_t ObjectRevision(const Json* object) {
  if (object == nullptr || !object->is_object()) return 0;
  const auto meta = object->find("metadata");
  if (meta == object->end() || !meta->is_object()) return 0;
  const auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return 0;
  try {
    return std::stoull(rv->get<std::string>());
  } catch (const std::exception&) {
    return 0;
  }
}

// Leases are stored as sent (only two numbers are validated): read their fields defensively.
Json StringField(const Json& spec, const char* name) {
  const auto it = spec.find(name);
  return it != spec.end() && it->is_string() ? *it : Json("");
}
Json NumberField(const Json& spec, const char* name) {
  const auto it = spec.find(name);
  return it != spec.end() && it->is_number_integer() ? *it : Json(0);
}

}  // namespace

void AuditLog::Record(const AuditedWrite& write) {
  Entry entry;
  entry.time = NowMicros();
  entry.user = write.user;
  entry.impersonator = write.impersonator;
  entry.verb = write.verb;
  entry.target = write.target;
  entry.code = write.code;
  const bool accepted = write.code >= 200 && write.code < 300;
  const uint64_t committed = accepted ? ObjectRevision(write.response_object) : 0;
  entry.committed = committed != 0;
  entry.revision = entry.committed ? committed : write.store_revision;

  std::lock_guard lock(mu_);
  // A create names the Lease in its body, not in its path: take the name from the stored object.
  const Json* meta = nullptr;
  if (entry.committed) {
    const auto found = write.response_object->find("metadata");
    if (found != write.response_object->end() && found->is_object()) meta = &*found;
  }
  if (meta != nullptr && write.resource == kLeases) {
    const std::string ns = StringField(*meta, "namespace").get<std::string>();
    const std::string name = StringField(*meta, "name").get<std::string>();
    LeaseVersion version;
    const auto spec = write.response_object->find("spec");
    if (write.verb != "delete") {
      version.spec =
          spec != write.response_object->end() && spec->is_object() ? *spec : Json::object();
    }
    version.written_by = write.user;
    leases_[ns + "/" + name][committed] = std::move(version);
  }
  entries_.push_back(std::move(entry));
  while (entries_.size() > capacity_) {
    entries_.pop_front();
    ++dropped_;
  }
}

Json AuditLog::Dump() const {
  std::lock_guard lock(mu_);
  Json entries = Json::array();
  for (const Entry& entry : entries_) {
    Json leases = Json::array();
    for (const auto& [key, versions] : leases_) {
      // The last version committed before this write (a refused write: at or before its revision).
      auto after = entry.committed ? versions.lower_bound(entry.revision)
                                   : versions.upper_bound(entry.revision);
      if (after == versions.begin()) continue;
      const auto& [revision, version] = *std::prev(after);
      if (version.spec.is_null()) continue;
      const size_t slash = key.find('/');
      leases.push_back({{"namespace", key.substr(0, slash)},
                        {"name", key.substr(slash + 1)},
                        {"holderIdentity", StringField(version.spec, "holderIdentity")},
                        {"renewTime", StringField(version.spec, "renewTime")},
                        {"acquireTime", StringField(version.spec, "acquireTime")},
                        {"leaseDurationSeconds", NumberField(version.spec, "leaseDurationSeconds")},
                        {"leaseTransitions", NumberField(version.spec, "leaseTransitions")},
                        {"resourceVersion", std::to_string(revision)},
                        {"writtenBy", version.written_by}});
    }
    Json out = {{"time", entry.time}, {"user", entry.user}};
    if (!entry.impersonator.empty()) out["impersonator"] = entry.impersonator;
    out["verb"] = entry.verb;
    out["path"] = entry.target;
    out["code"] = entry.code;
    out["resourceVersion"] = entry.committed ? std::to_string(entry.revision) : "";
    out["leases"] = std::move(leases);
    entries.push_back(std::move(out));
  }
  return {{"entries", std::move(entries)}, {"dropped", dropped_}};
}

void AuditLog::Clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  leases_.clear();
  dropped_ = 0;
}

}  // namespace kca::emulator
