// Evaluate: CSR object facts × Policy → Decision, the five steps of DESIGN.md "Evaluation of one
// CSR". Pure: everything it needs was compiled at load; it only reads the policy.
#include <algorithm>
#include <initializer_list>
#include <optional>

#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/policy/policy.h"
#include "policy_model.h"
#include "san_syntax.h"

namespace kca {
namespace {

using policy::Pattern;
using policy::PatternList;
using policy::Rule;

// certificates.k8s.io/v1 refuses shorter lifetimes; a request claiming one is not what it seems.
constexpr std::int64_t kMinExpirationSeconds = 600;

// Details are built on every evaluation, so each is assembled with a single allocation.
std::string Cat(std::initializer_list<std::string_view> parts) {
  size_t size = 0;
  for (std::string_view part : parts) size += part.size();
  std::string out;
  out.reserve(size);
  for (std::string_view part : parts) out += part;
  return out;
}

// `["a", "b"]`
std::string QuoteAll(const std::vector<std::string>& values) {
  size_t size = 2;
  for (const std::string& value : values) size += value.size() + 4;
  std::string out;
  out.reserve(size);
  out += '[';
  for (const std::string& value : values) {
    if (out.size() > 1) out += ", ";
    out += '"';
    out += value;
    out += '"';
  }
  out += ']';
  return out;
}

std::string JoinFailures(const std::vector<std::string>& failures) {
  std::string out;
  for (const std::string& failure : failures) {
    if (!out.empty()) out += "; ";
    out += failure;
  }
  return out;
}

// Step 1: a decided or issued CSR is not ours to touch again.
std::optional<std::string> AlreadyDecided(const CsrObject& csr) {
  for (const CsrCondition& condition : csr.conditions) {
    if (condition.status == "True" && (condition.type == "Approved" || condition.type == "Denied" ||
                                       condition.type == "Failed")) {
      return Cat({"already decided: condition ", condition.type, " is True"});
    }
  }
  if (csr.has_certificate) return std::string("a certificate has already been issued");
  return std::nullopt;
}

bool FieldSelects(const policy::SelectorField& field, std::string_view value) {
  return !field.present || field.list.Matches(value);
}

bool Selects(const Rule& rule, const CsrObject& csr) {
  if (!rule.selector) return true;
  const policy::Selector& selector = *rule.selector;
  if (!FieldSelects(selector.signer_names, csr.signer_name)) return false;
  if (!FieldSelects(selector.usernames, csr.username)) return false;
  if (selector.groups.present) {
    return std::any_of(csr.groups.begin(), csr.groups.end(), [&](const std::string& group) {
      return selector.groups.list.Matches(group);
    });
  }
  return true;
}

bool IsProtected(const Policy& policy, std::string_view organization) {
  const auto& names = policy.protected_organizations;
  return std::find(names.begin(), names.end(), organization) != names.end();
}

// A protected organization passes only through a plain entry spelling it exactly.
bool NamedLiterally(const PatternList& list, std::string_view organization) {
  return std::any_of(list.patterns.begin(), list.patterns.end(), [&](const Pattern& entry) {
    return !entry.is_regex() && entry.text() == organization;
  });
}

bool AllowsWildcard(const PatternList& list, std::string_view name) {
  return std::any_of(list.patterns.begin(), list.patterns.end(), [&](const Pattern& entry) {
    return entry.is_wildcard() && entry.text() == name;
  });
}

// Into `out`, whose buffer is reused across the names of one request.
void NormalizeDnsName(std::string_view name, std::string& out) {
  out.assign(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
}

bool IsSubjectView(const SubjectAttribute& attribute) {
  if (!attribute.oid.empty()) {
    return attribute.oid == "2.5.4.3" || attribute.oid == "2.5.4.10" || attribute.oid == "2.5.4.11";
  }
  return attribute.type == "CN" || attribute.type == "O" || attribute.type == "OU";
}

constexpr std::string_view kNodesGroup = "system:nodes";

// A Kubernetes object name of the DNS-1123 subdomain form (what a Node name must be).
bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || name[i - 1] == '-' || name[i - label] == '-') return false;
      label = 0;
      continue;
    }
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    ++label;
  }
  return true;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Names that address the API server or a Service from inside the cluster: a certificate for
