// Decides one CSR and acts on the decision: the work a worker does for each queued name. Glue
// between the cache, the policy, the ApprovalWriter and the DecisionSink.
#pragma once

#include <chrono>
#include <string>

#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/controller/decision_sink.h"
#include "kube_csr_approver/controller/node_facts_source.h"
#include "kube_csr_approver/controller/pending_csr_cache.h"
#include "kube_csr_approver/controller/policy_holder.h"
#include "kube_csr_approver/controller/write_gate.h"
#include "kube_csr_approver/kube/cancellation.h"

namespace kca::controller {

struct ReconcilerOptions {
  // Decide, audit-log and count, but write nothing. Default: false.
  bool dry_run = false;
  // Where node-identity facts come from (borrowed; must outlive the Reconciler). Null: none are
  // known, so CSRs that need one stay pending. Default: null (the Controller sets its own).
  NodeFactsSource* node_facts = nullptr;
};

// For one CSR name:
// 1. The gate is closed (not the leader) → nothing: a replica that is not the leader relies on
//    being re-queued when it leads. Not cached (deleted, or decided) → nothing.
// 2. Inspect spec.request, fetch the node-identity facts the governing rule needs (NeededFacts,
//    options.node_facts) and Evaluate the policy in force (pure). pending → kWaitForFacts:
//    nothing written, nothing counted as a decision.
// 3. log: one audit line per CSR and policy version (decisions_total{logged} counted with it).
//    approve/deny with dry_run: the same, marked dry_run, nothing written.
//    approve/deny: ApprovalWriter::Write (one PATCH in the happy path), then by its outcome:
//    written → the cache forgets the CSR (remembering its uid) and the sink reports it;
//    decided elsewhere / gone → the cache is updated; gate closed → nothing; retry → the
//    failure is counted (decision_errors_total) when it is one, and the item goes back to the
//    queue, after at least the server's Retry-After. A failed write is never turned into a deny.
// Ownership: every reference is borrowed and must outlive the Reconciler.
// Thread-safety: Reconcile() may run on many workers at once, for different names (the work
// queue never hands one name to two workers).
class Reconciler {
 public:
  Reconciler(PendingCsrCache& cache, const PolicyHolder& policies, ApprovalWriter& writer,
             DecisionSink& sink, const WriteGate& gate, ReconcilerOptions options = {});

  enum class Outcome {
    kDone,          // decided, logged, dropped or not ours to act on: forget retries
    kRetry,         // a transient failure: queue the name again after a backoff
    kWaitForFacts,  // pending: a Node or review answer is not known yet; retry soon, capped
    kWaitForNode,   // as kWaitForFacts, and the governing rule needs the requestor's Node
  };
  // `stop` (may be null) aborts API calls at shutdown. On kRetry, `*retry_after` (when given)
  // is the least delay the server asked for (zero: none; the queue's backoff applies).
  Outcome Reconcile(const std::string& name, const kube::Cancellation* stop = nullptr,
                    std::chrono::nanoseconds* retry_after = nullptr);

 private:
  PendingCsrCache& cache_;
  const PolicyHolder& policies_;
  ApprovalWriter& writer_;
  DecisionSink& sink_;
  const WriteGate& gate_;
  const ReconcilerOptions options_;
};

}  // namespace kca::controller
