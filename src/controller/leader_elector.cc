#include "kube_csr_approver/controller/leader_elector.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "kube_csr_approver/logging.h"
#include "time_format.h"

namespace kca::controller {
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

int64_t IntField(const nlohmann::json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
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

LeaderElector::LeaderElector(kube::ApiClient& client, const Clock& clock, ApproverMetrics* metrics,
                             LeaderElectionOptions options, Callbacks callbacks)
    : client_(client),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

std::string LeaderElector::LeasePath() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases/" +
         options_.lease_name;
}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(mutex_);
  return leading_ && clock_.SteadyNow() - renewed_at_ < options_.renew_deadline;
}

bool LeaderElector::TryAcquireOrRenew(const kube::Cancellation* cancel) {
  const auto attempt_start = clock_.SteadyNow();
  const std::string now = FormatMicroTime(clock_.WallNow());
  const int64_t duration_seconds = WholeSeconds(options_.lease_duration);

  auto fetched = client_.Get(LeasePath(), cancel);
  if (!fetched.ok()) {
    if (!fetched.error().not_found()) {
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
    if (!created.ok()) return false;  // 409: another replica created it first
    held_lease_ = *created;
    observed_spec_ = RecordOf(held_lease_);
    observed_at_ = clock_.SteadyNow();
    std::lock_guard lock(mutex_);
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
    std::lock_guard lock(mutex_);
    leading_ = false;  // someone else holds a valid lease: we cannot be leading
    return false;
  }

  nlohmann::json spec = lease.contains("spec") && lease["spec"].is_object()
                            ? lease["spec"]
                            : nlohmann::json::object();
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = now;
  if (!held_by_me) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = IntField(record, "leaseTransitions") + 1;
  }
  lease["spec"] = spec;
  auto updated = client_.Update(LeasePath(), lease, cancel);
  if (!updated.ok()) {
    if (!updated.error().conflict() && !updated.error().canceled()) {
      spdlog::warn("leader election: updating Lease {} failed: {}", LeasePath(),
                   updated.error().message);
    }
    return false;
  }
  held_lease_ = *updated;
  observed_spec_ = RecordOf(held_lease_);
  observed_at_ = clock_.SteadyNow();
  std::lock_guard lock(mutex_);
  leading_ = true;
  renewed_at_ = attempt_start;
  return true;
}

void LeaderElector::Release(const kube::Cancellation* cancel) {
  {
    std::lock_guard lock(mutex_);
    if (!leading_) return;
    leading_ = false;  // before the write: nothing may be written once the lease is given up
  }
  if (metrics_ != nullptr) metrics_->SetLeader(false);
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

void LeaderElector::SetLeading(bool leading) {
  if (metrics_ != nullptr) metrics_->SetLeader(leading);
  LogEvent(spdlog::level::info,
           leading ? "leader election: became the leader" : "leader election: stopped leading",
           {{"lease", LeasePath()}, {"identity", options_.identity}});
  const auto& callback = leading ? callbacks_.started_leading : callbacks_.stopped_leading;
  if (callback) callback();
}

void LeaderElector::Run(const kube::Cancellation& stop) {
  std::uniform_real_distribution<double> spread(0.0, options_.jitter_factor);
  while (!stop.cancelled()) {
    // Acquire: retry every retry_period stretched by up to jitter_factor (client-go JitterUntil).
    while (!stop.cancelled() && !TryAcquireOrRenew(&stop)) {
      const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
          options_.retry_period * (1.0 + spread(random_)));
      stop.SleepFor(wait);
    }
    if (stop.cancelled()) break;
    SetLeading(true);
    // Renew every retry_period until the gate closes (renew_deadline without success).
    while (stop.SleepFor(options_.retry_period)) {
      TryAcquireOrRenew(&stop);
      if (!IsLeader()) break;
    }
    if (stop.cancelled()) break;
    {
      std::lock_guard lock(mutex_);
      leading_ = false;
    }
    held_lease_ = nullptr;
    SetLeading(false);
  }
  // `stop` is cancelled by now and the release must still be sent, but shutdown must not hang
  // on an unreachable API server: give it kReleaseTimeout.
  kube::Cancellation release_cancel, released;
  std::thread deadline([&] {
    if (released.SleepFor(kReleaseTimeout)) release_cancel.Cancel();
  });
  Release(&release_cancel);
  released.Cancel();
  deadline.join();
}

}  // namespace kca::controller
