#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "kube_csr_approver/policy/policy.h"
#include "policy_test_util.h"

namespace kca {
namespace {

using testing_policy::DescribeIssues;
using testing_policy::kHeader;

// The table's main policy. ci-client governs the base CSR below, which passes every check.
constexpr std::string_view kRules = R"(defaultAction: log
protectedOrganizations: [platform:admins]
rules:
  - name: ci-client
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client]
      requestor:
        usernames: ["system:serviceaccount:ci:*"]
        groups: ["system:serviceaccounts:ci"]
    allowed:
      commonName: "ci-*"
      organizations: ["ci-runners", {regex: "team-[a-z]+"}, "platform:admins"]
      organizationalUnits: ["build?"]
      dnsNames: ["*.ci.example.com", "*.WILD.example.com.", {wildcard: "*.CI.example.com."},
                 {regex: "svc-[0-9]+\\.example\\.com"}]
      ipAddresses: ["10.0.0.0/8", "2001:db8::/32"]
      emailAddresses: ["*@example.com"]
      uris: ["spiffe://cluster.local/ns/ci/*"]
      usages: [digital signature, key encipherment, client auth]
    required:
      usages: [client auth]
      organizations: ["ci-runners"]
    constraints:
      keyAlgorithms: [RSA, ECDSA]
      minRSABits: 3072
      ecdsaCurves: [P-256, P-384]
      maxExpirationSeconds: 86400
    action: approve
    onViolation: deny
  - name: node-self
    selector:
      signerNames: ["example.com/*"]
    allowed:
      commonName: {sameAsRequestor: true}
      usages: [digital signature, server auth]
      isCA: false
    action: approve
    onViolation: log
  - name: ca-issuer
    selector:
      signerNames: [{regex: "ca\\.example\\.com/.+"}]
    allowed:
      commonName: "*"
      isCA: true
      usages: [cert sign, crl sign, digital signature]
    constraints: {keyAlgorithms: [Ed25519, ECDSA]}
    action: log
  - name: deny-masters
    selector:
      requestor: {groups: ["system:masters-wannabe"]}
    action: deny
)";

std::string MainPolicy() { return std::string(kHeader) + std::string(kRules); }

// One unselected rule approving what `allowed` permits; for checks the main policy lacks.
std::string OneRule(std::string_view allowed, std::string_view extra = "") {
  return std::string(kHeader) +
         "protectedOrganizations: [platform:admins]\n"
         "rules:\n"
         "  - name: only\n"
         "    allowed: " +
         std::string(allowed) + "\n" + std::string(extra) + "    action: approve\n";
}

SubjectAttribute Attribute(std::string type, std::string oid, std::string value) {
  return SubjectAttribute{std::move(type), std::move(oid), std::move(value)};
}

struct Input {
  CsrObject csr;
  CsrFacts facts;
  std::optional<std::string> refusal;  // when set, inspection failed with this message

  void SetCommonNames(std::vector<std::string> names) {
    facts.common_names = std::move(names);
    RebuildSubject();
  }
  void SetOrganizations(std::vector<std::string> names) {
    facts.organizations = std::move(names);
    RebuildSubject();
  }
  void SetUnits(std::vector<std::string> names) {
    facts.organizational_units = std::move(names);
    RebuildSubject();
  }
  // Keeps `subject` consistent with the views, as the inspector produces them.
  void RebuildSubject() {
    std::vector<SubjectAttribute> others;
    for (const SubjectAttribute& a : facts.subject) {
      if (a.type != "CN" && a.type != "O" && a.type != "OU") others.push_back(a);
    }
    facts.subject.clear();
    for (const auto& v : facts.common_names) facts.subject.push_back(Attribute("CN", "2.5.4.3", v));
    for (const auto& v : facts.organizations) {
      facts.subject.push_back(Attribute("O", "2.5.4.10", v));
    }
    for (const auto& v : facts.organizational_units) {
      facts.subject.push_back(Attribute("OU", "2.5.4.11", v));
    }
    for (auto& a : others) facts.subject.push_back(std::move(a));
  }
};

// A CSR that ci-client approves: every check passes.
Input BaseInput() {
  Input in;
  in.csr.name = "csr-ci";
  in.csr.signer_name = "kubernetes.io/kube-apiserver-client";
  in.csr.username = "system:serviceaccount:ci:builder";
  in.csr.groups = {"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"};
  in.csr.usages = {"digital signature", "key encipherment", "client auth"};
  in.csr.expiration_seconds = 3600;
  in.facts.key = PublicKeyFacts{KeyAlgorithm::kRsa, 3072, ""};
  in.facts.signature_algorithm = "sha256WithRSAEncryption";
  in.SetCommonNames({"ci-builder"});
  in.SetOrganizations({"ci-runners"});
  return in;
}

// The base request aimed at node-self: CN = username, server usages.
void AimAtNodeSelf(Input& in) {
  in.csr.signer_name = "example.com/serving";
  in.csr.username = "system:node:n1";
  in.csr.usages = {"digital signature", "server auth"};
  in.SetCommonNames({"system:node:n1"});
  in.SetOrganizations({});
}

