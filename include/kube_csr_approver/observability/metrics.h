// Every Prometheus metric of kube-csr-approver (DESIGN.md "Metrics"), declared once and built at
// start-up (STYLE.md rule 7). Callers hold a reference to one ApproverMetrics and call its
// methods; no one looks a family up by name.
//
// Label values stay bounded whatever users submit: `rule` is a policy rule name or "none",
// `signer` is Decision::signer_label (policy-derived or "other"), other labels come from fixed
// vocabularies. Thread-safety: every method may be called from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/policy/decision.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca {

class ApproverMetrics {
 public:
  // Registers every family (prefix kube_csr_approver_) plus the process_* collector in a new
  // registry. `version`/`revision` label build_info.
  ApproverMetrics(std::string_view version, std::string_view revision);

  // The registry to expose on /metrics; shared so an exposer can hold a weak reference.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The process_* collector, registered beside the registry on /metrics.
  std::shared_ptr<prometheus::Collectable> process_collector() const { return process_; }

  // decisions_total{decision="approved|denied|logged", rule, signer}. kSkip is not counted.
  void CountDecision(Action action, std::string_view rule, std::string_view signer);
  // Creates decisions_total at 0 for every label set of the policy now in force (see
  // DecisionSeriesOf), so that the first increment of each is visible to increase(). Series the
  // previous call created that are absent now and still at 0 are removed; counted ones stay.
  void PrepareDecisions(const std::vector<DecisionSeries>& series);
  // decision_errors_total{reason}: reason is one of conflict, forbidden, api, parse.
  void CountDecisionError(std::string_view reason);
  // decision_latency_seconds{decision}: first sight of the CSR to the write being accepted.
  void ObserveDecisionLatency(Action action, double seconds);
  // pending_csrs{signer} and oldest_pending_csr_age_seconds{signer}: replaces the whole set, so
  // a signer that has no pending CSR any more drops to 0.
  struct PendingBySigner {
    double count = 0;
    double oldest_age_seconds = 0;
  };
  void SetPending(const std::map<std::string, PendingBySigner>& by_signer);
  // api_requests_total{verb, code}: verb is the HTTP method, lowercased ("get", "put", ...) or
  // "watch"; code is the HTTP status, or "error" when no response arrived.
  void CountApiRequest(std::string_view verb, std::string_view code);
  // watch_restarts_total{reason}: timeout, closed, expired, error.
  void CountWatchRestart(std::string_view reason);
  // unexpected_errors_total{thread}: exceptions a thread's top-level guard caught (a bug or input
  // no decoder anticipated; the thread logged it, backed off and went on). thread is one of
  // kGuardedThreads; anything else is counted as "other".
  static constexpr const char* kGuardedThreads[] = {"informer",        "worker", "maintenance",
                                                    "leader_election", "events", "probe"};
  void CountUnexpectedError(std::string_view thread);
  // policy_reloads_total{result}: success or failure.
  void CountPolicyReload(bool success);
  // policy_info{sha256, rules} = 1 for the policy in force; the previous one is removed.
  void SetPolicyInfo(std::string_view sha256, int rule_count);
  // policy_last_reload_successful: 1 while the policy file now on disk is the one in force, 0
  // after a change that does not load (until the file loads again). 0 before the first load.
  void SetPolicyLastReloadSuccessful(bool successful);
  // leader = 1 while this replica may write.
  void SetLeader(bool leader);
  // node_lookups_total{result}: found, missing (404 or not there yet), error.
  void CountNodeLookup(std::string_view result);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Family<prometheus::Counter>& decision_errors_;
  prometheus::Family<prometheus::Histogram>& decision_latency_;
  prometheus::Family<prometheus::Gauge>& pending_;
  prometheus::Family<prometheus::Gauge>& oldest_pending_age_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Counter>& watch_restarts_;
  prometheus::Family<prometheus::Counter>& unexpected_errors_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Gauge& policy_last_reload_successful_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Counter>& node_lookups_;

  std::mutex mutex_;  // guards decisions_ and the label sets below, which are replaced as a whole
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>> pending_gauges_;
  prometheus::Gauge* policy_info_gauge_ = nullptr;
  std::vector<prometheus::Counter*> prepared_decisions_;  // created by PrepareDecisions
};

// Reads /proc/self for process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds
// (the names and meanings of the Prometheus client conventions). Linux only; a value that cannot
// be read is left out of that scrape.
std::shared_ptr<prometheus::Collectable> MakeProcessCollector();

}  // namespace kca
