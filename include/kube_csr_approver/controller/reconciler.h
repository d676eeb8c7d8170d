// Decides one CSR and acts on the decision: the work a worker does for each queued name.
#pragma once

#include <functional>
#include <string>

#include "kube_csr_approver/clock.h"
#include "kube_csr_approver/controller/event_recorder.h"
#include "kube_csr_approver/controller/node_facts_source.h"
#include "kube_csr_approver/controller/pending_csr_cache.h"
#include "kube_csr_approver/controller/policy_holder.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/metrics.h"

namespace kca::controller {

struct ReconcilerOptions {
  // Decide, audit-log and count, but write nothing. Default: false.
  bool dry_run = false;
  // After this many 409s in one Reconcile() (each followed by a fresh GET), give the item back
  // for a later retry. Default: 3.
  int max_conflict_rereads = 3;
  // Where node-identity facts come from (borrowed; must outlive the Reconciler). Null: none are
  // known, so CSRs that need one stay pending. Default: null (the Controller sets its own).
  NodeFactsSource* node_facts = nullptr;
};

// For one CSR name:
// 1. Not cached (deleted, or decided) → nothing. Decided → never written to again.
// 2. Inspect spec.request, fetch the node-identity facts the governing rule needs (NeededFacts,
//    options.node_facts) and Evaluate the policy in force (pure). pending → kWaitForFacts:
//    nothing written, nothing counted as a decision.
// 3. log: one audit line per CSR and policy version (decisions_total{logged} counted with it).
//    approve/deny with dry_run: the same, marked dry_run, nothing written.
//    approve/deny: PUT /approval with the object as cached (exactly one API call in the happy
//    path). 409 → GET the CSR, re-evaluate from the fresh object (decided meanwhile → stop);
//    404 → forget it; 403, 5xx, network errors → retry later (decision_errors_total{forbidden|
//    api}); a failed write is never turned into a deny. On success: decisions_total,
//    decision_latency_seconds (first sight → write accepted), an audit line and an Event.
// Only while `may_write()` is true (the leader gate, checked right before every write): a
// replica that is not the leader does nothing and relies on being re-queued when it leads.
// Ownership: every reference is borrowed and must outlive the Reconciler; `events` may be null.
// Thread-safety: Reconcile() may run on many workers at once, for different names (the work
// queue never hands one name to two workers).
class Reconciler {
 public:
  using WriteGate = std::function<bool()>;

  Reconciler(kube::ApiClient& client, PendingCsrCache& cache, const PolicyHolder& policies,
             ApproverMetrics& metrics, const Clock& clock, EventRecorder* events,
             WriteGate may_write, ReconcilerOptions options);

  enum class Outcome {
    kDone,   // decided, logged, dropped or not ours to act on: forget retries
    kRetry,  // a transient failure: queue the name again after a backoff
    kWaitForFacts,  // pending: a Node or review answer is not known yet; retry soon, capped
  };
  // `cancel` (may be null) aborts API calls at shutdown.
  Outcome Reconcile(const std::string& name, const kube::Cancellation* cancel = nullptr);

 private:
  void AuditOnce(const CsrObject& csr, const Result<CsrFacts>& facts, const Decision& decision,
                 const LoadedPolicy& policy, bool dry_run);

  kube::ApiClient& client_;
  PendingCsrCache& cache_;
  const PolicyHolder& policies_;
  ApproverMetrics& metrics_;
  const Clock& clock_;
  EventRecorder* const events_;
  const WriteGate may_write_;
  const ReconcilerOptions options_;
};

}  // namespace kca::controller
