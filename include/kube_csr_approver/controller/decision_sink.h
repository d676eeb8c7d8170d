// Where decisions are reported: the audit line, the decision metrics and, for approvals and
// denials this process wrote, a Kubernetes Event on the CSR.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/controller/pending_csr_cache.h"
#include "kube_csr_approver/controller/policy_holder.h"
#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/event_recorder.h"
#include "kube_csr_approver/observability/metrics.h"
#include "kube_csr_approver/policy/decision.h"

namespace kca::controller {

// The fields of one audit line: CSR name, uid, requestor, groups, signer, usages, requested
// expiration, subject, SANs, key, rule, decision, reasons (and the inspection's refusal, if
// any). Never the request bytes themselves.
nlohmann::json AuditFields(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision);

// The events.k8s.io/v1 Event for an approve/deny decision on `csr` at `now` (reason
// AutoApproved|AutoDenied, type Normal|Warning, note = the condition message).
nlohmann::json MakeDecisionEvent(const CsrObject& csr, const Decision& decision,
                                 const kube::EventRecorderOptions& options,
                                 std::chrono::system_clock::time_point now);

// pending_csrs and oldest_pending_csr_age_seconds by signer label for the CSRs in `cache`, as of
// `clock`'s now. `signer_label` names each CSR's label (the policy's SignerLabel: bounded). The
// age counts from the CSR's creationTimestamp (wall clock), never negative (clock skew), else
// from when this process first saw it.
std::map<std::string, ApproverMetrics::PendingBySigner> PendingGauges(
    const PendingCsrCache& cache, const std::function<std::string(const CsrObject&)>& signer_label,
    const Clock& clock);

// Ownership: every reference is borrowed and must outlive the sink; `events` may be null (no
// Events: dry run, or turned off). Thread-safety: every method may be called from any thread.
class DecisionSink {
 public:
  DecisionSink(ApproverMetrics& metrics, const Clock& clock, kube::EventRecorder* events);

  // This process's approve/deny write was accepted: decisions_total, decision_latency_seconds
  // (from `first_seen`), the audit line and an Event.
  void Written(const CsrObject& csr, const Result<CsrFacts>& facts, const Decision& decision,
               const LoadedPolicy& policy, std::chrono::steady_clock::time_point first_seen);
  // A log decision, or approve/deny in dry run (nothing written): decisions_total and the audit
  // line, marked dry_run, once per CSR (name and uid) and policy version: repeats (resyncs, a
  // new resourceVersion) are ignored. Returns whether it was counted and logged.
  bool Audited(const CsrObject& csr, const Result<CsrFacts>& facts, const Decision& decision,
               const LoadedPolicy& policy, bool dry_run);
  // Forgets the audit marks of CSRs for which `pending(name)` is false (deleted or decided), so
  // the marks stay as many as the pending CSRs. `pending` must not call the sink.
  void ForgetAuditsExcept(const std::function<bool(const std::string& name)>& pending);
  // A write that failed (decision_errors_total{reason=MetricLabel(failure)}): counted and logged
  // as a warning with `error`'s HTTP status, Status reason, error code and message.
  void WriteFailed(const std::string& name, WriteFailure failure, const kube::ApiError& error);

 private:
  struct AuditMark {
    std::string uid;
    std::string policy_sha256;
  };

  ApproverMetrics& metrics_;
  const Clock& clock_;
  kube::EventRecorder* const events_;
  std::mutex audit_mutex_;
  std::unordered_map<std::string, AuditMark> audited_;  // by CSR name; GUARDED_BY(audit_mutex_)
};

}  // namespace kca::controller
