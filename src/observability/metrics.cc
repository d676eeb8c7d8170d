#include "kube_csr_approver/observability/metrics.h"

#include <algorithm>
#include <iterator>

namespace kca {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Decision latency spans milliseconds (happy path) to minutes (retries, outages).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

std::string DecisionLabel(Action action) {
  switch (action) {
    case Action::kApprove:
      return "approved";
    case Action::kDeny:
      return "denied";
    case Action::kLog:
      return "logged";
    case Action::kSkip:
      return "skipped";
    case Action::kPending:
      return "pending";
  }
  return "logged";
}

}  // namespace

ApproverMetrics::ApproverMetrics(std::string_view version, std::string_view revision)
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(MakeProcessCollector()),
      decisions_(BuildCounter()
                     .Name("kube_csr_approver_decisions_total")
                     .Help("CSR decisions taken, by decision, governing rule and signer.")
                     .Register(*registry_)),
      decision_errors_(BuildCounter()
                           .Name("kube_csr_approver_decision_errors_total")
                           .Help("Decisions that could not be written or taken, by reason.")
                           .Register(*registry_)),
      decision_latency_(
          BuildHistogram()
              .Name("kube_csr_approver_decision_latency_seconds")
              .Help("From first sight of a CSR to its decision being accepted by the API server.")
              .Register(*registry_)),
      pending_(BuildGauge()
                   .Name("kube_csr_approver_pending_csrs")
                   .Help("CSRs with no Approved, Denied or Failed condition, by signer.")
                   .Register(*registry_)),
      oldest_pending_age_(BuildGauge()
                              .Name("kube_csr_approver_oldest_pending_csr_age_seconds")
                              .Help("Age of the oldest pending CSR, by signer.")
                              .Register(*registry_)),
      api_requests_(BuildCounter()
                        .Name("kube_csr_approver_api_requests_total")
                        .Help("Requests to the Kubernetes API server, by verb and HTTP code.")
                        .Register(*registry_)),
      watch_restarts_(BuildCounter()
                          .Name("kube_csr_approver_watch_restarts_total")
                          .Help("Times the CSR watch was restarted, by reason.")
                          .Register(*registry_)),
      unexpected_errors_(BuildCounter()
                             .Name("kube_csr_approver_unexpected_errors_total")
                             .Help("Exceptions caught by a thread's top-level guard, by thread.")
                             .Register(*registry_)),
      policy_reloads_(BuildCounter()
                          .Name("kube_csr_approver_policy_reloads_total")
                          .Help("Policy file reloads, by result.")
                          .Register(*registry_)),
      policy_info_(BuildGauge()
                       .Name("kube_csr_approver_policy_info")
                       .Help("The policy in force (=1): its sha256 and number of rules.")
                       .Register(*registry_)),
      policy_last_reload_successful_(
          BuildGauge()
              .Name("kube_csr_approver_policy_last_reload_successful")
              .Help("1 while the policy file on disk is the policy in force; 0 while it does not "
                    "load.")
              .Register(*registry_)
              .Add({})),
      leader_(BuildGauge()
                  .Name("kube_csr_approver_leader")
                  .Help("1 while this replica holds the leader lease and may write.")
                  .Register(*registry_)
                  .Add({})),
      node_lookups_(BuildCounter()
                        .Name("kube_csr_approver_node_lookups_total")
                        .Help("Node lookups for node identity rules, by result.")
                        .Register(*registry_)) {
  for (const char* result : {"found", "missing", "error"}) node_lookups_.Add({{"result", result}});
  BuildGauge()
      .Name("kube_csr_approver_build_info")
      .Help("Build information (=1).")
      .Register(*registry_)
      .Add({{"version", std::string(version)}, {"revision", std::string(revision)}})
      .Set(1);
  // Expose the zero series up front so dashboards and alerts see them before the first event.
  for (const char* result : {"success", "failure"}) policy_reloads_.Add({{"result", result}});
  for (const char* reason : {"timeout", "closed", "expired", "error"}) {
    watch_restarts_.Add({{"reason", reason}});
  }
  for (const char* thread : kGuardedThreads) unexpected_errors_.Add({{"thread", thread}});
  for (const char* reason : {"conflict", "forbidden", "api", "parse"}) {
    decision_errors_.Add({{"reason", reason}});
  }
}

