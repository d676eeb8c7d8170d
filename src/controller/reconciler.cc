#include "kube_csr_approver/controller/reconciler.h"

#include <utility>

#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca::controller {

Reconciler::Reconciler(PendingCsrCache& cache, const PolicyHolder& policies, ApprovalWriter& writer,
                       DecisionSink& sink, const WriteGate& gate, ReconcilerOptions options)
    : cache_(cache),
      policies_(policies),
      writer_(writer),
      sink_(sink),
      gate_(gate),
      options_(options) {}

Reconciler::Outcome Reconciler::Reconcile(const std::string& name, const kube::Cancellation* stop,
                                          std::chrono::nanoseconds* retry_after) {
  if (!gate_.IsOpen()) return Outcome::kDone;
  auto pending = cache_.Get(name);
  if (!pending) return Outcome::kDone;
  const CsrObject& csr = pending->csr;
  if (IsDecided(csr)) return Outcome::kDone;
  const auto policy = policies_.Current();
  if (!policy) return Outcome::kRetry;  // not reachable once the controller runs
  const Result<CsrFacts> facts = InspectEncodedRequest(csr.request);
  const FactsNeeded needed = NeededFacts(*policy->policy, csr, facts);
  NodeFacts nodes;
  if (needed.needs_any() && options_.node_facts != nullptr) {
    nodes = options_.node_facts->Fetch(needed, stop);
  }
  const Decision decision = Evaluate(*policy->policy, csr, facts, nodes);

  if (decision.action == Action::kSkip) return Outcome::kDone;
  // A fact is missing (a Node not there yet): never written, evaluated again soon.
  if (decision.action == Action::kPending) {
    return needed.node_name ? Outcome::kWaitForNode : Outcome::kWaitForFacts;
  }
  if (decision.action == Action::kLog || options_.dry_run) {
    sink_.Audited(csr, facts, decision, *policy, options_.dry_run);  // once per policy version
    return Outcome::kDone;
  }

  WriteOutcome written = writer_.Write(csr, decision, stop);
  switch (written.kind) {
    case WriteOutcome::Kind::kWritten:
      cache_.MarkDecided(name, csr.uid);
      sink_.Written(csr, facts, decision, *policy, pending->first_seen);
      return Outcome::kDone;
    case WriteOutcome::Kind::kDecidedElsewhere:
      cache_.Upsert(std::move(*written.stored));  // decided: leaves the cache
      return Outcome::kDone;
    case WriteOutcome::Kind::kGone:
      cache_.Remove(name);
      return Outcome::kDone;
    case WriteOutcome::Kind::kGateClosed:
      return Outcome::kDone;  // re-queued when this replica leads again
    case WriteOutcome::Kind::kRetry:
      break;
  }
  if (written.stored) cache_.Upsert(std::move(*written.stored));
  if (written.failure) {
    sink_.WriteFailed(name, *written.failure, written.error.value_or(kube::ApiError{}));
  }
  if (retry_after != nullptr) {
    *retry_after = written.retry_after.value_or(std::chrono::seconds(0));
  }
  return Outcome::kRetry;
}

}  // namespace kca::controller
