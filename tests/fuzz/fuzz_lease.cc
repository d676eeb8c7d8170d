// libFuzzer target: the Lease the leader elector reads (coordination.k8s.io/v1, upstream
// staging/src/k8s.io/api/coordination/v1/types.go LeaseSpec), any JSON, through a real
// LeaderElector against a scripted server that answers the fuzzed Lease to GET and stores what
// is PUT. Invariants: never throws; a write holds this replica with its own duration, keeps the
// object's metadata (the resourceVersion precondition) and counts a transition exactly when the
// holder changes; another holder's lease is respected until its duration has passed on the local
// clock, then taken over; a taken lease is renewed.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "fake_api_client.h"
#include "fuzz_invariants.h"
#include "kube_csr_approver/kube/leader_elector.h"

namespace {

using kca::fuzz::Violated;
using nlohmann::json;

constexpr const char* kIdentity = "replica-a";

const json* SpecMember(const json& lease, const char* key) {
  if (!lease.is_object()) return nullptr;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return nullptr;
  auto it = spec->find(key);
  return it == spec->end() ? nullptr : &*it;
}

std::string Holder(const json& lease) {
  const json* holder = SpecMember(lease, "holderIdentity");
  return holder != nullptr && holder->is_string() ? holder->get<std::string>() : "";
}

// An integer member as a signed 64-bit count: an unsigned one past INT64_MAX saturates there
// (it is still a positive, huge number; reading it as int64 wrapped it negative).
std::int64_t Integer(const json& lease, const char* key) {
  const json* value = SpecMember(lease, key);
  if (value == nullptr || !value->is_number_integer()) return 0;
  if (value->is_number_unsigned()) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(
        value->get<std::uint64_t>(), std::numeric_limits<std::int64_t>::max()));
  }
  return value->get<std::int64_t>();
}

void CheckWrite(const json& before, const json& written) {
  if (Holder(written) != kIdentity) Violated("a write that does not hold the lease");
  if (Integer(written, "leaseDurationSeconds") != 15) Violated("a write with another duration");
  const json* renew = SpecMember(written, "renewTime");
  if (renew == nullptr || !renew->is_string()) Violated("a write without renewTime");
  if (written.value("metadata", json()) != before.value("metadata", json())) {
    Violated("a write that changed the metadata it was read with");
  }
  // leaseTransitions is an int32 >= 0 in the API (types.go): whatever was read, one is written.
  const std::int64_t written_transitions = Integer(written, "leaseTransitions");
  if (written_transitions < 0 || written_transitions > std::numeric_limits<std::int32_t>::max()) {
    Violated("a leaseTransitions out of the int32 range written");
  }
  const std::int64_t transitions = Integer(before, "leaseTransitions");
  if (transitions >= 0 && transitions < std::numeric_limits<std::int32_t>::max()) {
    const std::int64_t expected = Holder(before) == kIdentity ? transitions : transitions + 1;
    const json* read = SpecMember(before, "leaseTransitions");
    if ((read == nullptr || read->is_number_integer()) && written_transitions != expected) {
      Violated("leaseTransitions not counted as the holder changed");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  const json fetched = json::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                   nullptr, /*allow_exceptions=*/false);
  if (fetched.is_discarded()) return 0;

  kca::fuzz::FakeApiClient server;
  json stored = fetched;
  int writes = 0;
  server.get = [&](const std::string&, const json*) { return kca::kube::ApiResult<json>(stored); };
  server.update = [&](const std::string&, const json* body) {
    CheckWrite(stored, *body);
    stored = *body;
    ++writes;
    return kca::kube::ApiResult<json>(stored);
  };
  kca::fuzz::StoppedClock clock;
  kca::kube::LeaderElectionOptions options;
  options.lease_namespace = "kube-system";
  options.identity = kIdentity;
  kca::kube::LeaderElector elector(server, clock, options);

  const bool acquired = elector.TryAcquireOrRenew();
  const std::string holder = Holder(fetched);
  const std::int64_t duration = Integer(fetched, "leaseDurationSeconds");
  const bool held_by_other = fetched.is_object() && !holder.empty() && holder != kIdentity;
  if (!fetched.is_object()) {
    if (acquired || writes != 0) Violated("acquired a lease that is not an object");
    return 0;
  }
  if (held_by_other && duration > 0 && (acquired || writes != 0)) {
    Violated("took a lease another replica holds");
  }
  if (!held_by_other || duration <= 0) {
    if (!acquired || writes != 1) Violated("did not take a free lease");
  } else if (duration < 365LL * 24 * 3600) {
    // Unchanged for its whole duration: the other holder is gone.
    clock.steady += std::chrono::seconds(duration) + std::chrono::seconds(1);
    if (!elector.TryAcquireOrRenew() || writes != 1) Violated("did not take an expired lease");
  } else {
    return 0;
  }
  clock.steady += std::chrono::seconds(2);
  if (!elector.TryAcquireOrRenew() || writes != 2) Violated("did not renew its lease");
  if (!elector.IsLeader()) Violated("not leading after a renewal");
  return 0;
}