void ApproverMetrics::CountDecision(Action action, std::string_view rule, std::string_view signer) {
  // Neither is a decision: nothing was written, and a pending CSR is evaluated again.
  if (action == Action::kSkip || action == Action::kPending) return;
  std::lock_guard<std::mutex> lock(mutex_);  // PrepareDecisions may remove series
  decisions_
      .Add({{"decision", DecisionLabel(action)},
            {"rule", rule.empty() ? "none" : std::string(rule)},
            {"signer", std::string(signer)}})
      .Increment();
}

void ApproverMetrics::PrepareDecisions(const std::vector<DecisionSeries>& series) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<prometheus::Counter*> prepared;
  prepared.reserve(series.size());
  for (const DecisionSeries& one : series) {
    if (one.action == Action::kSkip || one.action == Action::kPending) continue;
    prepared.push_back(&decisions_.Add(
        {{"decision", DecisionLabel(one.action)}, {"rule", one.rule}, {"signer", one.signer}}));
  }
  for (prometheus::Counter* old : prepared_decisions_) {
    const bool kept = std::find(prepared.begin(), prepared.end(), old) != prepared.end();
    if (!kept && old->Value() == 0) decisions_.Remove(old);
  }
  prepared_decisions_ = std::move(prepared);
}

void ApproverMetrics::CountNodeLookup(std::string_view result) {
  node_lookups_.Add({{"result", std::string(result)}}).Increment();
}

void ApproverMetrics::CountDecisionError(std::string_view reason) {
  decision_errors_.Add({{"reason", std::string(reason)}}).Increment();
}

void ApproverMetrics::ObserveDecisionLatency(Action action, double seconds) {
  decision_latency_.Add({{"decision", DecisionLabel(action)}}, kLatencyBuckets).Observe(seconds);
}

void ApproverMetrics::SetPending(const std::map<std::string, PendingBySigner>& by_signer) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = pending_gauges_.begin(); it != pending_gauges_.end();) {
    if (by_signer.count(it->first) == 0) {
      pending_.Remove(it->second.first);
      oldest_pending_age_.Remove(it->second.second);
      it = pending_gauges_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [signer, pending] : by_signer) {
    auto& gauges = pending_gauges_[signer];
    if (gauges.first == nullptr) {
      gauges.first = &pending_.Add({{"signer", signer}});
      gauges.second = &oldest_pending_age_.Add({{"signer", signer}});
    }
    gauges.first->Set(pending.count);
    gauges.second->Set(pending.oldest_age_seconds);
  }
}

void ApproverMetrics::CountApiRequest(std::string_view verb, std::string_view code) {
  api_requests_.Add({{"verb", std::string(verb)}, {"code", std::string(code)}}).Increment();
}

void ApproverMetrics::CountWatchRestart(std::string_view reason) {
  watch_restarts_.Add({{"reason", std::string(reason)}}).Increment();
}

void ApproverMetrics::CountUnexpectedError(std::string_view thread) {
  const bool known = std::find(std::begin(kGuardedThreads), std::end(kGuardedThreads), thread) !=
                     std::end(kGuardedThreads);
  unexpected_errors_.Add({{"thread", known ? std::string(thread) : "other"}}).Increment();
}

void ApproverMetrics::CountPolicyReload(bool success) {
  policy_reloads_.Add({{"result", success ? "success" : "failure"}}).Increment();
}

void ApproverMetrics::SetPolicyInfo(std::string_view sha256, int rule_count) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (policy_info_gauge_ != nullptr) policy_info_.Remove(policy_info_gauge_);
  policy_info_gauge_ =
      &policy_info_.Add({{"sha256", std::string(sha256)}, {"rules", std::to_string(rule_count)}});
  policy_info_gauge_->Set(1);
}

void ApproverMetrics::SetPolicyLastReloadSuccessful(bool successful) {
  policy_last_reload_successful_.Set(successful ? 1 : 0);
}

void ApproverMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

}  // namespace kca
