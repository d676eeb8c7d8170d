// The approval policy (DESIGN.md "Policy file v1"): loading, validation and evaluation.
// Loading is strict and reports every problem at once; evaluation is a pure function.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/csr/node_facts.h"
#include "kube_csr_approver/policy/decision.h"

namespace kca {

// One problem found while loading a policy, located in the file.
struct PolicyIssue {
  std::string file;
  int line = 0;         // 1-based; 0 when unknown (e.g. the file cannot be read)
  int column = 0;       // 1-based; 0 when unknown
  std::string path;     // e.g. "rules[2].allowed.uris[0]"; empty for the whole document
  std::string message;  // what is wrong and what is expected

  // "FILE:LINE:COLUMN: PATH: MESSAGE" (parts that are unknown are left out).
  std::string ToString() const;
};

class Policy;  // defined in src/policy; immutable once loaded, safe to share between threads

struct PolicyLoadResult {
  std::shared_ptr<const Policy> policy;  // null when `errors` is not empty
  std::vector<PolicyIssue> errors;       // every load error, in file order
  std::vector<PolicyIssue> warnings;     // rules that can never match or never pass, ...
};

// Parses and validates policy text. `file_name` is only used in PolicyIssue::file.
// Bounded whatever the text: loading stops with an error past 20000 entries or 1000 regexes
// (YAML aliases counted each time they are used), and reports at most 100 errors.
PolicyLoadResult ParsePolicy(std::string_view text, std::string_view file_name);

// Reads the file (I/O) then ParsePolicy. An unreadable file is one error naming the path.
PolicyLoadResult LoadPolicyFile(const std::string& path);

// Summary of a loaded policy, for logs, metrics (policy_info) and RBAC derivation.
struct PolicySummary {
  std::string sha256;                             // hex digest of the exact policy text
  std::vector<std::string> rule_names;            // in order
  std::vector<std::string> literal_signer_names;  // signers named literally by any selector
};
PolicySummary Summarize(const Policy& policy);

// The kubernetes.io/ signer names Kubernetes defines; bounded, so they are metric labels as
// themselves.
const std::vector<std::string>& KubernetesSignerNames();

// The bounded `signer` metric label of a signer name (DESIGN.md "Metrics"): the name when a
// selector names it literally, else the text of the first selector pattern matching it, else the
// name when it is one of KubernetesSignerNames(), else "other". Pure, thread-safe.
std::string SignerLabel(const Policy& policy, std::string_view signer_name);

// One decisions_total label set: rule is a rule name or "none" (no rule selected the CSR).
struct DecisionSeries {
  std::string rule;
  Action action = Action::kLog;  // never kSkip
  std::string signer;
};
// Every label set of decisions_total the policy can produce, so the metrics can create them at 0
// before the first decision: each rule with its action and onViolation, times the labels of the
// signers its selector names (every label when it names none); "none" with defaultAction, times
// every label. A CSR selected by a later rule whose signer an earlier rule's pattern labels is
// counted under that pattern's text, which may not be listed for the later rule.
std::vector<DecisionSeries> DecisionSeriesOf(const Policy& policy);

// Evaluates one CSR (DESIGN.md "Evaluation of one CSR"). `facts` is the inspection of
// csr.request (InspectEncodedRequest); a refusal there yields the governing rule's onViolation
// with the refusal as the reason. Pure, thread-safe, no I/O.
// Choices the design leaves open:
// - Protection applies to subject O values only, compared byte for byte: Kubernetes maps O to
//   groups (case-sensitive, so "System:Masters" is another, unprivileged group); CN becomes the
//   username and OU is ignored by the API server, so neither is treated as protected.
// - A requested DNS SAN containing `*` anywhere counts as a wildcard name.
// - allowed.ipAddresses may hold "*" for any address.
// - Check names: commonName, nodeIdentity (with {nodeIdentity: true}), organizations,
//   organizationalUnits, requiredOrganizations, subjectAttributes, dnsNames, ipAddresses,
//   emailAddresses, uris, otherNames, reservedSANs (unless turned off), requestorAuthorized (when
//   set), usages, requiredUsages, isCA, keyAlgorithm, then rsaKeyBits (RSA) or ecdsaCurve
//   (ECDSA), expiration;
//   "request" alone when inspection refused the request. A skipped CSR has no checks and one
//   reason saying why.
// Node identity (DESIGN.md "Node identity"): checks nodeIdentity, reservedSANs (on every rule) and
// requestorAuthorized; `nodes` carries the facts the caller fetched. A check whose fact is not
// known yet is pending (CheckResult::pending); the CSR is Action::kPending only when nothing else
// fails, with the pending checks' details as reasons ("pending: Node worker-1 not found").
// The three-argument form evaluates with NodeFacts{} (Node and review not given, no server
// ServiceCIDRs).
Decision Evaluate(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts,
                  const NodeFacts& nodes);
Decision Evaluate(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts);

// The facts evaluating `csr` may need, so that callers fetch only those. Empty (needs_any()
// false) for a decided CSR, one no rule selects, a refused request, or a rule without node-identity
// entries. Pure.
struct FactsNeeded {
  std::optional<std::string> node_name;  // GET this Node
  std::optional<ReviewRequest> review;   // create this SubjectAccessReview
  bool service_cidrs = false;            // list networking.k8s.io/v1 ServiceCIDRs

  bool needs_any() const { return node_name || review || service_cidrs; }
};
FactsNeeded NeededFacts(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts);

}  // namespace kca