// them lets its holder impersonate the API server or a Service (DESIGN.md reservedSANs).
bool IsReservedDnsName(std::string_view name, std::string_view domain) {
  if (name == "kubernetes" || name == "kubernetes.default" || name == "kubernetes.default.svc") {
    return true;
  }
  const std::string svc_domain = Cat({".svc.", domain});
  return name == Cat({"kubernetes.default.svc.", domain}) || EndsWith(name, ".svc") ||
         EndsWith(name, svc_domain);
}

// The node a requestor is, when its username and groups have the kubelet's shape.
std::optional<std::string> ValidNodeName(const CsrObject& csr) {
  std::optional<std::string> name = NodeNameOfUsername(csr.username);
  if (!name || !IsDns1123Subdomain(*name)) return std::nullopt;
  return name;
}

// Node addresses sorted by what they may vouch for: a Hostname that parses as an IP counts as an
// IP only, so it never vouches for a DNS name.
struct NodeAddressSets {
  std::vector<std::string> dns_names;  // normalized
  std::vector<IpAddress> ips;          // unmapped
};

NodeAddressSets SortAddresses(const NodeObject& node) {
  NodeAddressSets sets;
  std::string normalized;
  for (const NodeAddress& address : node.addresses) {
    const bool dns_type = address.type == "Hostname" || address.type == "InternalDNS" ||
                          address.type == "ExternalDNS";
    const bool ip_type = address.type == "InternalIP" || address.type == "ExternalIP";
    Result<IpAddress> ip = IpAddress::Parse(address.address);
    if (ip.ok() && (ip_type || address.type == "Hostname")) {
      sets.ips.push_back(*ip);
    } else if (dns_type && !ip.ok()) {
      NormalizeDnsName(address.address, normalized);
      if (!normalized.empty()) sets.dns_names.push_back(normalized);
    }
  }
  return sets;
}

// Why a Node fact cannot decide yet; nullopt when it can (known, with addresses, initialized).
std::optional<std::string> NodeNotReady(const NodeFact& fact, std::string_view name) {
  switch (fact.state) {
    case FactState::kNotFound:
      return Cat({"pending: Node ", name, " not found"});
    case FactState::kNotGiven:
      return Cat({"pending: Node ", name, " not given"});
    case FactState::kError:
      return Cat({"pending: Node ", name, " could not be read: ", fact.error});
    case FactState::kKnown:
      break;
  }
  if (fact.node.name != name) return Cat({"pending: Node ", name, " not given"});
  if (std::find(fact.node.taint_keys.begin(), fact.node.taint_keys.end(), kUninitializedTaint) !=
      fact.node.taint_keys.end()) {
    return Cat({"pending: Node ", name, " is still tainted ", kUninitializedTaint});
  }
  if (fact.node.addresses.empty()) return Cat({"pending: Node ", name, " has no addresses yet"});
  return std::nullopt;
}

// Failures and waits of one check: any failure decides it; waits matter only without one.
struct Findings {
  std::vector<std::string> failures;
  std::optional<std::string> pending;
};

// Runs step 4's checks for one rule; each appends exactly one CheckResult.
class Checker {
 public:
  Checker(const Policy& policy, const Rule& rule, const CsrObject& csr, const CsrFacts& facts,
          const NodeFacts& nodes, std::vector<CheckResult>& out)
      : policy_(policy),
        rule_(rule),
        csr_(csr),
        facts_(facts),
        nodes_(nodes),
        node_name_(ValidNodeName(csr)),
        out_(out) {}

  void RunAll() {
    CheckCommonName();
    if (rule_.allowed.common_name.node_identity) CheckNodeIdentity();
    CheckOrganizations();
    CheckOrganizationalUnits();
    CheckRequiredOrganizations();
    CheckOtherSubjectAttributes();
    CheckDnsNames();
    CheckIpAddresses();
    CheckPatternSans("emailAddresses", "email address", facts_.sans.email_addresses,
                     rule_.allowed.email_addresses);
    CheckUris();
    CheckOtherSans();
    if (rule_.constraints.reserved_sans) CheckReservedSans();
    if (rule_.constraints.requestor_authorized) CheckRequestorAuthorized();
    CheckUsages();
    CheckRequiredUsages();
    CheckIsCa();
    CheckKey();
    CheckExpiration();
  }