void AimAtCaIssuer(Input& in) {
  in.csr.signer_name = "ca.example.com/intermediate";
  in.csr.usages = {"cert sign", "crl sign"};
  in.SetOrganizations({});
  in.facts.key = PublicKeyFacts{KeyAlgorithm::kEd25519, 256, ""};
  in.facts.extensions.has_basic_constraints = true;
  in.facts.extensions.basic_constraints_ca = true;
}

IpAddress Ip(std::string_view text) { return IpAddress::Parse(text).value(); }

struct Case {
  std::string name;
  std::function<void(Input&)> mutate;
  Action action;
  std::optional<std::string> rule;
  std::set<std::string> failed;  // names of the checks expected to fail
  std::string reason_part = "";  // a substring some reason must contain
  std::string policy = MainPolicy();
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const std::string kCi = "ci-client";
const std::string kNode = "node-self";
const std::string kCa = "ca-issuer";

std::vector<Case> Cases() {
  const std::string only = "only";
  return {
      // --- the base request and the commonName check
      {"AllChecksPass", [](Input&) {}, Action::kApprove, kCi, {}},
      {"CommonNameGlobMismatch",
       [](Input& in) { in.SetCommonNames({"prod-builder"}); },
       Action::kDeny,
       kCi,
       {"commonName"},
       "common name \"prod-builder\" does not match allowed.commonName \"ci-*\""},
      {"CommonNameAbsentPassesAPattern",
       [](Input& in) { in.SetCommonNames({}); },
       Action::kApprove,
       kCi,
       {}},
      {"TwoCommonNamesViolate",
       [](Input& in) {
         in.SetCommonNames({"ci-a", "ci-b"});
       },
       Action::kDeny,
       kCi,
       {"commonName"},
       "found 2 common names"},
      {"CommonNameRegexFullMatch",
       [](Input& in) { in.SetCommonNames({"ci-42"}); },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: {regex: \"ci-[0-9]+\"}, organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"CommonNameRegexIsAnchored",
       [](Input& in) { in.SetCommonNames({"xci-42"}); },
       Action::kDeny,
       only,
       {"commonName"},
       "does not match allowed.commonName {regex:",
       OneRule("{commonName: {regex: \"ci-[0-9]+\"}, organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"CommonNameNotAllowedWhenFieldAbsent",
       [](Input&) {},
       Action::kDeny,
       only,
       {"commonName"},
       "allowed.commonName is not set",
       OneRule("{organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"SameAsRequestorPasses", [](Input& in) { AimAtNodeSelf(in); }, Action::kApprove, kNode, {}},
      {"SameAsRequestorMismatch",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.SetCommonNames({"system:node:other"});
       },
       Action::kLog,
       kNode,
       {"commonName"},
       "common name \"system:node:other\" is not the requestor's username \"system:node:n1\""},
      {"SameAsRequestorNeedsARequestor",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.csr.username = "";
         in.SetCommonNames({""});
       },
       Action::kLog,
       kNode,
       {"commonName"},
       "the CSR has no spec.username to compare with"},
      {"SameAsRequestorNeedsACommonName",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.SetCommonNames({});
       },
       Action::kLog,
       kNode,
       {"commonName"},
       "no common name"},

      // --- organizations and organizational units
      {"OrganizationRegexEntryMatches",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "team-blue"});
       },
       Action::kApprove,
       kCi,
       {}},
      {"OrganizationNotAllowed",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "other"});
       },
       Action::kDeny,
       kCi,
       {"organizations"},
       "organization \"other\" does not match allowed.organizations [\"ci-runners\", "
       "{regex: \"team-[a-z]+\"}, \"platform:admins\"]"},
      {"BuiltinProtectedSystemMasters",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "system:masters"});
       },
       Action::kDeny,
       kCi,
       {"organizations"},
       "organization \"system:masters\" is protected and not named in allowed.organizations"},
      {"BuiltinProtectedKubeadmClusterAdmins",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "kubeadm:cluster-admins"});
       },
       Action::kDeny,
       kCi,
       {"organizations"},
       "\"kubeadm:cluster-admins\" is protected"},
      {"CustomProtectedNamedLiterallyPasses",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "platform:admins"});
       },
       Action::kApprove,
       kCi,
       {}},
      {"ProtectedNeverMatchedByStar",
       [](Input& in) { in.SetOrganizations({"kubeadm:cluster-admins"}); },
       Action::kDeny,
       only,
       {"organizations"},
       "is protected",
       OneRule("{commonName: \"*\", organizations: [\"*\"], usages: [digital signature, "
               "key encipherment, client auth]}")},
      {"ProtectedNeverMatchedByRegex",
       [](Input& in) { in.SetOrganizations({"system:masters"}); },
       Action::kDeny,
       only,
       {"organizations"},
       "is protected",
       OneRule("{commonName: \"*\", organizations: [{regex: \".*\"}], usages: [digital "
               "signature, key encipherment, client auth]}")},
      {"ProtectedCustomNotMatchedByGlob",
       [](Input& in) { in.SetOrganizations({"platform:admins"}); },
       Action::kDeny,
       only,
       {"organizations"},
       "\"platform:admins\" is protected",
       OneRule("{commonName: \"*\", organizations: [\"platform:*\"], usages: [digital "
               "signature, key encipherment, client auth]}")},
      {"ProtectedNamedLiterallyInOneRulePasses",
       [](Input& in) { in.SetOrganizations({"system:masters"}); },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [system:masters], usages: [digital "
               "signature, key encipherment, client auth]}")},
      {"StarAllowsOrdinaryOrganizations",
       [](Input& in) { in.SetOrganizations({"anything"}); },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [\"*\"], usages: [digital signature, "
               "key encipherment, client auth]}")},
      {"CaseVariantIsAnotherGroupNotProtected",
       [](Input& in) {
         in.SetOrganizations({"ci-runners", "System:Masters"});
       },
       Action::kDeny,
       kCi,
       {"organizations"},
       "organization \"System:Masters\" does not match"},
      {"OrganizationAbsentFieldAllowsNone",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.SetOrganizations({"system:nodes"});
       },
       Action::kLog,
       kNode,
       {"organizations"},
       "allowed.organizations (none)"},
      {"RequiredOrganizationMissing",
       [](Input& in) { in.SetOrganizations({"team-blue"}); },
       Action::kDeny,
       kCi,
       {"requiredOrganizations"},
       "required organization \"ci-runners\" is not among the request's organizations "
       "[\"team-blue\"]"},
      {"OrganizationalUnitQuestionMark",
       [](Input& in) { in.SetUnits({"build1"}); },
       Action::kApprove,
       kCi,
       {}},
      {"OrganizationalUnitQuestionMarkNeedsOneCharacter",
       [](Input& in) { in.SetUnits({"build"}); },
       Action::kDeny,
       kCi,
       {"organizationalUnits"},
       "organizational unit \"build\" does not match allowed.organizationalUnits [\"build?\"]"},
      {"OrganizationalUnitQuestionMarkIsOneUtf8Character",
       [](Input& in) { in.SetUnits({"build\xc3\xa9"}); },
       Action::kApprove,
       kCi,
       {}},

      // --- other subject attributes
      {"CountryAttributeViolates",
       [](Input& in) { in.facts.subject.push_back(Attribute("C", "2.5.4.6", "US")); },
       Action::kDeny,
       kCi,
       {"subjectAttributes"},
       "subject attribute C=\"US\" is not allowed; only CN, O and OU may appear"},
      {"EmailAttributeViolates",
       [](Input& in) {
         in.facts.subject.push_back(
             Attribute("emailAddress", "1.2.840.113549.1.9.1", "a@example.com"));
       },
       Action::kDeny,
       kCi,
       {"subjectAttributes"},
       "emailAddress=\"a@example.com\""},

      // --- SANs
      {"DnsGlobStarSpansDots",
       [](Input& in) { in.facts.sans.dns_names = {"a.b.ci.example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"DnsUppercaseAndTrailingDot",
       [](Input& in) { in.facts.sans.dns_names = {"Build.CI.Example.COM."}; },
       Action::kApprove,
       kCi,
       {}},
      {"DnsRegexIsCaseInsensitive",
       [](Input& in) { in.facts.sans.dns_names = {"SVC-12.example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"DnsNotAllowed",
       [](Input& in) { in.facts.sans.dns_names = {"evil.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "DNS name \"evil.com\" does not match allowed.dnsNames"},
      {"DnsTwoTrailingDotsKeepOne",
       [](Input& in) { in.facts.sans.dns_names = {"a.ci.example.com.."}; },
       Action::kDeny,
       kCi,
       {"dnsNames"}},
      {"WildcardDnsNeedsWildcardEntry",
       [](Input& in) { in.facts.sans.dns_names = {"*.ci.example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"WildcardDnsNotAllowedThroughGlob",
       [](Input& in) { in.facts.sans.dns_names = {"*.x.ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "wildcard DNS name \"*.x.ci.example.com\" is allowed only by an allowed.dnsNames entry "
       "{wildcard: \"*.x.ci.example.com\"}"},
      {"WildcardDnsNotAllowedByIdenticalGlob",
       // "*.WILD.example.com." is a glob: it allows a.wild.example.com, not the wildcard itself.
       [](Input& in) { in.facts.sans.dns_names = {"*.wild.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "wildcard DNS name \"*.wild.example.com\""},
      {"GlobStillAllowsNamesUnderIt",
       [](Input& in) { in.facts.sans.dns_names = {"a.wild.example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"WildcardDnsComparedAfterNormalisation",
       [](Input& in) { in.facts.sans.dns_names = {"*.CI.EXAMPLE.com."}; },
       Action::kApprove,
       kCi,
       {}},
      {"WildcardDnsNotAllowedByStar",
       [](Input& in) { in.facts.sans.dns_names = {"*.a.com"}; },
       Action::kDeny,
       only,
       {"dnsNames"},
       "wildcard DNS name",
       OneRule("{commonName: \"*\", organizations: [ci-runners], dnsNames: [\"*\"], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"DnsWithSpaceIsNotAHostnameThoughTheGlobMatches",
       [](Input& in) { in.facts.sans.dns_names = {"evil.com .ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "DNS name \"evil.com .ci.example.com\" is not a hostname"},
      {"DnsEmptyLabelIsNotAHostname",
       [](Input& in) { in.facts.sans.dns_names = {"a..ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "is not a hostname"},
      {"DnsUnderscoreIsNotAHostname",
       [](Input& in) { in.facts.sans.dns_names = {"_a.ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "is not a hostname"},
      {"DnsInnerStarIsNeitherHostnameNorWildcard",
       [](Input& in) { in.facts.sans.dns_names = {"a.*.ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "is not a hostname"},
      {"DnsLabelOf63Passes",
       [](Input& in) { in.facts.sans.dns_names = {std::string(63, 'a') + ".ci.example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"DnsLabelOf64IsNotAHostname",
       [](Input& in) { in.facts.sans.dns_names = {std::string(64, 'a') + ".ci.example.com"}; },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "is not a hostname"},
      {"DnsNameOf253Passes",
       // 3 labels of 59, one of 58, 3 dots and ".ci.example.com" (15): 253 characters.
       [](Input& in) {
         std::string l(59, 'b');
         in.facts.sans.dns_names = {l + "." + l + "." + l + "." + l.substr(1) + ".ci.example.com"};
       },
       Action::kApprove,
       kCi,
       {}},
      {"DnsNameOf254IsNotAHostname",
       [](Input& in) {  // one character more than the case above
         std::string l(59, 'b');
         in.facts.sans.dns_names = {l + "." + l + "." + l + "." + l + ".ci.example.com"};
       },
       Action::kDeny,
       kCi,
       {"dnsNames"},
       "is not a hostname"},
      {"DnsAbsentFieldAllowsNone",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.facts.sans.dns_names = {"n1.example.com"};
       },
       Action::kLog,
       kNode,
       {"dnsNames"},
       "allowed.dnsNames (none)"},
      {"Ipv4InsideCidr",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("10.1.2.3")}; },
       Action::kApprove,
       kCi,
       {}},
      {"Ipv4OutsideCidr",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("192.168.0.1")}; },
       Action::kDeny,
       kCi,
       {"ipAddresses"},
       "IP address 192.168.0.1 is not within allowed.ipAddresses [10.0.0.0/8, 2001:db8::/32]"},
      {"Ipv6InsideCidr",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("2001:db8::5")}; },
       Action::kApprove,
       kCi,
       {}},
      {"Ipv6OutsideCidr",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("2001:db9::1")}; },
       Action::kDeny,
       kCi,
       {"ipAddresses"},
       "2001:db9::1"},
      {"Ipv4MappedIsUnmapped",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("::ffff:10.0.0.7")}; },
       Action::kApprove,
       kCi,
       {}},
      {"BareAddressIsSingleHost",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("192.0.2.2")}; },
       Action::kDeny,
       only,
       {"ipAddresses"},
       "not within allowed.ipAddresses [192.0.2.1/32]",
       OneRule("{commonName: \"*\", organizations: [ci-runners], ipAddresses: [192.0.2.1], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"StarAllowsAnyIp",
       [](Input& in) { in.facts.sans.ip_addresses = {Ip("fe80::1")}; },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [ci-runners], ipAddresses: [\"*\"], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"EmailMatches",
       [](Input& in) { in.facts.sans.email_addresses = {"dev@example.com"}; },
       Action::kApprove,
       kCi,
       {}},
      {"EmailIsCaseSensitive",
       [](Input& in) { in.facts.sans.email_addresses = {"dev@EXAMPLE.com"}; },
       Action::kDeny,
       kCi,
       {"emailAddresses"},
       "email address \"dev@EXAMPLE.com\" does not match allowed.emailAddresses"},
      {"UriMatches",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/sa/builder"}; },
       Action::kApprove,
       kCi,
       {}},
      {"UriNotAllowed",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/prod/x"}; },
       Action::kDeny,
       kCi,
       {"uris"},
       "URI \"spiffe://cluster.local/ns/prod/x\" does not match"},
      {"UriDotDotSegmentRefusedThoughTheGlobMatches",
       [](Input& in) {
         in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/../kube-system/sa/admin"};
       },
       Action::kDeny,
       kCi,
       {"uris"},
       "is refused whatever the patterns: it has a \"..\" path segment"},
      {"UriEncodedDotDotSegmentRefused",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/%2e%2E/x/sa/admin"}; },
       Action::kDeny,
       kCi,
       {"uris"},
       "\"..\" path segment"},
      {"UriDotSegmentRefused",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/./sa"}; },
       Action::kDeny,
       kCi,
       {"uris"},
       "\".\" path segment"},
      {"UriEncodedSlashRefused",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/a%2F..%2Fb"}; },
       Action::kDeny,
       kCi,
       {"uris"},
       "encoded '/'"},
      {"UriUserinfoRefused",
       [](Input& in) { in.facts.sans.uris = {"spiffe://x@cluster.local/ns/ci/sa"}; },
       Action::kDeny,
       only,
       {"uris"},
       "userinfo",
       OneRule("{commonName: \"*\", organizations: [ci-runners], uris: [\"*\"], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"UriWithoutSchemeRefused",
       [](Input& in) { in.facts.sans.uris = {"//cluster.local/ns/ci/sa"}; },
       Action::kDeny,
       only,
       {"uris"},
       "not an absolute URI",
       OneRule("{commonName: \"*\", organizations: [ci-runners], uris: [\"*\"], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"UriWithSpaceRefused",
       [](Input& in) { in.facts.sans.uris = {"spiffe://cluster.local/ns/ci/a b"}; },
       Action::kDeny,
       kCi,
       {"uris"},
       "may not contain unescaped"},
      {"UrnWithoutAuthorityPasses",
       [](Input& in) { in.facts.sans.uris = {"urn:example:a.b"}; },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [ci-runners], uris: [\"urn:*\"], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"OtherSanTypeViolates",
       [](Input& in) { in.facts.sans.other = {"otherName 1.3.6.1.4.1.311.20.2.3"}; },
       Action::kDeny,
       kCi,
       {"otherNames"},
       "otherName 1.3.6.1.4.1.311.20.2.3 is not allowed"},

      // --- usages, isCA
      {"UsagesSubsetPasses",
       [](Input& in) { in.csr.usages = {"client auth"}; },
       Action::kApprove,
       kCi,
       {}},
      {"UsageOutsideAllowed",
       [](Input& in) {
         in.csr.usages = {"client auth", "server auth"};
       },
       Action::kDeny,
       kCi,
       {"usages"},
       "usage \"server auth\" is not in allowed.usages [digital signature, key encipherment, "
       "client auth]"},
      {"UnknownUsageViolates",
       [](Input& in) {
         in.csr.usages = {"client auth", "bogus"};
       },
       Action::kDeny,
       kCi,
       {"usages"},
       "usage \"bogus\" is not a Kubernetes key usage"},
      {"RequiredUsageMissing",
       [](Input& in) { in.csr.usages = {"digital signature"}; },
       Action::kDeny,
       kCi,
       {"requiredUsages"},
       "required usages [client auth] are missing"},
      {"CaRequestViolatesByDefault",
       [](Input& in) {
         in.facts.extensions.has_basic_constraints = true;
         in.facts.extensions.basic_constraints_ca = true;
       },
       Action::kDeny,
       kCi,
       {"isCA"},
       "basicConstraints CA:TRUE"},
      {"NonCaBasicConstraintsPasses",
       [](Input& in) { in.facts.extensions.has_basic_constraints = true; },
       Action::kApprove,
       kCi,
       {}},
      {"CaRequestAllowedWhenIsCaTrue", [](Input& in) { AimAtCaIssuer(in); }, Action::kLog, kCa, {}},

      // --- key and expiration constraints
      {"EcdsaP256Passes",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kEcdsa, 256, "P-256"};
       },
       Action::kApprove,
       kCi,
       {}},
      {"EcdsaCurveNotListed",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kEcdsa, 521, "P-521"};
       },
       Action::kDeny,
       kCi,
       {"ecdsaCurve"},
       "ECDSA curve \"P-521\" is not in constraints.ecdsaCurves [P-256, P-384]"},
      {"Ed25519NotListed",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kEd25519, 256, ""};
       },
       Action::kDeny,
       kCi,
       {"keyAlgorithm"},
       "key algorithm Ed25519 is not in constraints.keyAlgorithms [RSA, ECDSA]"},
      {"RsaBelowMinimum",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kRsa, 2048, ""};
       },
       Action::kDeny,
       kCi,
       {"rsaKeyBits"},
       "RSA key of 2048 bits is below constraints.minRSABits 3072"},
      {"RsaDefaultMinimumIs2048",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kRsa, 1024, ""};
       },
       Action::kDeny,
       only,
       {"rsaKeyBits"},
       "below constraints.minRSABits 2048",
       OneRule("{commonName: \"*\", organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"DefaultCurvesIncludeP521",
       [](Input& in) {
         in.facts.key = {KeyAlgorithm::kEcdsa, 521, "P-521"};
       },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"RsaNotAllowedForCaIssuer",
       [](Input& in) {
         AimAtCaIssuer(in);
         in.facts.key = {KeyAlgorithm::kRsa, 4096, ""};
       },
       Action::kDeny,
       kCa,
       {"keyAlgorithm"}},
      {"ExpirationMissingWhenLimited",
       [](Input& in) { in.csr.expiration_seconds.reset(); },
       Action::kDeny,
       kCi,
       {"expiration"},
       "spec.expirationSeconds is not set"},
      {"ExpirationOverLimit",
       [](Input& in) { in.csr.expiration_seconds = 86401; },
       Action::kDeny,
       kCi,
       {"expiration"},
       "spec.expirationSeconds 86401 exceeds constraints.maxExpirationSeconds 86400"},
      {"ExpirationBelowApiMinimum",
       [](Input& in) { in.csr.expiration_seconds = 599; },
       Action::kDeny,
       kCi,
       {"expiration"},
       "spec.expirationSeconds 599 is below the API's minimum of 600"},
      {"ExpirationBelowApiMinimumWithoutLimit",
       [](Input& in) { in.csr.expiration_seconds = 1; },
       Action::kDeny,
       only,
       {"expiration"},
       "below the API's minimum",
       OneRule("{commonName: \"*\", organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"ExpirationAtApiMinimum",
       [](Input& in) { in.csr.expiration_seconds = 600; },
       Action::kApprove,
       kCi,
       {}},
      {"ExpirationAtLimit",
       [](Input& in) { in.csr.expiration_seconds = 86400; },
       Action::kApprove,
       kCi,
       {}},
      {"NoExpirationLimitByDefault",
       [](Input& in) { in.csr.expiration_seconds.reset(); },
       Action::kApprove,
       only,
       {},
       "",
       OneRule("{commonName: \"*\", organizations: [ci-runners], "
               "usages: [digital signature, key encipherment, client auth]}")},
      {"EveryFailureIsReported",
       [](Input& in) {
         in.SetCommonNames({"root"});
         in.SetOrganizations({"ci-runners", "system:masters"});
         in.csr.usages.push_back("server auth");
         in.facts.key = {KeyAlgorithm::kRsa, 1024, ""};
       },
       Action::kDeny,
       kCi,
       {"commonName", "organizations", "usages", "rsaKeyBits"}},

      // --- selection
      {"SignerNotSelected",
       [](Input& in) { in.csr.signer_name = "kubernetes.io/kubelet-serving"; },
       Action::kLog,
       std::nullopt,
       {},
       "no rule selects this CSR"},
      {"UsernameNotSelected",
       [](Input& in) { in.csr.username = "alice"; },
       Action::kLog,
       std::nullopt,
       {},
       "no rule selects this CSR"},
      {"GroupNotSelected",
       [](Input& in) { in.csr.groups = {"system:authenticated"}; },
       Action::kLog,
       std::nullopt,
       {}},
      {"AnyOneGroupSelects",
       [](Input& in) { in.csr.groups = {"system:serviceaccounts:ci"}; },
       Action::kApprove,
       kCi,
       {}},
      {"SignerRegexSelects", [](Input& in) { AimAtCaIssuer(in); }, Action::kLog, kCa, {}},
      {"SignerRegexIsAnchored",
       [](Input& in) {
         AimAtCaIssuer(in);
         in.csr.signer_name = "xca.example.com/intermediate";
       },
       Action::kLog,
       std::nullopt,
       {}},
      {"GroupOnlySelectorDenyRule",
       [](Input& in) {
         in.csr.signer_name = "other.io/x";
         in.csr.groups = {"system:masters-wannabe"};
       },
       Action::kDeny,
       "deny-masters",
       {"commonName", "organizations", "usages"}},
      {"UsernameRegexSelects",
       [](Input& in) {
         in.csr.username = "u-17";
         in.csr.groups = {"system:authenticated", "team-blue"};
       },
       Action::kApprove,
       "by-user",
       {},
       "",
       std::string(kHeader) +
           "rules:\n"
           "  - name: by-user\n"
           "    selector: {requestor: {usernames: [{regex: \"u-[0-9]+\"}], groups: [\"team-*\"]}}\n"
           "    allowed: {commonName: \"*\", organizations: [\"*\"], usages: [digital signature, "
           "key encipherment, client auth]}\n"
           "    action: approve\n"},
      {"UsernameRegexSelectsOnlyWholeName",
       [](Input& in) { in.csr.username = "u-17x"; },
       Action::kLog,
       std::nullopt,
       {},
       "",
       std::string(kHeader) + "rules:\n"
                              "  - name: by-user\n"
                              "    selector: {requestor: {usernames: [{regex: \"u-[0-9]+\"}]}}\n"
                              "    action: approve\n"},
      {"FirstMatchingRuleGoverns",
       [](Input&) {},
       Action::kLog,
       "first",
       {},
       "",
       std::string(kHeader) +
           "rules:\n"
           "  - name: first\n"
           "    selector: {signerNames: [\"kubernetes.io/*\"]}\n"
           "    allowed: {commonName: \"*\", organizations: [\"*\"], usages: [digital signature, "
           "key encipherment, client auth]}\n"
           "    action: log\n"
           "  - name: second\n"
           "    allowed: {commonName: \"*\", organizations: [\"*\"], usages: [digital signature, "
           "key encipherment, client auth]}\n"
           "    action: approve\n"},
      {"DefaultActionDeny",
       [](Input&) {},
       Action::kDeny,
       std::nullopt,
       {},
       "no rule selects this CSR",
       std::string(kHeader) + "defaultAction: deny\nrules: []\n"},
      {"DefaultActionDefaultsToLog",
       [](Input&) {},
       Action::kLog,
       std::nullopt,
       {},
       "",
       std::string(kHeader)},

      // --- step 1 and step 3
      {"SkipApproved",
       [](Input& in) {
         in.csr.conditions = {CsrCondition{"Approved", "True", "", "", "", ""}};
       },
       Action::kSkip,
       std::nullopt,
       {},
       "condition Approved is True"},
      {"SkipDenied",
       [](Input& in) {
         in.csr.conditions = {CsrCondition{"Denied", "True", "", "", "", ""}};
       },
       Action::kSkip,
       std::nullopt,
       {}},
      {"SkipFailed",
       [](Input& in) {
         in.csr.conditions = {CsrCondition{"Failed", "True", "", "", "", ""}};
       },
       Action::kSkip,
       std::nullopt,
       {}},
      {"SkipIssued",
       [](Input& in) { in.csr.has_certificate = true; },
       Action::kSkip,
       std::nullopt,
       {},
       "certificate has already been issued"},
      {"ConditionNotTrueDoesNotSkip",
       [](Input& in) {
         in.csr.conditions = {CsrCondition{"Approved", "False", "", "", "", ""},
                              CsrCondition{"Pending", "True", "", "", "", ""}};
       },
       Action::kApprove,
       kCi,
       {}},
      {"InspectionRefusalTakesOnViolation",
       [](Input& in) { in.refusal = "the request's signature does not verify"; },
       Action::kDeny,
       kCi,
       {"request"},
       "spec.request was refused: the request's signature does not verify"},
      {"InspectionRefusalOnLogRule",
       [](Input& in) {
         AimAtNodeSelf(in);
         in.refusal = "not a PEM block";
       },
       Action::kLog,
       kNode,
       {"request"},
       "not a PEM block"},
  };
}

class EvaluateTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(EvaluateTableTest, DecidesAsSpecified) {
  const Case& c = GetParam();
  auto loaded = ParsePolicy(c.policy, "policy.yaml");
  ASSERT_TRUE(loaded.errors.empty()) << DescribeIssues(loaded.errors);
  Input in = BaseInput();
  c.mutate(in);
  Result<CsrFacts> facts =
      in.refusal ? Result<CsrFacts>(Error{*in.refusal}) : Result<CsrFacts>(in.facts);
  Decision decision = Evaluate(*loaded.policy, in.csr, facts);

  std::string all_reasons;
  for (const auto& reason : decision.reasons) all_reasons += "\n  " + reason;
  EXPECT_EQ(ActionName(decision.action), ActionName(c.action)) << all_reasons;
  EXPECT_EQ(decision.rule, c.rule);
  std::set<std::string> failed;
  std::vector<std::string> failure_details;
  for (const CheckResult& check : decision.checks) {
    if (!check.passed) {
      failed.insert(check.name);
      failure_details.push_back(check.detail);
    }
    EXPECT_FALSE(check.detail.empty()) << check.name;
  }
  EXPECT_EQ(failed, c.failed) << all_reasons;
  if (decision.action != Action::kSkip && decision.rule) {
    // Reasons are exactly the failed checks' details.
    EXPECT_EQ(decision.reasons, failure_details);
  }
  if (!c.reason_part.empty()) {
    EXPECT_NE(all_reasons.find(c.reason_part), std::string::npos)
        << "expected \"" << c.reason_part << "\" in:" << all_reasons;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, EvaluateTableTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(EvaluateTest, TableIsLargeEnough) { EXPECT_GE(Cases().size(), 60u); }

Decision EvaluateWith(const std::string& policy_text, const Input& in) {
  auto loaded = ParsePolicy(policy_text, "policy.yaml");
  EXPECT_TRUE(loaded.errors.empty()) << DescribeIssues(loaded.errors);
  if (!loaded.policy) return Decision{};
  return Evaluate(*loaded.policy, in.csr, in.facts);
}

// The seed walkthrough: a user asks the API server's client signer for a certificate in
// kubeadm:cluster-admins (which the API server does not block, unlike system:masters).
Input SeedWalkthroughRequest() {
  Input in;
  in.csr.name = "gasida-cert";
  in.csr.signer_name = "kubernetes.io/kube-apiserver-client";
  in.csr.username = "kubernetes-admin";
  in.csr.groups = {"kubeadm:cluster-admins", "system:authenticated"};
  in.csr.usages = {"client auth"};
  in.facts.key = PublicKeyFacts{KeyAlgorithm::kRsa, 2048, ""};
  in.SetCommonNames({"gasida-cert"});
  in.SetOrganizations({"kubeadm:cluster-admins"});
  return in;
}

std::string SeedPolicy(std::string_view organizations) {
  return std::string(kHeader) +
         "rules:\n"
         "  - name: api-clients\n"
         "    selector: {signerNames: [kubernetes.io/kube-apiserver-client]}\n"
         "    allowed:\n"
         "      commonName: \"*\"\n"
         "      organizations: " +
         std::string(organizations) +
         "\n"
         "      usages: [digital signature, key encipherment, client auth]\n"
         "    action: approve\n";
}

TEST(EvaluateTest, SeedWalkthroughDeniedUnderWildcardOrganizations) {
  for (const char* organizations :
       {"[\"*\"]", "[{regex: \".*\"}]", "[\"kubeadm:*\"]",
        "[\"*\", {regex: \"kubeadm:.*\"}, \"kubeadm:cluster-admin?\"]"}) {
    Decision decision = EvaluateWith(SeedPolicy(organizations), SeedWalkthroughRequest());
    EXPECT_EQ(decision.action, Action::kDeny) << organizations;
    ASSERT_EQ(decision.reasons.size(), 1u) << organizations;
    EXPECT_EQ(decision.reasons[0],
              "organization \"kubeadm:cluster-admins\" is protected and not named in "
              "allowed.organizations");
  }
}

TEST(EvaluateTest, SeedWalkthroughApprovedOnlyWhenNamedLiterally) {
  Decision decision =
      EvaluateWith(SeedPolicy("[\"kubeadm:cluster-admins\"]"), SeedWalkthroughRequest());
  EXPECT_EQ(decision.action, Action::kApprove);
  EXPECT_TRUE(decision.reasons.empty());
}

TEST(EvaluateTest, SignerLabelIsBoundedByThePolicyText) {
  auto loaded = ParsePolicy(MainPolicy(), "policy.yaml");
  ASSERT_NE(loaded.policy, nullptr);
  Input in = BaseInput();
  auto label = [&](std::string signer) {
    in.csr.signer_name = std::move(signer);
    return Evaluate(*loaded.policy, in.csr, in.facts).signer_label;
  };
  EXPECT_EQ(label("kubernetes.io/kube-apiserver-client"), "kubernetes.io/kube-apiserver-client");
  EXPECT_EQ(label("example.com/anything-a-user-invents"), "example.com/*");
  EXPECT_EQ(label("ca.example.com/x"), "ca\\.example\\.com/.+");
  EXPECT_EQ(label("made.up/signer"), "other");
  // Kubernetes reserves kubernetes.io/: its five signers are bounded, so labels as themselves.
  EXPECT_EQ(label("kubernetes.io/kubelet-serving"), "kubernetes.io/kubelet-serving");
  EXPECT_EQ(label("kubernetes.io/kube-apiserver-client-pod"),
            "kubernetes.io/kube-apiserver-client-pod");
  EXPECT_EQ(label("kubernetes.io/made-up"), "other");
  // Also for CSRs that are skipped.
  in.csr.has_certificate = true;
  EXPECT_EQ(label("kubernetes.io/kube-apiserver-client"), "kubernetes.io/kube-apiserver-client");
}

TEST(DecisionSeriesTest, EveryRuleDecisionAndSignerLabelThePolicyCanCount) {
  auto loaded = ParsePolicy(R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
defaultAction: deny
rules:
  - name: devs
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client, "example.com/*"]
    allowed: {commonName: "x"}
    action: approve
    onViolation: log
  - name: everything
    action: deny
)",
                            "policy.yaml");
  ASSERT_NE(loaded.policy, nullptr);
  std::set<std::string> got;
  for (const DecisionSeries& one : DecisionSeriesOf(*loaded.policy)) {
    got.insert(one.rule + "|" + std::string(ActionName(one.action)) + "|" + one.signer);
  }
  for (const std::string want :
       {"devs|approve|kubernetes.io/kube-apiserver-client",
        "devs|log|kubernetes.io/kube-apiserver-client", "devs|approve|example.com/*",
        "devs|log|example.com/*", "everything|deny|kubernetes.io/kubelet-serving",
        "everything|deny|example.com/*", "everything|deny|other", "none|deny|other",
        "none|deny|kubernetes.io/legacy-unknown"}) {
    EXPECT_EQ(got.count(want), 1u) << want;
  }
  EXPECT_EQ(got.count("devs|approve|other"), 0u) << "devs never selects an unnamed signer";
  EXPECT_EQ(got.count("devs|deny|example.com/*"), 0u) << "devs never denies";
  EXPECT_EQ(got.count("devs|approve|kubernetes.io/kubelet-serving"), 0u);
  // rules x decisions x labels: 2*2 + 1*(1 literal + 1 pattern + 4 more kubernetes + other) + 7.
  EXPECT_EQ(got.size(), 4u + 7u + 7u);
}

TEST(EvaluateTest, EveryCheckRunsAndDetailsNameFoundAndAllowed) {
  auto loaded = ParsePolicy(MainPolicy(), "policy.yaml");
  ASSERT_NE(loaded.policy, nullptr);
  Decision decision = Evaluate(*loaded.policy, BaseInput().csr, BaseInput().facts);
  std::vector<std::string> names;
  for (const CheckResult& check : decision.checks) {
    names.push_back(check.name);
    EXPECT_TRUE(check.passed) << check.name << ": " << check.detail;
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "commonName", "organizations", "organizationalUnits",
                       "requiredOrganizations", "subjectAttributes", "dnsNames", "ipAddresses",
                       "emailAddresses", "uris", "otherNames", "reservedSANs", "usages",
                       "requiredUsages", "isCA", "keyAlgorithm", "rsaKeyBits", "expiration"}));
  EXPECT_EQ(decision.checks[0].detail, "common name \"ci-builder\" matches \"ci-*\"");
  EXPECT_EQ(decision.checks[16].detail,
            "spec.expirationSeconds 3600 is within constraints.maxExpirationSeconds 86400");
}

TEST(EvaluateTest, ActionNames) {
  EXPECT_EQ(ActionName(Action::kApprove), "approve");
  EXPECT_EQ(ActionName(Action::kDeny), "deny");
  EXPECT_EQ(ActionName(Action::kLog), "log");
  EXPECT_EQ(ActionName(Action::kSkip), "skip");
  EXPECT_EQ(ActionName(Action::kPending), "pending");
}

}  // namespace
}  // namespace kca
