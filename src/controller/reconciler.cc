#include "kube_csr_approver/controller/reconciler.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/csr_inspector.h"
#include "kube_csr_approver/logging.h"
#include "kube_csr_approver/policy.h"

namespace kca::controller {
namespace {

std::string RuleLabel(const Decision& decision) {
  return decision.rule ? *decision.rule : std::string("none");
}

void LogWriteFailure(const std::string& name, const kube::ApiError& error, std::string_view what) {
  LogEvent(spdlog::level::warn, what,
           {{"csr", name},
            {"code", error.http_status},
            {"reason", error.reason},
            {"error", error.message}});
}

}  // namespace

Reconciler::Reconciler(kube::ApiClient& client, PendingCsrCache& cache,
                       const PolicyHolder& policies, ApproverMetrics& metrics, const Clock& clock,
                       EventRecorder* events, WriteGate may_write, ReconcilerOptions options)
    : client_(client),
      cache_(cache),
      policies_(policies),
      metrics_(metrics),
      clock_(clock),
      events_(events),
      may_write_(std::move(may_write)),
      options_(options) {}

Reconciler::Outcome Reconciler::Reconcile(const std::string& name,
                                          const kube::Cancellation* cancel) {
  if (!may_write_()) return Outcome::kDone;
  auto pending = cache_.Get(name);
  if (!pending) return Outcome::kDone;
  CsrObject csr = std::move(pending->csr);
  const auto first_seen = pending->first_seen;

  for (int conflicts = 0;; ++conflicts) {
    if (IsDecided(csr)) return Outcome::kDone;
    const auto policy = policies_.Current();
    if (!policy) return Outcome::kRetry;  // not reachable once the controller runs
    const Result<CsrFacts> facts = InspectEncodedRequest(csr.request);
    const Decision decision = Evaluate(*policy->policy, csr, facts);
    cache_.SetSignerLabel(name, decision.signer_label);

    if (decision.action == Action::kSkip) return Outcome::kDone;
    if (decision.action == Action::kLog || options_.dry_run) {
      AuditOnce(csr, facts, decision, *policy, options_.dry_run);
      return Outcome::kDone;
    }
    // Leadership may have been lost while evaluating: check right before writing.
    if (!may_write_()) return Outcome::kDone;
    auto written =
        client_.Update(ApprovalPath(name), ApprovalBody(csr, decision, clock_.WallNow()), cancel);
    if (written.ok()) {
      cache_.MarkDecided(name, csr.uid);
      metrics_.CountDecision(decision.action, RuleLabel(decision), decision.signer_label);
      metrics_.ObserveDecisionLatency(
          decision.action, std::chrono::duration<double>(clock_.SteadyNow() - first_seen).count());
      nlohmann::json fields = AuditFields(csr, facts, decision);
      fields["dry_run"] = false;
      fields["policy_sha256"] = policy->summary.sha256;
      LogAudit("csr decided", fields);
      if (events_ != nullptr) events_->Record(csr, decision);
      return Outcome::kDone;
    }

    const kube::ApiError& error = written.error();
    if (error.not_found()) {
      cache_.Remove(name);
      return Outcome::kDone;
    }
    if (error.canceled()) return Outcome::kRetry;
    if (error.forbidden()) {
      metrics_.CountDecisionError("forbidden");
      LogWriteFailure(name, error,
                      "approval forbidden: grant update on certificatesigningrequests/approval "
                      "and approve on signers for this signerName");
      return Outcome::kRetry;
    }
    if (!error.conflict()) {
      metrics_.CountDecisionError("api");
      LogWriteFailure(name, error, "approval write failed; will retry");
      return Outcome::kRetry;
    }

    // 409: someone changed the CSR (maybe decided it). Decide again from what is stored now.
    metrics_.CountDecisionError("conflict");
    if (conflicts + 1 >= options_.max_conflict_rereads) return Outcome::kRetry;
    auto fresh = client_.Get(CsrPath(name), cancel);
    if (!fresh.ok()) {
      if (fresh.error().not_found()) {
        cache_.Remove(name);
        return Outcome::kDone;
      }
      if (!fresh.error().canceled()) {
        metrics_.CountDecisionError("api");
        LogWriteFailure(name, fresh.error(), "re-reading a CSR after a conflict failed");
      }
      return Outcome::kRetry;
    }
    auto decoded = DecodeCsrObject(*fresh);
    if (!decoded.ok()) {
      metrics_.CountDecisionError("parse");
      LogEvent(spdlog::level::err, "CSR read from the API server does not decode",
               {{"csr", name}, {"error", decoded.error().message}});
      return Outcome::kRetry;
    }
    csr = std::move(*decoded);
    cache_.Upsert(csr);  // drops it from the cache when it is decided now
  }
}

void Reconciler::AuditOnce(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision, const LoadedPolicy& policy, bool dry_run) {
  if (!cache_.MarkAudited(csr.name, policy.summary.sha256)) return;
  metrics_.CountDecision(decision.action, RuleLabel(decision), decision.signer_label);
  nlohmann::json fields = AuditFields(csr, facts, decision);
  fields["dry_run"] = dry_run;
  fields["policy_sha256"] = policy.summary.sha256;
  LogAudit(dry_run ? "csr decided (dry run: nothing written)" : "csr decided", fields);
}

}  // namespace kca::controller
