// Node identity rules (DESIGN.md "Node identity"): nodeIdentity, nodeAddresses, reservedSANs,
// requestorAuthorized, and the pending outcome when a fact is not known yet.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "kube_csr_approver/policy/policy.h"
#include "policy_test_util.h"

namespace kca {
namespace {

using testing_policy::DescribeIssues;
using testing_policy::HasIssue;
using testing_policy::kHeader;

constexpr std::string_view kKubeletRules = R"(rules:
  - name: kubelet-serving
    selector: {signerNames: [kubernetes.io/kubelet-serving]}
    allowed:
      commonName: {nodeIdentity: true}
      organizations: ["system:nodes"]
      dnsNames: [{nodeAddresses: true}, "*.static.example.com"]
      ipAddresses: [{nodeAddresses: true}]
      usages: [digital signature, key encipherment, server auth]
    constraints:
      serviceCIDRs: [10.96.0.0/12, "fd00:10:96::/112"]
    action: approve
  - name: kubelet-client
    selector: {signerNames: [kubernetes.io/kube-apiserver-client-kubelet]}
    allowed:
      commonName: {nodeIdentity: true}
      organizations: ["system:nodes"]
      usages: [digital signature, key encipherment, client auth]
    constraints:
      requestorAuthorized:
        {group: certificates.k8s.io, resource: certificatesigningrequests,
         subresource: selfnodeclient, verb: create}
    action: approve
  - name: anything-goes
    selector: {signerNames: [example.com/any]}
    allowed:
      commonName: "*"
      dnsNames: ["*"]
      ipAddresses: ["*"]
      usages: [server auth]
    constraints: {clusterDomain: Corp.Local.}
    action: approve
  - name: unreserved
    selector: {signerNames: [example.com/unreserved]}
    allowed: {dnsNames: ["*"], ipAddresses: ["*"], usages: [server auth]}
    constraints: {reservedSANs: false}
    action: approve
)";

std::shared_ptr<const Policy> KubeletPolicy() {
  auto loaded = ParsePolicy(std::string(kHeader) + std::string(kKubeletRules), "policy.yaml");
  EXPECT_TRUE(loaded.errors.empty()) << DescribeIssues(loaded.errors);
  return loaded.policy;
}

IpAddress Ip(std::string_view text) { return IpAddress::Parse(text).value(); }

struct Input {
  CsrObject csr;
  CsrFacts facts;
  NodeFacts nodes;

