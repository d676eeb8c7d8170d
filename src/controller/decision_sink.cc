#include "kube_csr_approver/controller/decision_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/observability/logging.h"
#include "time_format.h"

namespace kca::controller {
namespace {

// Object names are DNS subdomains: at most 253 characters.
constexpr std::size_t kMaxNameLength = 253;

std::string EventName(const std::string& csr_name, std::chrono::system_clock::time_point now) {
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), ".%llx", static_cast<unsigned long long>(nanos));
  const std::size_t room = kMaxNameLength - std::char_traits<char>::length(suffix);
  return csr_name.substr(0, room) + suffix;
}

std::string RuleLabel(const Decision& decision) {
  return decision.rule ? *decision.rule : std::string("none");
}

std::string_view WriteFailureMessage(WriteFailure failure) {
  switch (failure) {
    case WriteFailure::kForbidden:
      return "approval forbidden: grant patch on certificatesigningrequests/approval and approve "
             "on signers for this signerName";
    case WriteFailure::kConflict:
      return "approval write kept conflicting; will retry";
    case WriteFailure::kParse:
      return "CSR read from the API server does not decode; will retry";
    case WriteFailure::kApi:
      break;
  }
  return "approval write failed; will retry";
}

}  // namespace

nlohmann::json AuditFields(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision) {
  nlohmann::json fields = {{"csr", csr.name},
                           {"uid", csr.uid},
                           {"requestor", csr.username},
                           {"groups", csr.groups},
                           {"signer", csr.signer_name},
                           {"usages", csr.usages},
                           {"rule", decision.rule ? nlohmann::json(*decision.rule) : nullptr},
                           {"decision", ActionName(decision.action)},
                           {"reasons", decision.reasons}};
  fields["expiration_seconds"] =
      csr.expiration_seconds ? nlohmann::json(*csr.expiration_seconds) : nullptr;
  if (facts.ok()) {
    fields["subject"] = SubjectToString(*facts);
    std::vector<std::string> ips;
    for (const auto& ip : facts->sans.ip_addresses) ips.push_back(ip.ToString());
    fields["sans"] = {{"dns", facts->sans.dns_names},
                      {"ip", ips},
                      {"email", facts->sans.email_addresses},
                      {"uri", facts->sans.uris},
                      {"other", facts->sans.other}};
    fields["key"] = KeyToString(facts->key);
  } else {
    fields["request_error"] = facts.error().message;
  }
  return fields;
}

nlohmann::json MakeDecisionEvent(const CsrObject& csr, const Decision& decision,
                                 const kube::EventRecorderOptions& options,
                                 std::chrono::system_clock::time_point now) {
  const bool approve = decision.action == Action::kApprove;
  nlohmann::json regarding = {{"apiVersion", "certificates.k8s.io/v1"},
                              {"kind", "CertificateSigningRequest"},
                              {"name", csr.name}};
  if (!csr.uid.empty()) regarding["uid"] = csr.uid;
  return {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", EventName(csr.name, now)}, {"namespace", options.event_namespace}}},
      {"regarding", std::move(regarding)},
      {"reason", approve ? "AutoApproved" : "AutoDenied"},
      {"action", approve ? "Approve" : "Deny"},
      {"note", DecisionMessage(decision)},
      {"type", approve ? "Normal" : "Warning"},
      {"reportingController", kReportingController},
      {"reportingInstance", options.reporting_instance},
      {"eventTime", FormatMicroTime(now)}};
}

std::map<std::string, ApproverMetrics::PendingBySigner> PendingGauges(
    const PendingCsrCache& cache, const std::function<std::string(const CsrObject&)>& signer_label,
    const Clock& clock) {
  const auto now = clock.SteadyNow();
  const auto wall_now = clock.WallNow();
  std::map<std::string, ApproverMetrics::PendingBySigner> by_signer;
  cache.ForEach([&](const PendingCsr& pending) {
    auto& gauge = by_signer[signer_label(pending.csr)];
    gauge.count += 1;
    const double age =
        pending.created
            ? std::max(0.0, std::chrono::duration<double>(wall_now - *pending.created).count())
            : std::chrono::duration<double>(now - pending.first_seen).count();
    gauge.oldest_age_seconds = std::max(gauge.oldest_age_seconds, age);
  });
  return by_signer;
}

DecisionSink::DecisionSink(ApproverMetrics& metrics, const Clock& clock,
                           kube::EventRecorder* events)
    : metrics_(metrics), clock_(clock), events_(events) {}

void DecisionSink::Written(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision, const LoadedPolicy& policy,
                           std::chrono::steady_clock::time_point first_seen) {
  metrics_.CountDecision(decision.action, RuleLabel(decision), decision.signer_label);
  metrics_.ObserveDecisionLatency(
      decision.action, std::chrono::duration<double>(clock_.SteadyNow() - first_seen).count());
  nlohmann::json fields = AuditFields(csr, facts, decision);
  fields["dry_run"] = false;
  fields["policy_sha256"] = policy.summary.sha256;
  LogAudit("csr decided", std::move(fields));
  if (events_ != nullptr) {
    events_->RecordIfRoom(
        [&] { return MakeDecisionEvent(csr, decision, events_->options(), clock_.WallNow()); });
  }
}

bool DecisionSink::Audited(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision, const LoadedPolicy& policy, bool dry_run) {
  {
    std::lock_guard lock(audit_mutex_);
    AuditMark& mark = audited_[csr.name];
    if (mark.uid == csr.uid && mark.policy_sha256 == policy.summary.sha256) return false;
    mark = AuditMark{csr.uid, policy.summary.sha256};
  }
  metrics_.CountDecision(decision.action, RuleLabel(decision), decision.signer_label);
  nlohmann::json fields = AuditFields(csr, facts, decision);
  fields["dry_run"] = dry_run;
  fields["policy_sha256"] = policy.summary.sha256;
  LogAudit(dry_run ? "csr decided (dry run: nothing written)" : "csr decided", std::move(fields));
  return true;
}

void DecisionSink::ForgetAuditsExcept(const std::function<bool(const std::string& name)>& pending) {
  std::lock_guard lock(audit_mutex_);
  std::erase_if(audited_, [&](const auto& entry) { return !pending(entry.first); });
}

void DecisionSink::WriteFailed(const std::string& name, WriteFailure failure,
                               const kube::ApiError& error) {
  metrics_.CountDecisionError(MetricLabel(failure));
  LogEvent(spdlog::level::warn, WriteFailureMessage(failure),
           {{"csr", name},
            {"code", error.http_status},
            {"reason", error.status_reason},
            {"error_code", kube::ToString(error.code)},
            {"error", error.message}});
}

}  // namespace kca::controller
