#include "kube_csr_approver/kube/leader_elector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <thread>

#include "kube_csr_approver/observability/logging.h"
#include "time_format.h"

namespace kca::kube {
namespace {

// How long a shutting-down leader tries to hand its Lease over (the process must exit within 5 s).
constexpr auto kReleaseTimeout = std::chrono::milliseconds(1500);

int64_t WholeSeconds(std::chrono::milliseconds duration) {
  return std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

// The record fields that make up the lease's state, whatever else the object carries.
nlohmann::json RecordOf(const nlohmann::json& lease) {
  const nlohmann::json spec = lease.contains("spec") && lease["spec"].is_object()
                                  ? lease["spec"]
                                  : nlohmann::json::object();
  nlohmann::json record = nlohmann::json::object();
  for (const char* key :
       {"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions"}) {
    if (spec.contains(key)) record[key] = spec[key];
  }
  return record;
}

std::string StringField(const nlohmann::json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An int32 field of the record (leaseDurationSeconds, leaseTransitions are *int32 upstream:
// staging/src/k8s.io/api/coordination/v1/types.go), clamped into [0, INT32_MAX]; 0 when absent or
// not an integer. Unclamped, a huge duration overflowed the time arithmetic (and a lease another
// replica held looked expired).
int64_t IntField(const nlohmann::json& record, const char* key) {
  auto it = record.find(key);
  if (it == record.end() || !it->is_number_integer()) return 0;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (it->is_number_unsigned()) return std::min<uint64_t>(it->get<uint64_t>(), kMax);
  return std::clamp<int64_t>(it->get<int64_t>(), 0, kMax);
}

}  // namespace

Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options) {
  if (options.lease_namespace.empty()) {
    return Error{
        "leader election: --leader-election-namespace is required (the namespace the "
        "controller runs in, where its Lease lives)"};
  }
  if (options.lease_name.empty()) return Error{"leader election: --leader-election-id is empty"};
  if (options.identity.empty()) {
    return Error{"leader election: no identity for this replica (set POD_NAME or the hostname)"};
  }
  if (options.retry_period.count() <= 0 || options.jitter_factor < 1.0) {
    return Error{"leader election: the retry period must be positive and the jitter >= 1"};
  }
  if (options.lease_duration <= options.renew_deadline) {
    return Error{"leader election: the lease duration must be greater than the renew deadline"};
  }
  if (static_cast<double>(options.renew_deadline.count()) <=
      options.jitter_factor * static_cast<double>(options.retry_period.count())) {
    return Error{"leader election: the renew deadline must be greater than retry period * " +
                 std::to_string(options.jitter_factor)};
  }
  return Status::Ok();
}

ApiClientOptions LeaderElectionClientOptions(const LeaderElectionOptions& election,
                                             ApiClientOptions base) {
  base.qps = 5;
  base.burst = 10;
  base.max_attempts = 1;
  const auto deadline_seconds = std::chrono::ceil<std::chrono::seconds>(election.renew_deadline);
  base.request_timeout =
      std::clamp(deadline_seconds, std::chrono::seconds(1), base.request_timeout);
  return base;
}

LeaderElector::LeaderElector(ApiClient& client, const Clock& clock, LeaderElectionOptions options,
                             Callbacks callbacks)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

std::string LeaderElector::LeasePath() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases/" +
         options_.lease_name;
}

bool LeaderElector::IsLeader() const {
  MutexLock lock(mutex_);
  return IsLeaderLocked();
}

bool LeaderElector::IsLeaderLocked() const {
  return leading_ && clock_.SteadyNow() < renewed_at_ + options_.renew_deadline;
}

std::string LeaderElector::ObservedHolder() const {
  MutexLock lock(mutex_);
  return observed_holder_;
}

void LeaderElector::ObserveHolder(const std::string& holder) {
  {
    MutexLock lock(mutex_);
    observed_holder_ = holder;
  }
  if (holder == reported_holder_) return;
  reported_holder_ = holder;
  if (holder.empty() || holder == options_.identity) return;
  LogEvent(spdlog::level::info, "leader election: waiting for the Lease, held by another replica",
           {{"lease", LeasePath()}, {"holder", holder}, {"identity", options_.identity}});
  if (callbacks_.new_leader) callbacks_.new_leader(holder);
}

bool LeaderElector::TryAcquireOrRenew(const Cancellation* cancel) {
  const auto attempt_start = clock_.SteadyNow();
  const std::string now = FormatMicroTime(clock_.WallNow());
  const int64_t duration_seconds = WholeSeconds(options_.lease_duration);

  auto fetched = client_.Get(LeasePath(), cancel);
  if (!fetched.ok()) {
    if (fetched.error().code != ApiErrorCode::kNotFound) {
      spdlog::warn("leader election: reading Lease {} failed: {}", LeasePath(),
                   fetched.error().message);
      return false;
    }
    nlohmann::json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
        {"spec",
         {{"holderIdentity", options_.identity},
          {"leaseDurationSeconds", duration_seconds},
          {"acquireTime", now},
          {"renewTime", now},
          {"leaseTransitions", 0}}}};
    auto created = client_.Create(
        "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases", lease,
        cancel);
    if (!created.ok()) {
      const ApiErrorCode code = created.error().code;
      // AlreadyExists: another replica created it first, which the next attempt reads.
      if (code != ApiErrorCode::kAlreadyExists && code != ApiErrorCode::kConflict &&
          code != ApiErrorCode::kCanceled) {
        spdlog::warn("leader election: creating Lease {} failed: {}", LeasePath(),
                     created.error().message);
      }
      return false;
    }
    held_lease_ = *created;
    ObserveHolder(options_.identity);
    observed_spec_ = RecordOf(held_lease_);
    observed_at_ = clock_.SteadyNow();
    MutexLock lock(mutex_);
    leading_ = true;
    renewed_at_ = attempt_start;
    return true;
  }

