// The validated, compiled policy (DESIGN.md "Policy file v1"): what the loader builds and the
// evaluator reads. Immutable once built, so a Policy is shared between worker threads freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kube_csr_approver/common/ip_address.h"
#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/node_facts.h"
#include "kube_csr_approver/policy/decision.h"
#include "kube_csr_approver/policy/policy.h"
#include "pattern.h"

namespace kca::policy {

// A list of patterns plus its rendering for messages, built once so that evaluation does not
// format the allowed side of every failure again.
struct PatternList {
  std::vector<Pattern> patterns;
  std::string description = "(none)";  // `["ci-*", {regex: "x"}]`

  bool Matches(std::string_view value) const {
    for (const Pattern& pattern : patterns) {
      if (pattern.Matches(value)) return true;
    }
    return false;
  }
};

// Where a policy element sits in the file, for warnings found after parsing.
struct Location {
  int line = 0;
  int column = 0;
};

// A selector field that is absent matches everything (`present == false`).
struct SelectorField {
  bool present = false;
  PatternList list;
};

struct Selector {
  SelectorField signer_names;
  SelectorField usernames;
  SelectorField groups;
};

struct CommonNameRule {
  bool present = false;  // absent: no CN allowed
  bool same_as_requestor = false;
  bool node_identity = false;      // {nodeIdentity: true}: the CN is spec.username of a node
  std::optional<Pattern> pattern;  // set when present and not sameAsRequestor
  std::string description;
};

// The subset of the 23 Kubernetes key usages, as a bit set indexed by KnownUsages().
using UsageSet = std::uint32_t;

struct IpRule {
  bool any = false;             // the entry "*"
  bool node_addresses = false;  // the entry {nodeAddresses: true}
  std::vector<CidrRange> ranges;
  std::string description = "(none)";
};

struct Allowed {
  CommonNameRule common_name;
  PatternList organizations;
  PatternList organizational_units;
  PatternList dns_names;
  bool dns_node_addresses = false;  // a {nodeAddresses: true} entry in dnsNames
  IpRule ip_addresses;
  PatternList email_addresses;
  PatternList uris;
  UsageSet usages = 0;
  std::string usages_description = "(none)";
  bool is_ca = false;
};

struct Required {
  UsageSet usages = 0;
  std::string usages_description = "(none)";
  PatternList organizations;
};

struct Constraints {
  bool rsa = true;
  bool ecdsa = true;
  bool ed25519 = true;
  std::string key_algorithms_description = "[RSA, ECDSA, Ed25519]";
  std::int64_t min_rsa_bits = 2048;
  std::vector<std::string> ecdsa_curves = {"P-256", "P-384", "P-521"};
  std::string ecdsa_curves_description = "[P-256, P-384, P-521]";
  std::optional<std::int64_t> max_expiration_seconds;
  bool reserved_sans = true;
  std::string cluster_domain = "cluster.local";  // normalized (lowercase, no trailing dot)
  std::vector<CidrRange> service_cidrs;
  std::optional<ReviewAttributes> requestor_authorized;
};

struct Rule {
  std::string name;
  Location location;
  std::string path;                  // "rules[3]"
  std::optional<Selector> selector;  // absent: selects every CSR
  Allowed allowed;
  Required required;
  Constraints constraints;
  Action action = Action::kDeny;
  Action on_violation = Action::kDeny;
};

// The 23 values Kubernetes accepts in spec.usages, in the API's order.
const std::vector<std::string>& KnownUsages();
// Index of `usage` in KnownUsages(), or -1.
int UsageIndex(std::string_view usage);
// `[client auth, server auth]` in KnownUsages() order.
std::string DescribeUsages(UsageSet usages);

}  // namespace kca::policy

namespace kca {

class Policy {
 public:
  Action default_action = Action::kLog;
  // Built-in protected organizations first, then the policy's protectedOrganizations.
  std::vector<std::string> protected_organizations;
  std::vector<policy::Rule> rules;
  // summary.literal_signer_names doubles as the first source of signer_label.
  PolicySummary summary;
  // Non-literal signerNames entries in rule order; the first that matches names the label.
  // They point into `rules`, which is why a Policy is neither copied nor moved.
  std::vector<const policy::Pattern*> signer_patterns;

  Policy() = default;
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;
};

}  // namespace kca