 private:
  void Add(std::string_view name, bool passed, std::string detail) {
    out_.push_back(CheckResult{std::string(name), passed, std::move(detail)});
  }
  void AddFromFindings(std::string_view name, Findings& findings, std::string pass_detail) {
    if (findings.failures.empty() && findings.pending) {
      out_.push_back(CheckResult{std::string(name), false, std::move(*findings.pending), true});
    } else {
      AddFromFailures(name, findings.failures, std::move(pass_detail));
    }
  }
  void AddFromFailures(std::string_view name, const std::vector<std::string>& failures,
                       std::string pass_detail) {
    if (failures.empty()) {
      Add(name, true, std::move(pass_detail));
    } else {
      Add(name, false, JoinFailures(failures));
    }
  }

  void CheckCommonName() {
    const auto& names = facts_.common_names;
    const policy::CommonNameRule& allowed = rule_.allowed.common_name;
    if (names.size() > 1) {
      Add("commonName", false,
          Cat({"found ", std::to_string(names.size()), " common names ", QuoteAll(names),
               "; a request may carry at most one"}));
      return;
    }
    if (names.empty()) {
      if (allowed.same_as_requestor || allowed.node_identity) {
        Add("commonName", false,
            Cat({"no common name; allowed.commonName requires the requestor's username \"",
                 csr_.username, "\""}));
      } else {
        Add("commonName", true, "no common name requested");
      }
      return;
    }
    const std::string& name = names.front();
    if (!allowed.present) {
      Add("commonName", false,
          Cat({"common name \"", name, "\" is not allowed: allowed.commonName is not set"}));
    } else if (allowed.same_as_requestor || allowed.node_identity) {
      if (csr_.username.empty()) {
        // Fail closed: an empty CN must not pass by equalling a missing requestor.
        Add("commonName", false,
            Cat({"common name \"", name,
                 "\" cannot be checked: the CSR has no spec.username to compare with"}));
      } else if (name == csr_.username) {
        Add("commonName", true, Cat({"common name \"", name, "\" is the requestor's username"}));
      } else {
        Add("commonName", false,
            Cat({"common name \"", name, "\" is not the requestor's username \"", csr_.username,
                 "\""}));
      }
    } else if (allowed.pattern && allowed.pattern->Matches(name)) {
      Add("commonName", true, Cat({"common name \"", name, "\" matches ", allowed.description}));
    } else {
      Add("commonName", false,
          Cat({"common name \"", name, "\" does not match allowed.commonName ",
               allowed.description}));
    }
  }

  void CheckOrganizations() {
    const PatternList& allowed = rule_.allowed.organizations;
    std::vector<std::string> failures;
    for (const std::string& organization : facts_.organizations) {
      if (IsProtected(policy_, organization)) {
        if (!NamedLiterally(allowed, organization)) {
          failures.push_back(Cat({"organization \"", organization,
                                  "\" is protected and not named in allowed.organizations"}));
        }
      } else if (!allowed.Matches(organization)) {
        failures.push_back(Cat({"organization \"", organization,
                                "\" does not match allowed.organizations ", allowed.description}));
      }
    }
    AddFromFailures("organizations", failures,
                    facts_.organizations.empty()
                        ? "no organization requested"
                        : Cat({"organizations ", QuoteAll(facts_.organizations), " are allowed"}));
  }

  void CheckOrganizationalUnits() {
    const PatternList& allowed = rule_.allowed.organizational_units;
    std::vector<std::string> failures;
    for (const std::string& unit : facts_.organizational_units) {
      if (!allowed.Matches(unit)) {
        failures.push_back(
            Cat({"organizational unit \"", unit, "\" does not match allowed.organizationalUnits ",
                 allowed.description}));
      }
    }
    AddFromFailures("organizationalUnits", failures,
                    facts_.organizational_units.empty()
                        ? "no organizational unit requested"
                        : Cat({"organizational units ", QuoteAll(facts_.organizational_units),
                               " are allowed"}));
  }

  void CheckRequiredOrganizations() {
    const PatternList& required = rule_.required.organizations;
    if (required.patterns.empty()) {
      Add("requiredOrganizations", true, "no organization required");
      return;
    }
    std::vector<std::string> failures;
    for (const Pattern& entry : required.patterns) {
      bool found = std::any_of(facts_.organizations.begin(), facts_.organizations.end(),
                               [&](const std::string& o) { return entry.Matches(o); });
      if (!found) {
        failures.push_back(
            Cat({"required organization ", entry.Describe(),
                 " is not among the request's organizations ", QuoteAll(facts_.organizations)}));
      }
    }
    AddFromFailures("requiredOrganizations", failures,
                    Cat({"required organizations ", required.description, " are present"}));
  }