  void SetSubject(std::vector<std::string> cns, std::vector<std::string> orgs) {
    facts.common_names = cns;
    facts.organizations = orgs;
    facts.subject.clear();
    for (const auto& v : cns) facts.subject.push_back({"CN", "2.5.4.3", v});
    for (const auto& v : orgs) facts.subject.push_back({"O", "2.5.4.10", v});
  }
};

NodeFact KnownNode(std::string name, std::vector<NodeAddress> addresses) {
  NodeFact fact;
  fact.state = FactState::kKnown;
  fact.node.name = std::move(name);
  fact.node.addresses = std::move(addresses);
  return fact;
}

// Node a's kubelet asking for a serving certificate for its own addresses; approved.
Input Serving() {
  Input in;
  in.csr.name = "csr-serving";
  in.csr.signer_name = "kubernetes.io/kubelet-serving";
  in.csr.username = "system:node:a";
  in.csr.groups = {"system:nodes", "system:authenticated"};
  in.csr.usages = {"digital signature", "key encipherment", "server auth"};
  in.facts.key = PublicKeyFacts{KeyAlgorithm::kEcdsa, 256, "P-256"};
  in.SetSubject({"system:node:a"}, {"system:nodes"});
  in.facts.sans.dns_names = {"a.nodes.example.com"};
  in.facts.sans.ip_addresses = {Ip("10.0.0.5")};
  in.nodes.node = KnownNode("a", {{"Hostname", "a.nodes.example.com"},
                                  {"InternalIP", "10.0.0.5"},
                                  {"ExternalIP", "2001:db8::5"},
                                  {"InternalDNS", "a.internal"}});
  return in;
}

// Node a's kubelet renewing its client certificate; approved when the review allows.
Input Client() {
  Input in = Serving();
  in.csr.name = "csr-client";
  in.csr.signer_name = "kubernetes.io/kube-apiserver-client-kubelet";
  in.csr.requestor_uid = "uid-a";
  in.csr.usages = {"digital signature", "key encipherment", "client auth"};
  in.facts.sans = {};
  in.nodes.node = {};
  in.nodes.review.state = FactState::kKnown;
  in.nodes.review.allowed = true;
  return in;
}

Input AnyGoes(std::vector<std::string> dns, std::vector<IpAddress> ips,
              std::string signer = "example.com/any") {
  Input in = Serving();
  in.csr.signer_name = std::move(signer);
  in.csr.usages = {"server auth"};
  in.SetSubject({}, {});
  in.facts.sans.dns_names = std::move(dns);
  in.facts.sans.ip_addresses = std::move(ips);
  return in;
}

struct Case {
  std::string name;
  std::function<Input()> input;
  Action action;
  std::set<std::string> failed;   // checks expected to fail (not pending)
  std::set<std::string> pending;  // checks expected to be pending
  std::string reason_part = "";   // a substring some reason must contain
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

template <typename F>
std::function<Input()> With(std::function<Input()> base, F mutate) {
  return [base, mutate]() {
    Input in = base();
    mutate(in);
    return in;
  };
}

std::vector<Case> Cases() {
  return {
      {"ServingForOwnAddressesApproved", Serving, Action::kApprove, {}, {}},
      {"PrefixTrapNodeAVersusAuth",
       With(Serving,
            [](Input& in) {
              in.nodes.node = KnownNode("a", {{"Hostname", "a"}, {"InternalIP", "10.0.0.5"}});
              in.facts.sans.dns_names = {"auth.example.com"};
            }),
       Action::kDeny,
       {"dnsNames"},
       {},
       "DNS name \"auth.example.com\" is not a Hostname/InternalDNS/ExternalDNS address of Node "
       "\"a\""},
      {"SanNamingAnotherNodeAmongOwn",
       With(Serving,
            [](Input& in) {
              in.facts.sans.dns_names = {"a.nodes.example.com", "b.nodes.example.com"};
            }),
       Action::kDeny,
       {"dnsNames"},
       {},
       "\"b.nodes.example.com\" is not"},
      {"OnlyDnsSanIsNodeB",
       With(Serving,
            [](Input& in) {
              in.facts.sans.dns_names = {"b.nodes.example.com"};
              in.facts.sans.ip_addresses = {};
            }),
       Action::kDeny,
       {"dnsNames"},
       {}},
      {"IpOfAnotherNode",
       With(Serving, [](Input& in) { in.facts.sans.ip_addresses = {Ip("10.0.0.99")}; }),
       Action::kDeny,
       {"ipAddresses"},
       {},
       "IP address 10.0.0.99 is not an InternalIP/ExternalIP"},
      {"DnsAddressTypesAllVouch",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses.push_back({"ExternalDNS", "a.public.example.com"});
              in.facts.sans.dns_names = {"a.internal", "a.public.example.com",
                                         "a.nodes.example.com"};
            }),
       Action::kApprove,
       {},
       {}},
      {"IpAddressNeverVouchesForDns",
       With(Serving, [](Input& in) { in.facts.sans.dns_names = {"10.0.0.5"}; }),
       Action::kDeny,
       {"dnsNames"},
       {}},
      {"HostnameThatIsAnIpCountsAsIpOnly",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses = {{"Hostname", "10.0.0.7"}};
              in.facts.sans.dns_names = {};
              in.facts.sans.ip_addresses = {Ip("10.0.0.7")};
            }),
       Action::kApprove,
       {},
       {}},
      {"HostnameThatIsAnIpIsNotADnsName",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses = {{"Hostname", "10.0.0.7"}, {"InternalIP", "10.0.0.5"}};
              in.facts.sans.dns_names = {"10.0.0.7"};
            }),
       Action::kDeny,
       {"dnsNames"},
       {}},
      {"InternalIpDoesNotVouchAsDnsType",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses = {{"InternalDNS", "10.0.0.5"}};
              in.facts.sans.dns_names = {};
            }),
       Action::kDeny,
       {"ipAddresses"},
       {}},
      {"TrailingDotAndUpperCaseInSan",
       With(Serving, [](Input& in) { in.facts.sans.dns_names = {"A.Nodes.Example.COM."}; }),
       Action::kApprove,
       {},
       {}},
      {"TrailingDotAndUpperCaseInNodeAddress",
       With(Serving,
            [](Input& in) { in.nodes.node.node.addresses[0].address = "A.NODES.example.com."; }),
       Action::kApprove,
       {},
       {}},
      {"Ipv6LongFormAddressShortSan",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses[2].address = "2001:0db8:0000:0000:0000:0000:0000:0005";
              in.facts.sans.ip_addresses = {Ip("2001:db8::5")};
            }),
       Action::kApprove,
       {},
       {}},
      {"Ipv6ShortFormAddressLongSan",
       With(Serving, [](Input& in) { in.facts.sans.ip_addresses = {Ip("2001:0db8:0:0:0:0:0:5")}; }),
       Action::kApprove,
       {},
       {}},
      {"V4MappedNodeAddressMatchesV4San",
       With(Serving,
            [](Input& in) { in.nodes.node.node.addresses[1].address = "::ffff:10.0.0.5"; }),
       Action::kApprove,
       {},
       {}},
      {"V4MappedSanMatchesV4Address",
       With(Serving, [](Input& in) { in.facts.sans.ip_addresses = {Ip("::ffff:10.0.0.5")}; }),
       Action::kApprove,
       {},
       {}},
      {"DualStack",
       With(Serving,
            [](Input& in) {
              in.facts.sans.ip_addresses = {Ip("10.0.0.5"), Ip("2001:db8::5")};
            }),
       Action::kApprove,
       {},
       {}},
      {"PatternEntryMixedWithNodeAddresses",
       With(Serving,
            [](Input& in) {
              in.facts.sans.dns_names = {"a.nodes.example.com", "x.static.example.com"};
            }),
       Action::kApprove,
       {},
       {}},

      // --- identity
      {"RequestorIsADifferentNode",
       With(Serving, [](Input& in) { in.csr.username = "system:node:b"; }),
       Action::kDeny,
       {"commonName"},
       {"dnsNames", "ipAddresses"},
       "common name \"system:node:a\" is not the requestor's username \"system:node:b\""},
      {"Worker1AskingForWorker2sNames",
       With(Serving,
            [](Input& in) {
              in.csr.username = "system:node:worker-1";
              in.SetSubject({"system:node:worker-1"}, {"system:nodes"});
              in.nodes.node = KnownNode("worker-1", {{"Hostname", "worker-1.nodes.example.com"},
                                                     {"InternalIP", "10.0.0.1"}});
              in.facts.sans.dns_names = {"worker-2.nodes.example.com"};
              in.facts.sans.ip_addresses = {Ip("10.0.0.99")};
            }),
       Action::kDeny,
       {"dnsNames", "ipAddresses"},
       {},
       "\"worker-2.nodes.example.com\" is not a Hostname/InternalDNS/ExternalDNS address of Node "
       "\"worker-1\""},
      {"NotANodeUsername",
       With(Serving,
            [](Input& in) {
              in.csr.username = "system:serviceaccount:kube-system:x";
              in.SetSubject({"system:serviceaccount:kube-system:x"}, {"system:nodes"});
            }),
       Action::kDeny,
       {"nodeIdentity", "dnsNames", "ipAddresses"},
       {},
       "is not a node's (system:node:<name>)"},
      {"NodeNameNotDns1123",
       With(Serving,
            [](Input& in) {
              in.csr.username = "system:node:A_B";
              in.SetSubject({"system:node:A_B"}, {"system:nodes"});
            }),
       Action::kDeny,
       {"nodeIdentity", "dnsNames", "ipAddresses"},
       {},
       "not a DNS-1123 subdomain"},
      {"GroupsLackSystemNodes",
       With(Serving, [](Input& in) { in.csr.groups = {"system:authenticated"}; }),
       Action::kDeny,
       {"nodeIdentity"},
       {},
       "do not include \"system:nodes\""},
      {"ExtraOrganization",
       With(Serving,
            [](Input& in) {
              in.SetSubject({"system:node:a"}, {"system:nodes", "system:nodes"});
            }),
       Action::kDeny,
       {"nodeIdentity"},
       {},
       "are not exactly [\"system:nodes\"]"},
      {"NoOrganization",
       With(Serving, [](Input& in) { in.SetSubject({"system:node:a"}, {}); }),
       Action::kDeny,
       {"nodeIdentity"},
       {}},
      {"OrganizationalUnit",
       With(Serving,
            [](Input& in) {
              in.facts.organizational_units = {"x"};
              in.facts.subject.push_back({"OU", "2.5.4.11", "x"});
            }),
       Action::kDeny,
       {"nodeIdentity", "organizationalUnits"},
       {}},
      {"TwoCommonNames",
       With(Serving,
            [](Input& in) {
              in.SetSubject({"system:node:a", "system:node:a"}, {"system:nodes"});
            }),
       Action::kDeny,
       {"commonName"},
       {}},
      {"NoCommonName",
       With(Serving, [](Input& in) { in.SetSubject({}, {"system:nodes"}); }),
       Action::kDeny,
       {"commonName"},
       {}},
      {"UriSanRefused",
       With(Serving, [](Input& in) { in.facts.sans.uris = {"spiffe://x"}; }),
       Action::kDeny,
       {"uris"},
       {}},
      {"EmailSanRefused",
       With(Serving, [](Input& in) { in.facts.sans.email_addresses = {"a@example.com"}; }),
       Action::kDeny,
       {"emailAddresses"},
       {}},

      // --- facts not known yet
      {"NodeNotFoundWaits",
       With(Serving,
            [](Input& in) {
              in.nodes.node = NodeFact{FactState::kNotFound, {}, ""};
            }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a not found"},
      {"NodeNotGivenWaits",
       With(Serving, [](Input& in) { in.nodes.node = {}; }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a not given"},
      {"NodeLookupErrorWaits",
       With(Serving,
            [](Input& in) {
              in.nodes.node = NodeFact{FactState::kError, {}, "HTTP 503"};
            }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a could not be read: HTTP 503"},
      {"NodeWithoutAddressesWaits",
       With(Serving, [](Input& in) { in.nodes.node.node.addresses = {}; }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a has no addresses yet"},
      {"UninitializedNodeWaits",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.taint_keys = {"node.cloudprovider.kubernetes.io/uninitialized"};
            }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a is still tainted node.cloudprovider.kubernetes.io/uninitialized"},
      {"AnotherNodesObjectIsNotThisNode",
       With(Serving, [](Input& in) { in.nodes.node.node.name = "b"; }),
       Action::kPending,
       {},
       {"dnsNames", "ipAddresses"},
       "pending: Node a not given"},
      {"MissingNodeCannotSaveAWrongIdentity",
       With(Serving,
            [](Input& in) {
              in.nodes.node = NodeFact{FactState::kNotFound, {}, ""};
              in.csr.username = "system:node:b";
            }),
       Action::kDeny,
       {"commonName"},
       {"dnsNames", "ipAddresses"}},
      {"MissingNodeCannotSaveAReservedName",
       With(Serving,
            [](Input& in) {
              in.nodes.node = NodeFact{FactState::kNotFound, {}, ""};
              in.facts.sans.dns_names = {"kubernetes.default.svc"};
            }),
       Action::kDeny,
       {"reservedSANs"},
       {"dnsNames", "ipAddresses"}},
      {"PatternAllowedSansNeedNoNode",
       With(Serving,
            [](Input& in) {
              in.nodes.node = {};
              in.facts.sans.dns_names = {"x.static.example.com"};
              in.facts.sans.ip_addresses = {};
            }),
       Action::kApprove,
       {},
       {}},

      // --- reserved SANs, on every rule
      {"ReservedKubernetesNames",
       With(Serving,
            [](Input& in) {
              in = AnyGoes(
                  {"kubernetes", "kubernetes.default", "KUBERNETES.default.svc.",
                   "kubernetes.default.svc.corp.local", "db.prod.svc", "x.y.svc.corp.local"},
                  {});
            }),
       Action::kDeny,
       {"reservedSANs"},
       {},
       "\"KUBERNETES.default.svc.\" is reserved"},
      {"DefaultDomainIsNotThisRulesDomain",
       [] { return AnyGoes({"kubernetes.default.svc.cluster.local.x"}, {}); },
       Action::kApprove,
       {},
       {}},
      {"ServiceCidrIpIsReserved",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses.push_back({"InternalIP", "10.96.0.1"});
              in.facts.sans.ip_addresses = {Ip("10.96.0.1")};
            }),
       Action::kDeny,
       {"reservedSANs"},
       {},
       "IP address 10.96.0.1 is in a service CIDR"},
      {"ServiceCidrV6LongForm",
       With(Serving,
            [](Input& in) {
              in.nodes.node.node.addresses.push_back({"InternalIP", "fd00:10:96::1"});
              in.facts.sans.ip_addresses = {Ip("fd00:0010:0096:0000:0000:0000:0000:0001")};
            }),
       Action::kDeny,
       {"reservedSANs"},
       {}},
      {"ServerServiceCidrIsReserved",
       With(Serving,
            [](Input& in) {
              in.nodes.service_cidrs.ranges = {CidrRange::Parse("10.0.0.0/24").value()};
            }),
       Action::kDeny,
       {"reservedSANs"},
       {}},
      {"UnreadableServiceCidrsWaitForIpSans",
       With(Serving,
            [](Input& in) {
              in.nodes.service_cidrs = ServiceCidrFact{FactState::kError, {}, "HTTP 500"};
            }),
       Action::kPending,
       {},
       {"reservedSANs"},
       "pending: ServiceCIDRs could not be read: HTTP 500"},
      {"UnreadableServiceCidrsDoNotHoldDnsOnly",
       With(Serving,
            [](Input& in) {
              in.nodes.service_cidrs = ServiceCidrFact{FactState::kError, {}, "HTTP 500"};
              in.facts.sans.ip_addresses = {};
            }),
       Action::kApprove,
       {},
       {}},
      {"ReservedSansOff",
       [] {
         return AnyGoes({"kubernetes.default.svc"}, {Ip("10.96.0.1")}, "example.com/unreserved");
       },
       Action::kApprove,
       {},
       {}},

      // --- requestorAuthorized
      {"ReviewAllowed", Client, Action::kApprove, {}, {}},
      {"ReviewRefused",
       With(Client,
            [](Input& in) {
              in.nodes.review.allowed = false;
              in.nodes.review.reason = "no RBAC policy matched";
            }),
       Action::kDeny,
       {"requestorAuthorized"},
       {},
       "SubjectAccessReview for \"system:node:a\" to create "
       "certificates.k8s.io/certificatesigningrequests/selfnodeclient denied: no RBAC policy "
       "matched"},
      {"ReviewFailedWaits",
       With(Client,
            [](Input& in) {
              in.nodes.review = ReviewFact{FactState::kError, false, "", "HTTP 503"};
            }),
       Action::kPending,
       {},
       {"requestorAuthorized"},
       "could not be made: HTTP 503"},
      {"ReviewNotGivenWaits",
       With(Client, [](Input& in) { in.nodes.review = {}; }),
       Action::kPending,
       {},
       {"requestorAuthorized"},
       "not given"},
      {"ReviewMissingCannotSaveADifferentNode",
       With(Client,
            [](Input& in) {
              in.nodes.review = {};
              in.csr.username = "system:node:b";
            }),
       Action::kDeny,
       {"commonName"},
       {"requestorAuthorized"}},
  };
}

class NodeIdentityTest : public ::testing::TestWithParam<Case> {};

TEST_P(NodeIdentityTest, Decides) {
  const Case& c = GetParam();
  auto policy = KubeletPolicy();
  ASSERT_NE(policy, nullptr);
  const Input in = c.input();
  const Decision decision = Evaluate(*policy, in.csr, in.facts, in.nodes);
  std::set<std::string> failed, pending;
  std::string all;
  for (const CheckResult& check : decision.checks) {
    if (check.pending) {
      EXPECT_FALSE(check.passed) << check.name;
      pending.insert(check.name);
    } else if (!check.passed) {
      failed.insert(check.name);
    }
    all += "\n  " + check.name +
           (check.passed    ? " pass "
            : check.pending ? " wait "
                            : " FAIL ") +
           check.detail;
  }
  EXPECT_EQ(ActionName(decision.action), ActionName(c.action)) << all;
  EXPECT_EQ(failed, c.failed) << all;
  EXPECT_EQ(pending, c.pending) << all;
  if (!c.reason_part.empty()) {
    bool found = false;
    for (const std::string& reason : decision.reasons) {
      found = found || reason.find(c.reason_part) != std::string::npos;
    }
    EXPECT_TRUE(found) << "no reason contains \"" << c.reason_part << "\"" << all;
  }
  // A pending decision gives only pending reasons; a decided one none of them.
  for (const std::string& reason : decision.reasons) {
    EXPECT_EQ(reason.starts_with("pending: "), decision.action == Action::kPending) << reason;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, NodeIdentityTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(NodeIdentityTest, PendingReasonsAreNotRepeated) {
  auto policy = KubeletPolicy();
  ASSERT_NE(policy, nullptr);
  Input in = Serving();
  in.nodes.node = NodeFact{FactState::kNotFound, {}, ""};
  const Decision decision = Evaluate(*policy, in.csr, in.facts, in.nodes);
  EXPECT_EQ(decision.reasons, std::vector<std::string>{"pending: Node a not found"});
}

TEST(NodeIdentityTest, NeededFacts) {
  auto policy = KubeletPolicy();
  ASSERT_NE(policy, nullptr);
  Input serving = Serving();
  FactsNeeded needed = NeededFacts(*policy, serving.csr, serving.facts);
  EXPECT_EQ(needed.node_name, "a");
  EXPECT_FALSE(needed.review);
  EXPECT_TRUE(needed.service_cidrs);

  serving.facts.sans.ip_addresses = {};
  needed = NeededFacts(*policy, serving.csr, serving.facts);
  EXPECT_EQ(needed.node_name, "a");
  EXPECT_FALSE(needed.service_cidrs);

  Input client = Client();
  needed = NeededFacts(*policy, client.csr, client.facts);
  EXPECT_FALSE(needed.node_name);
  EXPECT_FALSE(needed.service_cidrs);
  ASSERT_TRUE(needed.review);
  EXPECT_EQ(needed.review->user, "system:node:a");
  EXPECT_EQ(needed.review->uid, "uid-a");
  EXPECT_EQ(needed.review->groups, client.csr.groups);
  EXPECT_EQ(needed.review->attributes,
            (ReviewAttributes{"certificates.k8s.io", "certificatesigningrequests", "selfnodeclient",
                              "create"}));

  // Decided, unselected and refused CSRs need nothing.
  Input decided = Serving();
  decided.csr.has_certificate = true;
  EXPECT_FALSE(NeededFacts(*policy, decided.csr, decided.facts).needs_any());
  Input unselected = Serving();
  unselected.csr.signer_name = "example.com/nobody";
  EXPECT_FALSE(NeededFacts(*policy, unselected.csr, unselected.facts).needs_any());
  EXPECT_FALSE(NeededFacts(*policy, serving.csr, Result<CsrFacts>(Error{"bad"})).needs_any());
  // A requestor that is no node names no Node to look up.
  Input not_node = Serving();
  not_node.csr.username = "alice";
  EXPECT_FALSE(NeededFacts(*policy, not_node.csr, not_node.facts).node_name);
}

TEST(NodeIdentityLoaderTest, Errors) {
  auto result = testing_policy::Parse(std::string(kHeader) + R"(rules:
  - name: r
    allowed:
      commonName: {nodeIdentity: false}
      dnsNames: [{nodeAddresses: "yes"}, {nodeAddresses: true, x: 1}]
      ipAddresses: [{nodeAddresses: false}]
    constraints:
      clusterDomain: "bad_domain"
      serviceCIDRs: [10.96.0.1/12]
      requestorAuthorized: {group: certificates.k8s.io, subresource: x}
      reservedSANs: maybe
    action: approve
)");
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.commonName.nodeIdentity", 6, 34,
                       "nodeIdentity: false means nothing"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.dnsNames[0].nodeAddresses", 7, 34,
                       "expected true or false"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.dnsNames[1].x", 7, 64, "unknown key \"x\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.ipAddresses[0].nodeAddresses", 8, 37,
                       "nodeAddresses: false means nothing"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].constraints.clusterDomain", 10, 22, "is not a DNS name"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].constraints.serviceCIDRs[0]", 11, 22, "host bits set"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.requestorAuthorized.resource", 12, 28,
                       "missing required key \"resource\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.requestorAuthorized.verb", 12, 28,
                       "missing required key \"verb\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.reservedSANs", 13, 21,
                       "expected true or false"));
}

TEST(NodeIdentityLoaderTest, NodeAddressesMixWithPatterns) {
  auto result = testing_policy::Parse(std::string(kHeader) + R"(rules:
  - name: r
    allowed:
      dnsNames: ["*.nodes.corp", {nodeAddresses: true}]
      ipAddresses: [{nodeAddresses: true}, 10.0.0.0/8]
      usages: [server auth]
    action: approve
)");
  ASSERT_NE(result.policy, nullptr) << DescribeIssues(result.errors);
  CsrObject csr;
  csr.username = "system:node:n1";
  csr.usages = {"server auth"};
  CsrFacts facts;
  facts.key = PublicKeyFacts{KeyAlgorithm::kEcdsa, 256, "P-256"};
  facts.sans.dns_names = {"x.nodes.corp", "n1.example.com"};
  facts.sans.ip_addresses = {Ip("10.1.2.3"), Ip("192.168.0.1")};
  NodeFacts nodes;
  nodes.node = KnownNode("n1", {{"Hostname", "n1.example.com"}, {"ExternalIP", "192.168.0.1"}});
  EXPECT_EQ(Evaluate(*result.policy, csr, facts, nodes).action, Action::kApprove);
  facts.sans.dns_names.push_back("other.example.com");
  const Decision denied = Evaluate(*result.policy, csr, facts, nodes);
  EXPECT_EQ(denied.action, Action::kDeny);
  ASSERT_EQ(denied.reasons.size(), 1u);
  EXPECT_NE(denied.reasons[0].find("\"other.example.com\""), std::string::npos);
}

}  // namespace
}  // namespace kca
