// Facts about the cluster that node-identity rules need (DESIGN.md "Node identity"): the Node a
// kubelet names, the answer to a SubjectAccessReview, the cluster's service CIDRs. The caller
// fetches them (the controller from the API server, `check` from its input files) and hands them
// to Evaluate, which stays pure. Plain value types; thread-safe as values.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/common/ip_address.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/csr/csr_object.h"

namespace kca {

// How much the caller knows about one fact. Only kKnown lets a check that needs the fact decide;
// every other state makes such a check wait (Action::kPending), never fail.
enum class FactState {
  kKnown,     // fetched and current
  kNotFound,  // the server says the object does not exist (yet): a Node the kubelet asks for early
  kNotGiven,  // offline (`check`): the input files did not carry it
  kError,     // the lookup failed (API error, timeout, rate budget spent); `error` says why
};

// One entry of Node status.addresses (core/v1 NodeAddress): type is Hostname, InternalIP,
// ExternalIP, InternalDNS or ExternalDNS (anything else is kept and ignored).
struct NodeAddress {
  std::string type;
  std::string address;
};

// The parts of a core/v1 Node that decide node-identity checks.
struct NodeObject {
  std::string name;
  std::string resource_version;
  std::vector<NodeAddress> addresses;
  std::vector<std::string> taint_keys;
};

// The cloud provider taints a Node until it has set its addresses (k8s.io/cloud-provider api).
inline constexpr std::string_view kUninitializedTaint =
    "node.cloudprovider.kubernetes.io/uninitialized";

struct NodeFact {
  FactState state = FactState::kNotGiven;
  NodeObject node;    // meaningful when state == kKnown
  std::string error;  // when state == kError
};

// The answer to a SubjectAccessReview for the CSR's requestor.
struct ReviewFact {
  FactState state = FactState::kNotGiven;
  bool allowed = false;  // status.allowed, when state == kKnown
  std::string reason;    // status.reason or status.evaluationError, for the decision's detail
  std::string error;     // when state == kError
};

// Service CIDRs read from networking.k8s.io/v1 ServiceCIDR objects (added to the policy's own
// constraints.serviceCIDRs). A server that does not serve the API has none: kKnown and empty.
struct ServiceCidrFact {
  FactState state = FactState::kKnown;
  std::vector<CidrRange> ranges;
  std::string error;  // when state == kError
};

// Defaults: Node and review not given, no server ServiceCIDRs — so a policy without node-identity
// rules evaluates exactly as without facts.
struct NodeFacts {
  NodeFact node;
  ReviewFact review;
  ServiceCidrFact service_cidrs;
};

// authorization.k8s.io/v1 ResourceAttributes of constraints.requestorAuthorized.
struct ReviewAttributes {
  std::string group;
  std::string resource;
  std::string subresource;
  std::string verb;

  friend bool operator==(const ReviewAttributes&, const ReviewAttributes&) = default;
};

// A SubjectAccessReview to make for a CSR: the requestor as the API server recorded it.
struct ReviewRequest {
  ReviewAttributes attributes;
  std::string user;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// A SubjectAccessReview (authorization.k8s.io/v1) with its answer: what the API server returns
// from create, or what `check` reads from a file.
struct ReviewAnswer {
  std::string user;
  ReviewAttributes attributes;
  bool allowed = false;
  std::string reason;  // status.reason, else status.evaluationError
};

// The SubjectAccessReview to create for `request`: spec.user, uid, groups, extra and
// resourceAttributes (upstream staging/src/k8s.io/api/authorization/v1/types.go).
nlohmann::json SubjectAccessReviewBody(const ReviewRequest& request);

// A SubjectAccessReview carrying spec and status. Errors name the field.
Result<ReviewAnswer> DecodeSubjectAccessReview(const nlohmann::json& object);

// The spec.cidrs of a networking.k8s.io/v1 ServiceCIDR. Errors name the object and field.
Result<std::vector<CidrRange>> DecodeServiceCidr(const nlohmann::json& object);

// Decodes a core/v1 Node (JSON as the API server or `kubectl get node -o json|yaml` prints it).
// Required: metadata.name. Errors name the object and field: `Node "x": status.addresses[1]: ...`.
// Pure; untrusted input never throws.
Result<NodeObject> DecodeNodeObject(const nlohmann::json& object);

// What `check` reads from its input files: CSRs plus the facts node-identity rules need.
struct InputObjects {
  std::vector<CsrObject> csrs;
  std::vector<NodeObject> nodes;
  std::vector<ReviewAnswer> reviews;
  std::vector<CidrRange> service_cidrs;  // from ServiceCIDR objects
};

// DecodeCsrDocument's rules (size, nesting, duplicate keys, YAML core schema), for a document that
// may also hold Nodes (`kubectl get node -o yaml`, a Node or a NodeList), SubjectAccessReviews with
// a status, and ServiceCIDRs — alone or mixed in a List. Objects of another kind, or without a
// kind, are decoded as CSRs.
Result<InputObjects> DecodeInputDocument(std::string_view text, std::string_view source);

// "system:node:<name>" → "<name>" (any text after the prefix, validated by the evaluator);
// nullopt for any other username.
std::optional<std::string> NodeNameOfUsername(std::string_view username);

}  // namespace kca