  void CheckOtherSubjectAttributes() {
    std::vector<std::string> failures;
    for (const SubjectAttribute& attribute : facts_.subject) {
      if (IsSubjectView(attribute)) continue;
      failures.push_back(Cat({"subject attribute ", attribute.type, "=\"", attribute.value,
                              "\" is not allowed; only CN, O and OU may appear"}));
    }
    AddFromFailures("subjectAttributes", failures, "only CN, O and OU in the subject");
  }

  void CheckDnsNames() {
    const PatternList& allowed = rule_.allowed.dns_names;
    Findings findings;
    std::vector<std::string>& failures = findings.failures;
    std::string name;
    for (const std::string& requested : facts_.sans.dns_names) {
      NormalizeDnsName(requested, name);
      if (policy::IsWildcardHostname(name)) {
        // A wildcard certificate covers names nobody listed; only a {wildcard: ...} entry
        // spelling it exactly allows it, never a glob that happens to read the same.
        if (!AllowsWildcard(allowed, name)) {
          failures.push_back(Cat({"wildcard DNS name \"", requested,
                                  "\" is allowed only by an allowed.dnsNames entry {wildcard: \"",
                                  name, "\"}; allowed: ", allowed.description}));
        }
      } else if (!policy::IsHostname(name)) {
        failures.push_back(Cat({"DNS name ", Quote(requested, 128),
                                " is not a hostname (letters, digits and '-' in dot-separated "
                                "labels of 1-63 characters, at most 253 in all) nor \"*.\" and "
                                "one"}));
      } else if (allowed.Matches(name)) {
        continue;
      } else if (rule_.allowed.dns_node_addresses) {
        // Exact equality: node "a" never vouches for "auth.example.com".
        VouchedByNode<std::string>(Cat({"DNS name \"", requested, "\""}),
                                   "a Hostname/InternalDNS/ExternalDNS", findings,
                                   [&](const NodeAddressSets& sets) {
                                     return std::find(sets.dns_names.begin(), sets.dns_names.end(),
                                                      name) != sets.dns_names.end();
                                   });
      } else {
        failures.push_back(Cat({"DNS name \"", requested, "\" does not match allowed.dnsNames ",
                                allowed.description}));
      }
    }
    AddFromFindings("dnsNames", findings,
                    facts_.sans.dns_names.empty()
                        ? "no DNS name requested"
                        : Cat({"DNS names ", QuoteAll(facts_.sans.dns_names), " are allowed"}));
  }

  void CheckIpAddresses() {
    const policy::IpRule& allowed = rule_.allowed.ip_addresses;
    const auto& addresses = facts_.sans.ip_addresses;
    Findings findings;
    for (const IpAddress& address : addresses) {
      bool inside = allowed.any ||
                    std::any_of(allowed.ranges.begin(), allowed.ranges.end(),
                                [&](const CidrRange& range) { return range.Contains(address); });
      if (inside) continue;
      if (allowed.node_addresses) {
        VouchedByNode<IpAddress>(
            Cat({"IP address ", address.ToString()}), "an InternalIP/ExternalIP", findings,
            [&](const NodeAddressSets& sets) {
              return std::find(sets.ips.begin(), sets.ips.end(), address) != sets.ips.end();
            });
      } else {
        findings.failures.push_back(
            Cat({"IP address ", address.ToString(), " is not within allowed.ipAddresses ",
                 allowed.description}));
      }
    }
    // Text forms cost an inet_ntop each, so a passing check only counts the addresses.
    AddFromFindings("ipAddresses", findings,
                    addresses.empty() ? "no IP address requested"
                                      : Cat({std::to_string(addresses.size()),
                                             " IP address(es) within allowed.ipAddresses ",
                                             allowed.description}));
  }

  void CheckPatternSans(std::string_view name, std::string_view what,
                        const std::vector<std::string>& requested, const PatternList& allowed) {
    std::vector<std::string> failures;
    for (const std::string& value : requested) {
      if (!allowed.Matches(value)) {
        failures.push_back(Cat(
            {what, " \"", value, "\" does not match allowed.", name, " ", allowed.description}));
      }
    }
    AddFromFailures(name, failures,
                    requested.empty() ? Cat({"no ", what, " requested"})
                                      : Cat({QuoteAll(requested), " allowed"}));
  }