  nlohmann::json lease = std::move(*fetched);
  if (!lease.is_object()) {
    spdlog::warn("leader election: Lease {} read back as a JSON {}, not an object", LeasePath(),
                 lease.type_name());
    return false;
  }
  const nlohmann::json record = RecordOf(lease);
  if (record != observed_spec_) {
    observed_spec_ = record;
    observed_at_ = clock_.SteadyNow();
  }
  const std::string holder = StringField(record, "holderIdentity");
  const bool held_by_me = holder == options_.identity;
  const auto their_duration = std::chrono::seconds(IntField(record, "leaseDurationSeconds"));
  if (!holder.empty() && !held_by_me && clock_.SteadyNow() < observed_at_ + their_duration) {
    ObserveHolder(holder);
    MutexLock lock(mutex_);
    leading_ = false;  // someone else holds a valid lease: we cannot be leading
    return false;
  }

  nlohmann::json spec = lease.contains("spec") && lease["spec"].is_object()
                            ? lease["spec"]
                            : nlohmann::json::object();
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = now;
  // Always written, as client-go's LeaderElectionRecordToLeaseSpec does, and so always in the
  // int32 range whatever the server sent (a renewal copied an out-of-range value back).
  const int64_t transitions = IntField(record, "leaseTransitions");
  spec["leaseTransitions"] =
      held_by_me ? transitions
                 : std::min<int64_t>(transitions + 1, std::numeric_limits<int32_t>::max());
  if (!held_by_me) spec["acquireTime"] = now;
  lease["spec"] = spec;
  auto updated = client_.Update(LeasePath(), lease, cancel);
  if (!updated.ok()) {
    if (updated.error().code != ApiErrorCode::kConflict &&
        updated.error().code != ApiErrorCode::kCanceled) {
      spdlog::warn("leader election: updating Lease {} failed: {}", LeasePath(),
                   updated.error().message);
    }
    return false;
  }
  held_lease_ = *updated;
  ObserveHolder(options_.identity);
  observed_spec_ = RecordOf(held_lease_);
  observed_at_ = clock_.SteadyNow();
  MutexLock lock(mutex_);
  leading_ = true;
  renewed_at_ = attempt_start;
  return true;
}

void LeaderElector::Release(const Cancellation* cancel) {
  {
    MutexLock lock(mutex_);
    if (!leading_) return;
    leading_ = false;  // before the write: nothing may be written once the lease is given up
  }
  ReportLeading(false);
  if (!held_lease_.is_object()) return;  // none, or the server answered with something else
  nlohmann::json lease = held_lease_;
  if (!lease["spec"].is_object()) lease["spec"] = nlohmann::json::object();
  const std::string now = FormatMicroTime(clock_.WallNow());
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = now;
  lease["spec"]["acquireTime"] = now;
  auto released = client_.Update(LeasePath(), lease, cancel);
  if (released.ok()) {
    LogEvent(spdlog::level::info, "leader election: lease released", {{"lease", LeasePath()}});
  } else {
    spdlog::warn("leader election: releasing Lease {} failed: {}", LeasePath(),
                 released.error().message);
  }
  held_lease_ = nullptr;
}

void LeaderElector::ReportLeading(bool leading) {
  MutexLock lock(report_mutex_);
  if (reported_leading_ == leading) return;
  reported_leading_ = leading;
  LogEvent(spdlog::level::info,
           leading ? "leader election: became the leader" : "leader election: stopped leading",
           {{"lease", LeasePath()}, {"identity", options_.identity}});
  const auto& callback = leading ? callbacks_.started_leading : callbacks_.stopped_leading;
  if (callback) callback();
}

bool LeaderElector::Attempt(const Cancellation& stop) {
  Cancellation attempt;
  auto forward_stop = stop.OnCancel([&attempt] { attempt.Cancel(); });
  {
    MutexLock lock(mutex_);
    // A leader's attempt ends when its lead lapses; anyone else's after renew_deadline.
    attempt_deadline_ = (leading_ ? renewed_at_ : clock_.SteadyNow()) + options_.renew_deadline;
    attempt_ = &attempt;
    ++attempt_number_;
    WakeWatchdogLocked();
  }
  const bool held = TryAcquireOrRenew(&attempt);
  MutexLock lock(mutex_);
  attempt_ = nullptr;
  WakeWatchdogLocked();  // a renewal moved the lead's deadline
  return held;
}

void LeaderElector::WakeWatchdogLocked() {
  ++watchdog_changes_;
  watchdog_wake_.notify_all();
}

void LeaderElector::Watchdog() {
  std::uint64_t cancelled_attempt = 0;  // attempt numbers start at 1
  MutexLock lock(mutex_);
  while (!watchdog_done_) {
    const auto now = clock_.SteadyNow();
    if (attempt_ != nullptr && attempt_number_ != cancelled_attempt && now >= attempt_deadline_) {
      attempt_->Cancel();
      cancelled_attempt = attempt_number_;
    }
    // Sleeps until the next deadline on the clock: the attempt's, or the lead's.
    std::optional<std::chrono::steady_clock::time_point> wake;
    if (attempt_ != nullptr && attempt_number_ != cancelled_attempt) wake = attempt_deadline_;
    if (IsLeaderLocked()) {
      const auto lead_ends = renewed_at_ + options_.renew_deadline;
      wake = wake ? std::min(*wake, lead_ends) : lead_ends;
    } else {
      // The elector's thread may still be inside the request: say so now, not when it returns.
      const std::uint64_t seen = watchdog_changes_;
      lock.Unlock();
      ReportLeading(false);
      lock.Lock();
      if (watchdog_changes_ != seen) continue;  // the state moved meanwhile: look again
    }
    if (watchdog_done_) break;
    if (wake) {
      clock_.WaitUntil(lock, watchdog_wake_, *wake);
    } else {
      lock.Wait(watchdog_wake_);
    }
  }
}

void LeaderElector::Run(const Cancellation& stop) {
  {
    MutexLock lock(mutex_);
    watchdog_done_ = false;
  }
  std::thread watchdog([this] { Watchdog(); });
  std::uniform_real_distribution<double> spread(0.0, options_.jitter_factor);
  while (!stop.cancelled()) {
    // Acquire: retry every retry_period stretched by up to jitter_factor (client-go JitterUntil).
    while (!stop.cancelled() && !Attempt(stop)) {
      const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
          options_.retry_period * (1.0 + spread(random_)));
      stop.SleepFor(clock_, wait);
    }
    if (stop.cancelled()) break;
    ReportLeading(true);
    // Renew every retry_period until the lead lapses (renew_deadline without success).
    while (stop.SleepFor(clock_, options_.retry_period)) {
      Attempt(stop);
      if (!IsLeader()) break;
      ReportLeading(true);  // after the watchdog reported a lapse that a late renewal undid
    }
    if (stop.cancelled()) break;
    {
      MutexLock lock(mutex_);
      leading_ = false;
    }
    held_lease_ = nullptr;
    ReportLeading(false);
  }
  {
    MutexLock lock(mutex_);
    watchdog_done_ = true;
    WakeWatchdogLocked();
  }
  watchdog.join();
  // `stop` is cancelled by now and the release must still be sent, but shutdown must not hang
  // on an unreachable API server: give it kReleaseTimeout.
  Cancellation release_cancel, released;
  std::thread deadline([&] {
    if (released.SleepFor(clock_, kReleaseTimeout)) release_cancel.Cancel();
  });
  Release(&release_cancel);
  released.Cancel();
  deadline.join();
}

}  // namespace kca::kube
