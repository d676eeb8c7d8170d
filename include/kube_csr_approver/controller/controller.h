// The `run` command's engine: keeps a cache of pending CSRs from the informer, decides each by the
// policy in force on a pool of workers, writes approvals/denials while it is the leader, reloads
// the policy, resyncs, and reports metrics and health.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/controller/decision_sink.h"
#include "kube_csr_approver/controller/node_watch.h"
#include "kube_csr_approver/controller/pending_csr_cache.h"
#include "kube_csr_approver/controller/policy_holder.h"
#include "kube_csr_approver/controller/reconciler.h"
#include "kube_csr_approver/controller/work_queue.h"
#include "kube_csr_approver/controller/write_gate.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/csr_informer.h"
#include "kube_csr_approver/kube/event_recorder.h"
#include "kube_csr_approver/kube/leader_elector.h"
#include "kube_csr_approver/observability/health.h"
#include "kube_csr_approver/observability/metrics.h"

namespace kca::controller {

struct ControllerOptions {
  int workers = 4;       // --workers: parallel reconcilers (< 1 is treated as 1). Default: 4.
  bool dry_run = false;  // --dry-run: decide, audit-log and count; write nothing. Default: off.
  // --resync-period: every pending CSR is queued again this often, so a changed policy or a
  // missed event still reaches old requests. Zero disables. Default: 10 min.
  std::chrono::milliseconds resync_period{std::chrono::minutes(10)};
  // How often the policy file is re-read (a change is noticed within this). Default: 2 s.
  std::chrono::milliseconds policy_poll_interval{2000};
  // How often pending_csrs / oldest_pending_csr_age_seconds are refreshed. Default: 1 s.
  std::chrono::milliseconds gauge_interval{1000};
  // Leader election (--leader-elect); nullopt: this replica always writes. Default: nullopt.
  std::optional<kube::LeaderElectionOptions> leader_election;
  // The Lease's own client (see kube::LeaderElectionClientOptions), so that renewals never wait
  // behind the work they gate; null: the controller's client. Borrowed. Default: null.
  kube::ApiClient* lease_client = nullptr;
  // Kubernetes Events for approve/deny. Default: on.
  bool record_events = true;
  kube::EventRecorderOptions events;
  // The informer (list+watch) is started by Run(). Tests may turn it off and feed events to the
  // CsrEventHandler methods themselves. Default: on.
  bool run_informer = true;
  kube::CsrInformerOptions informer;
  WorkQueue::Options queue;
  ReconcilerOptions reconciler;  // dry_run above overrides reconciler.dry_run
  // Node-identity facts: cache and budget of the Controller's own ApiNodeFactsSource (used
  // unless reconciler.node_facts is set), and the longest wait between evaluations of a pending
  // CSR, so it is decided within this long of its Node appearing. Default: 5 s.
  NodeFactsOptions node_facts;
  std::chrono::milliseconds facts_retry_max{5000};
  // While CSRs wait for their Node, a watch on Nodes re-queues them as soon as it appears
  // (RBAC: watch nodes, granted with get/list when the policy uses node identity). Default: on.
  bool watch_nodes = true;
  NodeWatchOptions node_watch;
  ApprovalWriterOptions writer;
  // When Stop() is called, workers get this long to finish the CSR in hand before in-flight API
  // calls are cancelled (a cancelled write is safe: the next start sees what the server has).
  // Default: 2 s.
  std::chrono::milliseconds shutdown_grace{2000};
  // Called after every complete list of CSRs (the first and each relist), on the informer's
  // thread, once the list is delivered: `run` hands the list's freed memory back to the system
  // there (kca::ReleaseFreedMemory). Optional. Default: none.
  std::function<void()> after_list;
};

// Ownership: every reference is borrowed and must outlive the Controller. `policy_file` may be
// null (the policy in `policies` is then fixed); the holder must hold a policy before Run().
// Threads: Run() blocks the calling thread (which does the periodic work: policy polling,
// resync, gauges) and owns the worker threads, the informer thread, the leader-election thread
// and the Event sender, all joined before Run() returns. Stop() may be called from any thread
// (not from a signal handler: flip an atomic there and call Stop() from a normal thread).
// The CsrEventHandler methods are called by the informer's thread (or by tests).
//
// Wiring for `run` (after ConfigureLogging and NewApiClient with an observer counting
// api_requests_total): PolicyHolder + PolicyFileWatcher::LoadInitial() (an error: print it, exit
// non-zero); Controller(...); Validate(); serve /metrics and HealthRoutes(health); Run() on the
// main thread; a signal-watching thread calls Stop(). Leader identity: the pod name (client-go
// uses hostname + "_" + a random suffix); events.reporting_instance: the same.
//
// Shutdown order (Stop): stop watching; stop handing out work and give in-flight CSRs
// `shutdown_grace`; cancel what is still in flight and join the workers; release the Lease;
// drop unsent Events. Run() then returns.
class Controller final : public kube::CsrEventHandler {
 public:
  Controller(kube::ApiClient& client, const Clock& clock, ApproverMetrics& metrics,
             HealthState& health, PolicyHolder& policies, PolicyFileWatcher* policy_file,
             ControllerOptions options);
  ~Controller() override;
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Error when the options are inconsistent (leader election) or no policy is loaded.
  Status Validate() const;

  // Runs until Stop(). Call once.
  void Run();
  // Idempotent; returns at once (Run() does the shutdown).
  void Stop();

  // kube::CsrEventHandler
  void OnUpsert(const CsrObject& csr) override;
  void OnDelete(const std::string& name) override;
  void OnSynced() override;

  // Queues every pending CSR (resync, policy reload, becoming the leader).
  void RequeueAll();
  // Queues the pending CSRs of one requestor (its Node appeared).
  void RequeueRequestor(const std::string& requestor);
  // Whether this replica may write now (always true without leader election).
  bool MayWrite() const;

  const PendingCsrCache& cache() const { return cache_; }
  const WorkQueue& queue() const { return queue_; }

 private:
  void WorkerLoop();
  // pending_csrs and oldest_pending_csr_age_seconds, labelled by the policy in force.
  std::map<std::string, ApproverMetrics::PendingBySigner> PendingBySigner() const;

  kube::ApiClient& client_;
  const Clock& clock_;
  ApproverMetrics& metrics_;
  HealthState& health_;
  PolicyHolder& policies_;
  PolicyFileWatcher* const policy_file_;
  const ControllerOptions options_;

  PendingCsrCache cache_;
  WorkQueue queue_;
  std::unique_ptr<kube::LeaderElector> elector_;  // null without leader election
  // Open while this replica leads; closing it aborts approval writes in flight.
  WriteGate gate_{[this] { return MayWrite(); }};
  std::unique_ptr<kube::EventRecorder> events_;  // created by Run()
  std::unique_ptr<DecisionSink> sink_;
  std::unique_ptr<ApprovalWriter> writer_;
  std::unique_ptr<NodeFactsSource> node_facts_;  // created by Run() unless options give one
  std::unique_ptr<NodeWatch> node_watch_;        // created by Run() with watch_nodes
  std::unique_ptr<Reconciler> reconciler_;

  kube::Cancellation cancel_in_flight_;  // aborts workers' API calls at the end of the grace
  kube::Cancellation stop_elector_;

  Mutex mutex_;
  std::condition_variable changed_;
  bool stop_requested_ KCA_GUARDED_BY(mutex_) = false;
  int busy_workers_ KCA_GUARDED_BY(mutex_) = 0;  // workers inside Reconcile()
};

}  // namespace kca::controller