  void CheckUris() {
    const PatternList& allowed = rule_.allowed.uris;
    const auto& requested = facts_.sans.uris;
    std::vector<std::string> failures;
    for (const std::string& uri : requested) {
      if (std::optional<std::string> problem = policy::UriSanProblem(uri)) {
        failures.push_back(
            Cat({"URI ", Quote(uri, 128), " is refused whatever the patterns: ", *problem}));
      } else if (!allowed.Matches(uri)) {
        failures.push_back(
            Cat({"URI \"", uri, "\" does not match allowed.uris ", allowed.description}));
      }
    }
    AddFromFailures(
        "uris", failures,
        requested.empty() ? "no URI requested" : Cat({QuoteAll(requested), " allowed"}));
  }

  void CheckOtherSans() {
    std::vector<std::string> failures;
    for (const std::string& other : facts_.sans.other) {
      failures.push_back(Cat({"subject alternative name ", other,
                              " is not allowed; only DNS, IP, email and URI names can be"}));
    }
    AddFromFailures("otherNames", failures, "no other kind of subject alternative name");
  }

  // The kubelet's identity comes from the requestor the API server recorded, and its request has
  // the upstream kubelet subject shape: CN system:node:<name>, O system:nodes, nothing else.
  void CheckNodeIdentity() {
    std::vector<std::string> failures;
    if (!NodeNameOfUsername(csr_.username)) {
      failures.push_back(
          Cat({"spec.username \"", csr_.username, "\" is not a node's (system:node:<name>)"}));
    } else if (!node_name_) {
      failures.push_back(Cat({"spec.username \"", csr_.username,
                              "\" does not name a node: the name is not a DNS-1123 subdomain"}));
    }
    if (std::find(csr_.groups.begin(), csr_.groups.end(), kNodesGroup) == csr_.groups.end()) {
      failures.push_back(
          Cat({"spec.groups ", QuoteAll(csr_.groups), " do not include \"system:nodes\""}));
    }
    if (facts_.organizations.size() != 1 || facts_.organizations.front() != kNodesGroup) {
      failures.push_back(Cat({"organizations ", QuoteAll(facts_.organizations),
                              " are not exactly [\"system:nodes\"]"}));
    }
    if (!facts_.organizational_units.empty()) {
      failures.push_back(Cat({"organizational units ", QuoteAll(facts_.organizational_units),
                              " are not part of a kubelet's subject"}));
    }
    AddFromFailures(
        "nodeIdentity", failures,
        Cat({"requestor is node \"", node_name_.value_or(""), "\" with a kubelet's subject"}));
  }

  // For a SAN no pattern allows: can the requestor's Node vouch for it? Records a failure or a
  // wait in `findings` and returns true when the Node's addresses were consulted and match.
  template <typename Value, typename Match>
  bool VouchedByNode(std::string_view shown, std::string_view kinds, Findings& findings,
                     Match match) {
    if (!node_name_) {
      findings.failures.push_back(Cat({shown, " is not allowed: spec.username \"", csr_.username,
                                       "\" is not a node (system:node:<name>) whose addresses "
                                       "could vouch for it"}));
      return false;
    }
    if (std::optional<std::string> wait = NodeNotReady(nodes_.node, *node_name_)) {
      if (!findings.pending) findings.pending = std::move(*wait);
      return false;
    }
    if (match(node_addresses())) return true;
    findings.failures.push_back(
        Cat({shown, " is not ", kinds, " address of Node \"", *node_name_, "\""}));
    return false;
  }

  const NodeAddressSets& node_addresses() {
    if (!node_address_sets_) node_address_sets_ = SortAddresses(nodes_.node.node);
    return *node_address_sets_;
  }

