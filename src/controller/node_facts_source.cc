// ApiNodeFactsSource: the facts of node-identity rules from the API server, briefly cached and
// under their own call budget. Response shapes: upstream staging/src/k8s.io/api/core/v1/types.go
// (Node), staging/src/k8s.io/api/authorization/v1/types.go (SubjectAccessReview),
// staging/src/k8s.io/api/networking/v1/types.go (ServiceCIDR).
#include "kube_csr_approver/controller/node_facts_source.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace kca::controller {
namespace {

std::string Describe(const kube::ApiError& error) {
  return error.message.empty() ? "HTTP " + std::to_string(error.http_status) : error.message;
}

constexpr const char* kBudgetSpent = "the node lookup budget is spent for now; retrying";

}  // namespace

ApiNodeFactsSource::ApiNodeFactsSource(kube::ApiClient& client, ApproverMetrics& metrics,
                                       const Clock& clock, NodeFactsOptions options)
    : client_(client),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      tokens_(std::max(1, options.burst)),
      refilled_(clock.SteadyNow()) {}

bool ApiNodeFactsSource::Spend() {
  MutexLock lock(mutex_);
  if (options_.qps <= 0) return true;
  const auto now = clock_.SteadyNow();
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  tokens_ = std::min<double>(std::max(1, options_.burst), tokens_ + elapsed * options_.qps);
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

std::size_t ApiNodeFactsSource::cached_facts() const {
  MutexLock lock(mutex_);
  return nodes_.size() + reviews_.size();
}

void ApiNodeFactsSource::DropExpiredLocked(std::chrono::steady_clock::time_point now) {
  // An entry is otherwise dropped only when its own key is looked up again: the Nodes of a
  // cluster that replaces its machines would pile up for months (one per kubelet ever seen).
  if (now < next_drop_) return;
  next_drop_ = now + options_.cache_ttl;
  std::erase_if(nodes_, [&](const auto& entry) { return entry.second.until <= now; });
  std::erase_if(reviews_, [&](const auto& entry) { return entry.second.until <= now; });
}

NodeFacts ApiNodeFactsSource::Fetch(const FactsNeeded& needed, const kube::Cancellation* cancel) {
  NodeFacts facts;
  if (needed.node_name) facts.node = FetchNode(*needed.node_name, cancel);
  if (needed.review) facts.review = FetchReview(*needed.review, cancel);
  if (needed.service_cidrs) facts.service_cidrs = FetchServiceCidrs(cancel);
  return facts;
}

NodeFact ApiNodeFactsSource::FetchNode(const std::string& name, const kube::Cancellation* cancel) {
  {
    MutexLock lock(mutex_);
    if (auto it = nodes_.find(name); it != nodes_.end()) {
      if (it->second.until > clock_.SteadyNow()) {
        return NodeFact{FactState::kKnown, it->second.value, ""};
      }
      nodes_.erase(it);
    }
  }
  if (!Spend()) {
    metrics_.CountNodeLookup("error");
    return NodeFact{FactState::kError, {}, kBudgetSpent};
  }
  // The name passed DNS-1123 subdomain validation, so it needs no escaping in a path.
  auto fetched = client_.Get("/api/v1/nodes/" + name, cancel);
  if (!fetched.ok()) {
    if (fetched.error().code == kube::ApiErrorCode::kNotFound) {
      metrics_.CountNodeLookup("missing");
      return NodeFact{FactState::kNotFound, {}, ""};
    }
    metrics_.CountNodeLookup("error");
    return NodeFact{FactState::kError, {}, Describe(fetched.error())};
  }
  auto node = DecodeNodeObject(*fetched);
  if (!node.ok()) {
    metrics_.CountNodeLookup("error");
    return NodeFact{FactState::kError, {}, node.error().message};
  }
  const bool ready =
      !node->addresses.empty() && std::find(node->taint_keys.begin(), node->taint_keys.end(),
                                            kUninitializedTaint) == node->taint_keys.end();
  // A Node without its addresses yet is "not there yet": counted missing, and not cached.
  metrics_.CountNodeLookup(ready ? "found" : "missing");
  if (ready) {
    MutexLock lock(mutex_);
    const auto now = clock_.SteadyNow();
    DropExpiredLocked(now);
    nodes_[name] = {*node, now + options_.cache_ttl};
  }
  return NodeFact{FactState::kKnown, std::move(*node), ""};
}

ReviewFact ApiNodeFactsSource::FetchReview(const ReviewRequest& request,
                                           const kube::Cancellation* cancel) {
  const nlohmann::json body = SubjectAccessReviewBody(request);
  const std::string key = body.dump();
  {
    MutexLock lock(mutex_);
    if (auto it = reviews_.find(key); it != reviews_.end()) {
      if (it->second.until > clock_.SteadyNow()) return it->second.value;
      reviews_.erase(it);
    }
  }
  // A review that could not be made counts as a failed lookup (DESIGN.md "Node identity").
  auto failed = [&](std::string why) {
    metrics_.CountNodeLookup("error");
    return ReviewFact{FactState::kError, false, "", std::move(why)};
  };
  if (!Spend()) return failed(kBudgetSpent);
  auto created = client_.Create("/apis/authorization.k8s.io/v1/subjectaccessreviews", body, cancel);
  if (!created.ok()) return failed(Describe(created.error()));
  auto answer = DecodeSubjectAccessReview(*created);
  if (!answer.ok()) return failed(answer.error().message);
  ReviewFact fact{FactState::kKnown, answer->allowed, answer->reason, ""};
  MutexLock lock(mutex_);
  const auto now = clock_.SteadyNow();
  DropExpiredLocked(now);
  // Bounded also when the lookup budget is unlimited (qps <= 0).
  if (reviews_.size() > 10000) reviews_.clear();
  reviews_[key] = {fact, now + options_.cache_ttl};
  return fact;
}

ServiceCidrFact ApiNodeFactsSource::FetchServiceCidrs(const kube::Cancellation* cancel) {
  {
    MutexLock lock(mutex_);
    if (service_cidrs_ && service_cidrs_->until > clock_.SteadyNow()) return service_cidrs_->value;
  }
  auto failed = [&](std::string why) {
    metrics_.CountNodeLookup("error");
    return ServiceCidrFact{FactState::kError, {}, std::move(why)};
  };
  if (!Spend()) return failed(kBudgetSpent);
  ServiceCidrFact fact;
  kube::ListOptions list_options;
  list_options.limit = 0;
  auto listed = client_.List("/apis/networking.k8s.io/v1/servicecidrs", list_options, cancel);
  if (!listed.ok()) {
    // 404: the server does not serve ServiceCIDRs (before Kubernetes 1.33): none to add.
    if (listed.error().code != kube::ApiErrorCode::kNotFound) {
      return failed(Describe(listed.error()));
    }
  } else if (auto items = listed->find("items"); items != listed->end() && items->is_array()) {
    for (const nlohmann::json& item : *items) {
      auto ranges = DecodeServiceCidr(item);
      if (!ranges.ok()) return failed(ranges.error().message);
      fact.ranges.insert(fact.ranges.end(), ranges->begin(), ranges->end());
    }
  }
  MutexLock lock(mutex_);
  service_cidrs_ = Cached<ServiceCidrFact>{fact, clock_.SteadyNow() + options_.cache_ttl};
  return fact;
}

}  // namespace kca::controller
