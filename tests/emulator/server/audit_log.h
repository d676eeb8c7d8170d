// The emulator's audit log of write requests (GET /emulator/v1/audit): who wrote what, the answer,
// and which Lease holders were in force at that moment, so a test can prove that only the leader
// of the time wrote (tests/soak). Writes are create, update, patch, delete and deletecollection on
// resources, refused ones included; reads are only counted (/emulator/v1/requests).
// "At that moment" is exact for accepted writes: the store's one global revision orders every
// commit, so the Leases in force for a write committed at revision R are their last versions
// committed below R. A refused write is placed at the store revision current when it was answered.
// Thread-safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "store.h"

namespace kca::emulator {

struct AuditedWrite {
  std::string user;          // the effective user (after impersonation)
  std::string impersonator;  // the authenticated user when impersonating, else empty
  std::string verb;          // create, update, patch, delete, deletecollection
  std::string target;        // path and query as received
  std::string resource;      // the store's "group/resource" key, e.g. "coordination.k8s.io/leases"
  int code = 0;
  const Json* response_object = nullptr;  // the object answered for a 2xx (read for its revision)
  uint64_t store_revision = 0;            // the store's revision when answered
};

class AuditLog {
 public:
  explicit AuditLog(size_t capacity) : capacity_(capacity) {}

  void Record(const AuditedWrite& write);
  // {"entries": [{"time","user","impersonator"?,"verb","path","code","resourceVersion",
  //   "leases": [{"namespace","name","holderIdentity","renewTime","acquireTime",
  //   "leaseDurationSeconds","leaseTransitions","resourceVersion","writtenBy"}]}], "dropped": N}
  Json Dump() const;
  void Clear();

 private:
  struct Entry {
    std::string time;
    std::string user, impersonator, verb, target;
    int code = 0;
    uint64_t revision = 0;  // committed revision (accepted) or the store's (refused)
    bool committed = false;
  };
  struct LeaseVersion {
    Json spec;  // null once deleted
    std::string written_by;
  };

  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // GUARDED_BY(mu_)
  uint64_t dropped_ = 0;       // GUARDED_BY(mu_)
  // "namespace/name" -> revision -> the Lease as committed at that revision.
  std::map<std::string, std::map<uint64_t, LeaseVersion>> leases_;  // GUARDED_BY(mu_)
};

}  // namespace kca::emulator