  void CheckReservedSans() {
    Findings findings;
    const std::string& domain = rule_.constraints.cluster_domain;
    std::string name;
    for (const std::string& requested : facts_.sans.dns_names) {
      NormalizeDnsName(requested, name);
      if (IsReservedDnsName(name, domain)) {
        findings.failures.push_back(
            Cat({"DNS name \"", requested,
                 "\" is reserved for the API server and Services (constraints.reservedSANs)"}));
      }
    }
    const ServiceCidrFact& served = nodes_.service_cidrs;
    for (const IpAddress& address : facts_.sans.ip_addresses) {
      auto inside = [&](const std::vector<CidrRange>& ranges) {
        return std::any_of(ranges.begin(), ranges.end(),
                           [&](const CidrRange& range) { return range.Contains(address); });
      };
      if (inside(rule_.constraints.service_cidrs) ||
          (served.state == FactState::kKnown && inside(served.ranges))) {
        findings.failures.push_back(Cat({"IP address ", address.ToString(),
                                         " is in a service CIDR (constraints.reservedSANs)"}));
      } else if (served.state != FactState::kKnown && !findings.pending) {
        findings.pending = served.state == FactState::kError
                               ? Cat({"pending: ServiceCIDRs could not be read: ", served.error})
                               : std::string("pending: ServiceCIDRs not given");
      }
    }
    AddFromFindings("reservedSANs", findings, "no reserved name or service IP requested");
  }

  void CheckRequestorAuthorized() {
    const ReviewAttributes& wanted = *rule_.constraints.requestor_authorized;
    const std::string what =
        Cat({"SubjectAccessReview for \"", csr_.username, "\" to ", wanted.verb, " ",
             wanted.group.empty() ? "" : Cat({wanted.group, "/"}), wanted.resource,
             wanted.subresource.empty() ? "" : Cat({"/", wanted.subresource})});
    const ReviewFact& review = nodes_.review;
    switch (review.state) {
      case FactState::kKnown:
        if (review.allowed) {
          Add("requestorAuthorized", true, Cat({what, " allowed"}));
        } else {
          Add("requestorAuthorized", false,
              Cat({what, " denied", review.reason.empty() ? "" : Cat({": ", review.reason})}));
        }
        return;
      case FactState::kError:
        out_.push_back(CheckResult{"requestorAuthorized", false,
                                   Cat({"pending: ", what, " could not be made: ", review.error}),
                                   true});
        return;
      case FactState::kNotFound:
      case FactState::kNotGiven:
        out_.push_back(CheckResult{"requestorAuthorized", false,
                                   Cat({"pending: ", what, " not given"}), true});
        return;
    }
  }

  void CheckUsages() {
    const policy::Allowed& allowed = rule_.allowed;
    std::vector<std::string> failures;
    for (const std::string& usage : csr_.usages) {
      int index = policy::UsageIndex(usage);
      if (index < 0) {
        failures.push_back(Cat({"usage \"", usage, "\" is not a Kubernetes key usage"}));
      } else if ((allowed.usages & (policy::UsageSet{1} << index)) == 0) {
        failures.push_back(
            Cat({"usage \"", usage, "\" is not in allowed.usages ", allowed.usages_description}));
      }
    }
    AddFromFailures("usages", failures,
                    Cat({"usages ", QuoteAll(csr_.usages), " are within allowed.usages ",
                         allowed.usages_description}));
  }

  void CheckRequiredUsages() {
    const policy::Required& required = rule_.required;
    if (required.usages == 0) {
      Add("requiredUsages", true, "no usage required");
      return;
    }
    policy::UsageSet present = 0;
    for (const std::string& usage : csr_.usages) {
      int index = policy::UsageIndex(usage);
      if (index >= 0) present |= policy::UsageSet{1} << index;
    }
    policy::UsageSet missing = required.usages & ~present;
    if (missing == 0) {
      Add("requiredUsages", true,
          Cat({"required usages ", required.usages_description, " are present"}));
    } else {
      Add("requiredUsages", false,
          Cat({"required usages ", policy::DescribeUsages(missing),
               " are missing from spec.usages ", QuoteAll(csr_.usages)}));
    }
  }

  void CheckIsCa() {
    if (!facts_.extensions.basic_constraints_ca) {
      Add("isCA", true, "not a CA request");
    } else if (rule_.allowed.is_ca) {
      Add("isCA", true, "CA request (basicConstraints CA:TRUE) allowed by allowed.isCA");
    } else {
      Add("isCA", false,
          "the request asks for a CA certificate (basicConstraints CA:TRUE) but allowed.isCA is "
          "false");
    }
  }

