// Fetches the cluster facts node-identity rules need (DESIGN.md "Node identity") before the
// pure evaluator runs: the requestor's Node, a SubjectAccessReview's answer, the ServiceCIDRs.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/csr/node_facts.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/observability/metrics.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca::controller {

// Never fails: a lookup that cannot be made is recorded in its fact's state (kError, kNotFound),
// which the evaluator turns into a wait, never a denial.
class NodeFactsSource {
 public:
  virtual ~NodeFactsSource() = default;
  // Fetches only what `needed` lists; the other facts keep NodeFacts{}'s defaults.
  // Thread-safe. `cancel` (may be null) aborts API calls at shutdown.
  virtual NodeFacts Fetch(const FactsNeeded& needed, const kube::Cancellation* cancel) = 0;
};

struct NodeFactsOptions {
  // How long a found Node, a review's answer and the ServiceCIDRs are reused. A missing Node or
  // a failed call is never cached, so a Node that appears is seen at the next retry.
  // Default: 2 s.
  std::chrono::nanoseconds cache_ttl = std::chrono::seconds(2);
  // Lookup budget, apart from the CSR traffic: at most `burst` calls at once, refilled at `qps`
  // per second; a call over budget is not made (the CSR waits, counted as an error).
  // Default: 20 qps, burst 40.
  double qps = 20;
  int burst = 40;
};

// Through the API server: GET /api/v1/nodes/NAME, POST
// /apis/authorization.k8s.io/v1/subjectaccessreviews, GET /apis/networking.k8s.io/v1/servicecidrs
// (404: not served, so none). Counts node_lookups_total{found|missing|error}: a Node read as found
// or missing; a Node read, review or ServiceCIDR list that failed (or was over budget) as error.
// Ownership: every reference is borrowed and must outlive the source.
class ApiNodeFactsSource : public NodeFactsSource {
 public:
  ApiNodeFactsSource(kube::ApiClient& client, ApproverMetrics& metrics, const Clock& clock,
                     NodeFactsOptions options);

  NodeFacts Fetch(const FactsNeeded& needed, const kube::Cancellation* cancel) override;

  // Nodes and review answers held, fresh or expired: those stored within the last two TTLs at
  // most, however many Nodes the cluster has had (expired ones are dropped as new ones come).
  std::size_t cached_facts() const;

 private:
  template <typename T>
  struct Cached {
    T value;
    std::chrono::steady_clock::time_point until;
  };

  NodeFact FetchNode(const std::string& name, const kube::Cancellation* cancel);
  ReviewFact FetchReview(const ReviewRequest& request, const kube::Cancellation* cancel);
  ServiceCidrFact FetchServiceCidrs(const kube::Cancellation* cancel);
  // Takes one call from the budget; false when it is spent.
  bool Spend();
  // Drops every expired Node and review, at most once per TTL (called when one is stored).
  void DropExpiredLocked(std::chrono::steady_clock::time_point now) KCA_REQUIRES(mutex_);

  kube::ApiClient& client_;
  ApproverMetrics& metrics_;
  const Clock& clock_;
  const NodeFactsOptions options_;

  mutable Mutex mutex_;
  std::map<std::string, Cached<NodeObject>> nodes_ KCA_GUARDED_BY(mutex_);
  std::map<std::string, Cached<ReviewFact>> reviews_ KCA_GUARDED_BY(mutex_);  // by request JSON
  std::optional<Cached<ServiceCidrFact>> service_cidrs_ KCA_GUARDED_BY(mutex_);
  double tokens_ KCA_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point refilled_ KCA_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point next_drop_ KCA_GUARDED_BY(mutex_);
};

}  // namespace kca::controller