  void CheckKey() {
    const policy::Constraints& constraints = rule_.constraints;
    const PublicKeyFacts& key = facts_.key;
    bool allowed = (key.algorithm == KeyAlgorithm::kRsa && constraints.rsa) ||
                   (key.algorithm == KeyAlgorithm::kEcdsa && constraints.ecdsa) ||
                   (key.algorithm == KeyAlgorithm::kEd25519 && constraints.ed25519);
    Add("keyAlgorithm", allowed,
        Cat({"key algorithm ", KeyAlgorithmName(key.algorithm), allowed ? " is in" : " is not in",
             " constraints.keyAlgorithms ", constraints.key_algorithms_description}));
    if (key.algorithm == KeyAlgorithm::kRsa) {
      bool strong = key.bits >= constraints.min_rsa_bits;
      Add("rsaKeyBits", strong,
          Cat({"RSA key of ", std::to_string(key.bits), " bits", strong ? " meets" : " is below",
               " constraints.minRSABits ", std::to_string(constraints.min_rsa_bits)}));
    } else if (key.algorithm == KeyAlgorithm::kEcdsa) {
      const auto& curves = constraints.ecdsa_curves;
      bool listed = std::find(curves.begin(), curves.end(), key.curve) != curves.end();
      Add("ecdsaCurve", listed,
          Cat({"ECDSA curve \"", key.curve, listed ? "\" is in" : "\" is not in",
               " constraints.ecdsaCurves ", constraints.ecdsa_curves_description}));
    }
  }

  void CheckExpiration() {
    const auto& limit = rule_.constraints.max_expiration_seconds;
    if (csr_.expiration_seconds && *csr_.expiration_seconds < kMinExpirationSeconds) {
      Add("expiration", false,
          Cat({"spec.expirationSeconds ", std::to_string(*csr_.expiration_seconds),
               " is below the API's minimum of ", std::to_string(kMinExpirationSeconds)}));
    } else if (!limit) {
      Add("expiration", true, "no constraints.maxExpirationSeconds limit");
    } else if (!csr_.expiration_seconds) {
      Add("expiration", false,
          Cat({"spec.expirationSeconds is not set, so the signer's default lifetime would apply; "
               "constraints.maxExpirationSeconds is ",
               std::to_string(*limit)}));
    } else if (*csr_.expiration_seconds > *limit) {
      Add("expiration", false,
          Cat({"spec.expirationSeconds ", std::to_string(*csr_.expiration_seconds),
               " exceeds constraints.maxExpirationSeconds ", std::to_string(*limit)}));
    } else {
      Add("expiration", true,
          Cat({"spec.expirationSeconds ", std::to_string(*csr_.expiration_seconds),
               " is within constraints.maxExpirationSeconds ", std::to_string(*limit)}));
    }
  }

  const Policy& policy_;
  const Rule& rule_;
  const CsrObject& csr_;
  const CsrFacts& facts_;
  const NodeFacts& nodes_;
  const std::optional<std::string> node_name_;  // the requestor's Node, when it is one
  std::optional<NodeAddressSets> node_address_sets_;
  std::vector<CheckResult>& out_;
};

const Rule* GoverningRule(const Policy& policy, const CsrObject& csr) {
  for (const Rule& candidate : policy.rules) {
    if (Selects(candidate, csr)) return &candidate;
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& KubernetesSignerNames() {
  // pkg/apis/certificates/types.go (kubernetes/kubernetes): the four CSR signers and the
  // PodCertificateRequest signer; all of kubernetes.io/ is reserved to the project.
  static const std::vector<std::string> names = {
      "kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
      "kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown",
      "kubernetes.io/kube-apiserver-client-pod"};
  return names;
}

// Metric labels must stay bounded whatever signer names users invent: only text the policy
// itself contains, or a name Kubernetes itself reserves, may become a label.
std::string SignerLabel(const Policy& policy, std::string_view signer_name) {
  const auto& literals = policy.summary.literal_signer_names;
  if (std::find(literals.begin(), literals.end(), signer_name) != literals.end()) {
    return std::string(signer_name);
  }
  for (const Pattern* pattern : policy.signer_patterns) {
    if (pattern->Matches(signer_name)) return pattern->text();
  }
  const auto& kubernetes = KubernetesSignerNames();
  if (std::find(kubernetes.begin(), kubernetes.end(), signer_name) != kubernetes.end()) {
    return std::string(signer_name);
  }
  return "other";
}

std::vector<DecisionSeries> DecisionSeriesOf(const Policy& policy) {
  // Every label SignerLabel can return under this policy.
  std::vector<std::string> all_labels = policy.summary.literal_signer_names;
  for (const Pattern* pattern : policy.signer_patterns) all_labels.push_back(pattern->text());
  for (const std::string& name : KubernetesSignerNames()) all_labels.push_back(name);
  all_labels.push_back("other");

  std::vector<DecisionSeries> series;
  auto add = [&](const std::string& rule, Action action, const std::string& signer) {
    if (action == Action::kSkip) return;
    for (const DecisionSeries& known : series) {
      if (known.rule == rule && known.action == action && known.signer == signer) return;
    }
    series.push_back({rule, action, signer});
  };
  for (const Rule& rule : policy.rules) {
    std::vector<std::string> labels;
    if (!rule.selector || !rule.selector->signer_names.present) {
      labels = all_labels;  // selects every signer
    } else {
      // The labels of the signers its selector names: literals and Kubernetes names as
      // themselves (unless an earlier pattern labels them), pattern entries as their text.
      for (const Pattern& entry : rule.selector->signer_names.list.patterns) {
        if (!entry.is_literal()) labels.push_back(entry.text());
      }
      for (const std::string& label : all_labels) {
        if (rule.selector->signer_names.list.Matches(label) &&
            SignerLabel(policy, label) == label) {
          labels.push_back(label);
        }
      }
    }
    for (const std::string& label : labels) {
      add(rule.name, rule.action, label);
      add(rule.name, rule.on_violation, label);
    }
  }
  for (const std::string& label : all_labels) add("none", policy.default_action, label);
  return series;
}

Decision Evaluate(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts) {
  return Evaluate(policy, csr, facts, NodeFacts{});
}

FactsNeeded NeededFacts(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts) {
  FactsNeeded needed;
  if (AlreadyDecided(csr) || !facts.ok()) return needed;
  const Rule* rule = GoverningRule(policy, csr);
  if (rule == nullptr) return needed;
  const SubjectAlternativeNames& sans = facts->sans;
  const bool names_node = (rule->allowed.dns_node_addresses && !sans.dns_names.empty()) ||
                          (rule->allowed.ip_addresses.node_addresses && !sans.ip_addresses.empty());
  if (names_node) needed.node_name = ValidNodeName(csr);
  if (rule->constraints.requestor_authorized) {
    needed.review = ReviewRequest{*rule->constraints.requestor_authorized, csr.username,
                                  csr.requestor_uid, csr.groups, csr.extra};
  }
  needed.service_cidrs = rule->constraints.reserved_sans && !sans.ip_addresses.empty();
  return needed;
}

Decision Evaluate(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts,
                  const NodeFacts& nodes) {
  Decision decision;
  decision.signer_label = SignerLabel(policy, csr.signer_name);

  if (std::optional<std::string> decided = AlreadyDecided(csr)) {
    decision.action = Action::kSkip;
    decision.reasons.push_back(std::move(*decided));
    return decision;
  }

  const Rule* rule = GoverningRule(policy, csr);
  if (rule == nullptr) {
    decision.action = policy.default_action;
    decision.reasons.push_back("no rule selects this CSR");
    return decision;
  }
  decision.rule = rule->name;

  // spec is immutable, so a request that does not inspect cleanly never will.
  if (!facts.ok()) {
    std::string reason = Cat({"spec.request was refused: ", facts.error().message});
    decision.action = rule->on_violation;
    decision.checks.push_back(CheckResult{"request", false, reason});
    decision.reasons.push_back(std::move(reason));
    return decision;
  }

  decision.checks.reserve(16);
  Checker(policy, *rule, csr, *facts, nodes, decision.checks).RunAll();
  for (const CheckResult& check : decision.checks) {
    if (!check.passed && !check.pending) decision.reasons.push_back(check.detail);
  }
  if (!decision.reasons.empty()) {
    decision.action = rule->on_violation;
    return decision;
  }
  // Nothing fails: a missing fact could still change the outcome, so wait for it.
  for (const CheckResult& check : decision.checks) {
    if (check.pending && std::find(decision.reasons.begin(), decision.reasons.end(),
                                   check.detail) == decision.reasons.end()) {
      decision.reasons.push_back(check.detail);
    }
  }
  decision.action = decision.reasons.empty() ? rule->action : Action::kPending;
  return decision;
}

}  // namespace kca
