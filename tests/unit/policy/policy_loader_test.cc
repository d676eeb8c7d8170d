#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "kube_csr_approver/policy/policy.h"
#include "policy_test_util.h"

namespace kca {
namespace {

using testing_policy::DescribeIssues;
using testing_policy::HasIssue;
using testing_policy::kHeader;
using testing_policy::Parse;

std::string WithHeader(std::string_view rest) { return std::string(kHeader) + std::string(rest); }

TEST(PolicyLoaderTest, LoadsTheDesignExample) {
  auto result = Parse(WithHeader(R"(defaultAction: log
protectedOrganizations:
  - platform:admins
rules:
  - name: ci-client-certs
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client]
      requestor:
        usernames: ["system:serviceaccount:ci:*"]
        groups: ["system:serviceaccounts:ci"]
    allowed:
      commonName: "ci-*"
      organizations: ["ci-runners"]
      organizationalUnits: []
      dnsNames: []
      ipAddresses: []
      emailAddresses: []
      uris: []
      usages: [digital signature, key encipherment, client auth]
      isCA: false
    required:
      usages: [client auth]
      organizations: []
    constraints:
      keyAlgorithms: [RSA, ECDSA, Ed25519]
      minRSABits: 2048
      ecdsaCurves: [P-256, P-384]
      maxExpirationSeconds: 86400
    action: approve
    onViolation: deny
)"));
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  ASSERT_NE(result.policy, nullptr);
  EXPECT_TRUE(result.warnings.empty()) << DescribeIssues(result.warnings);
  PolicySummary summary = Summarize(*result.policy);
  EXPECT_EQ(summary.rule_names, std::vector<std::string>{"ci-client-certs"});
  EXPECT_EQ(summary.literal_signer_names,
            std::vector<std::string>{"kubernetes.io/kube-apiserver-client"});
}

TEST(PolicyLoaderTest, SummaryHashesTheExactTextAndListsLiteralSignersOnly) {
  // Digest computed independently with `printf '%s' TEXT | sha256sum`.
  const std::string text =
      "apiVersion: csr.approver.io/v1\n"
      "kind: ApprovalPolicy\n"
      "rules:\n"
      "  - name: a\n"
      "    selector: {signerNames: [example.com/one, \"example.com/*\", {regex: x/.+}]}\n"
      "    action: log\n"
      "  - name: b\n"
      "    selector: {signerNames: [example.com/one, example.com/two]}\n"
      "    action: log\n";
  auto result = Parse(text);
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  PolicySummary summary = Summarize(*result.policy);
  EXPECT_EQ(summary.sha256, "0ae03e58b3d7cf67164091d490f219ffde925e9d79f2a07e8aa16c71240ca176");
  EXPECT_EQ(summary.rule_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(summary.literal_signer_names,
            (std::vector<std::string>{"example.com/one", "example.com/two"}));
}

TEST(PolicyLoaderTest, DefaultsWhenOptionalPartsAreAbsent) {
  auto result = Parse(WithHeader("rules:\n  - name: r1\n    action: deny\n"));
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  auto empty = Parse(kHeader);
  ASSERT_TRUE(empty.errors.empty()) << DescribeIssues(empty.errors);
  EXPECT_TRUE(Summarize(*empty.policy).rule_names.empty());
}

TEST(PolicyLoaderTest, AcceptsJson) {
  auto result = Parse(R"({"apiVersion": "csr.approver.io/v1", "kind": "ApprovalPolicy",
    "defaultAction": "deny",
    "rules": [{"name": "a", "action": "approve", "onViolation": "log",
               "allowed": {"commonName": {"regex": "x-[0-9]+"}, "usages": ["client auth"],
                           "isCA": false},
               "constraints": {"minRSABits": 3072}}]})");
  EXPECT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  EXPECT_NE(result.policy, nullptr);
}

TEST(PolicyLoaderTest, JsonStringWhereABooleanIsExpectedIsAnError) {
  auto result = Parse(R"({"apiVersion": "csr.approver.io/v1", "kind": "ApprovalPolicy",
"rules": [{"name": "a", "action": "log", "allowed": {"isCA": "false"}}]})");
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.isCA", 2, 62, "expected true or false"));
}

TEST(PolicyLoaderTest, UnknownKeysAreErrors) {
  auto result =
      Parse(WithHeader("metadata: {}\n"         // 3
                       "rules:\n"               // 4
                       "  - name: a\n"          // 5
                       "    action: approve\n"  // 6
                       "    allowed:\n"         // 7
                       "      dnsName: [x]\n"   // 8
                       "    selecter: {}\n"));  // 9
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "metadata", 3, 1, "unknown key \"metadata\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.dnsName", 8, 7,
                       "unknown key \"dnsName\"; expected one of: commonName"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].selecter", 9, 5, "unknown key \"selecter\""));
  EXPECT_EQ(result.errors.size(), 3u) << DescribeIssues(result.errors);
}

// A key is quoted escaped in the message: a terminal escape or a newline in a policy file cannot
// forge or colour the lines an admin reads.
TEST(PolicyLoaderTest, UnknownKeysAreQuotedEscaped) {
  auto result = Parse(WithHeader("\"me\\e[31mta\\nx\": {}\n"));
  EXPECT_EQ(result.policy, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << DescribeIssues(result.errors);
  EXPECT_NE(result.errors[0].message.find("unknown key \"me\\x1b[31mta\\x0ax\""),
            std::string::npos)
      << result.errors[0].message;
}

TEST(PolicyLoaderTest, DuplicateKeysNameBothPositions) {
  auto result =
      Parse(WithHeader("rules:\n"                   // 3
                       "  - name: a\n"              // 4
                       "    action: approve\n"      // 5
                       "    action: deny\n"         // 6
                       "kind: ApprovalPolicy\n"));  // 7
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].action", 6, 5,
                       "duplicate key \"action\" (first at line 5, column 5)"));
  EXPECT_TRUE(
      HasIssue(result.errors, "kind", 7, 1, "duplicate key \"kind\" (first at line 2, column 1)"));
}

TEST(PolicyLoaderTest, WrongTypesAreErrors) {
  auto result =
      Parse(WithHeader("rules:\n"                           // 3
                       "  - name: a\n"                      // 4
                       "    action: approve\n"              // 5
                       "    allowed:\n"                     // 6
                       "      organizations: ci-runners\n"  // 7
                       "      isCA: \"true\"\n"             // 8
                       "      uris:\n"                      // 9
                       "    constraints:\n"                 // 10
                       "      minRSABits: \"2048\"\n"       // 11
                       "      maxExpirationSeconds: 1.5\n"  // 12
                       "    required: [client auth]\n"));   // 13
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.organizations", 7, 22,
                       "expected a list, found the scalar \"ci-runners\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.isCA", 8, 13, "expected true or false"));
  // A null value has no position of its own: its key's is used.
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.uris", 9, 7, "expected a list, found null"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.minRSABits", 11, 19,
                       "expected a positive integer"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.maxExpirationSeconds", 12, 29,
                       "expected a positive integer, found the scalar \"1.5\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].required", 13, 15,
                       "expected a mapping with keys usages, organizations, found a list"));
}

TEST(PolicyLoaderTest, UnquotedYaml11BooleansAreNotStrings) {
  auto result =
      Parse(WithHeader("rules:\n"                                          // 3
                       "  - name: a\n"                                     // 4
                       "    action: approve\n"                             // 5
                       "    allowed:\n"                                    // 6
                       "      commonName: NO\n"                            // 7
                       "      organizations: [yes, \"no\", 123, on]\n"));  // 8
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.commonName", 7, 19,
                       "YAML 1.1 boolean NO; quote it (\"NO\")"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.organizations[0]", 8, 23, "YAML 1.1 boolean yes"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.organizations[3]", 8, 39, "YAML 1.1 boolean on"));
  // Quoted "no" and the plain number 123 are strings.
  EXPECT_EQ(result.errors.size(), 3u) << DescribeIssues(result.errors);
}

TEST(PolicyLoaderTest, ExplicitStringTagIsAStringOtherTagsAreNot) {
  auto ok = Parse(
      WithHeader("rules:\n  - name: a\n    action: log\n    allowed: {commonName: !!str yes}\n"));
  EXPECT_TRUE(ok.errors.empty()) << DescribeIssues(ok.errors);
  auto bad = Parse(
      WithHeader("rules:\n  - name: a\n    action: log\n    allowed: {commonName: !custom x}\n"));
  EXPECT_TRUE(HasIssue(bad.errors, "rules[0].allowed.commonName", 6, 27, "unsupported tag"));
}

TEST(PolicyLoaderTest, RuleNamesMustBePresentValidAndUnique) {
  auto result =
      Parse(WithHeader("rules:\n"              // 3
                       "  - name: a\n"         // 4
                       "    action: log\n"     // 5
                       "  - name: a\n"         // 6
                       "    action: log\n"     // 7
                       "  - name: \"\"\n"      // 8
                       "    action: log\n"     // 9
                       "  - name: Bad_Name\n"  // 10
                       "    action: log\n"     // 11
                       "  - action: log\n"));  // 12
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[1].name", 6, 11,
                       "duplicate rule name \"a\" (first used by rules[0] at line 4, column 11)"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[2].name", 8, 11, "a rule name may not be empty"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[3].name", 10, 11,
                       "invalid rule name \"Bad_Name\"; use only lowercase letters"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[4].name", 12, 5, "missing required key \"name\""));
}

TEST(PolicyLoaderTest, ActionsAreChecked) {
  auto result =
      Parse(WithHeader("defaultAction: approve\n"    // 3
                       "rules:\n"                    // 4
                       "  - name: a\n"               // 5
                       "    action: skip\n"          // 6
                       "    onViolation: approve\n"  // 7
                       "  - name: b\n"));            // 8
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "defaultAction", 3, 16, "defaultAction may not be approve"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].action", 6, 13,
                       "expected approve, deny or log, found \"skip\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].onViolation", 7, 18,
                       "expected deny or log, found \"approve\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[1].action", 8, 5, "missing required key \"action\""));
}

TEST(PolicyLoaderTest, BadRegexCarriesRe2Message) {
  auto result =
      Parse(WithHeader("rules:\n"                                     // 3
                       "  - name: a\n"                                // 4
                       "    action: log\n"                            // 5
                       "    allowed:\n"                               // 6
                       "      uris: [{regex: \"spiffe://(x\"}]\n"));  // 7
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.uris[0].regex", 7, 22, "missing )"));
}

TEST(PolicyLoaderTest, OversizedRegexIsRefused) {
  // Each regex gets a bounded memory budget, so a policy cannot make the controller balloon.
  auto result =
      Parse(WithHeader("rules:\n"                                              // 3
                       "  - name: a\n"                                         // 4
                       "    action: log\n"                                     // 5
                       "    allowed: {uris: [{regex: \"\\\\pL{200}\"}]}\n"));  // 6
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.uris[0].regex", 6, 30, "pattern too large"));
}

TEST(PolicyLoaderTest, BadCidrsAreErrors) {
  auto result =
      Parse(WithHeader("rules:\n"                                                          // 3
                       "  - name: a\n"                                                     // 4
                       "    action: log\n"                                                 // 5
                       "    allowed:\n"                                                    // 6
                       "      ipAddresses: [\"10.0.0.1/8\", \"bogus\", \"::1/129\"]\n"));  // 7
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.ipAddresses[0]", 7, 21,
                       "has host bits set; did you mean \"10.0.0.0/8\"?"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.ipAddresses[1]", 7, 35, "\"bogus\""));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.ipAddresses[2]", 7, 44, "invalid prefix length"));
}

TEST(PolicyLoaderTest, UnknownUsagesAlgorithmsAndCurves) {
  auto result =
      Parse(WithHeader("rules:\n"                                    // 3
                       "  - name: a\n"                               // 4
                       "    action: log\n"                           // 5
                       "    allowed:\n"                              // 6
                       "      usages: [client auth, clientauth]\n"   // 7
                       "    required:\n"                             // 8
                       "      usages: [Client Auth]\n"               // 9
                       "    constraints:\n"                          // 10
                       "      keyAlgorithms: [RSA, DSA]\n"           // 11
                       "      ecdsaCurves: [P-256, secp256k1]\n"));  // 12
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.usages[1]", 7, 29,
                       "unknown usage \"clientauth\"; expected one of the Kubernetes key usages"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].required.usages[0]", 9, 16,
                       "unknown usage \"Client Auth\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.keyAlgorithms[1]", 11, 28,
                       "unknown key algorithm \"DSA\"; expected one of: RSA, ECDSA, Ed25519"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.ecdsaCurves[1]", 12, 28,
                       "unknown ECDSA curve \"secp256k1\""));
  EXPECT_EQ(result.errors.size(), 4u) << DescribeIssues(result.errors);
}

TEST(PolicyLoaderTest, NonPositiveNumbersAreErrors) {
  auto result =
      Parse(WithHeader("rules:\n"                               // 3
                       "  - name: a\n"                          // 4
                       "    action: log\n"                      // 5
                       "    constraints:\n"                     // 6
                       "      minRSABits: 0\n"                  // 7
                       "      maxExpirationSeconds: -600\n"));  // 8
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.minRSABits", 7, 19,
                       "must be a positive integer, found 0"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].constraints.maxExpirationSeconds", 8, 29,
                       "must be a positive integer, found -600"));
}

TEST(PolicyLoaderTest, EmptySelectorListsAreErrors) {
  auto result =
      Parse(WithHeader("rules:\n"                                                // 3
                       "  - name: a\n"                                           // 4
                       "    action: log\n"                                       // 5
                       "    selector:\n"                                         // 6
                       "      signerNames: []\n"                                 // 7
                       "      requestor: {usernames: [], groups: [\"x\"]}\n"));  // 8
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].selector.signerNames", 7, 20,
                       "an empty list selects nothing"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].selector.requestor.usernames", 8, 30,
                       "an empty list selects nothing"));
  EXPECT_EQ(result.errors.size(), 2u) << DescribeIssues(result.errors);
}

TEST(PolicyLoaderTest, PatternShapes) {
  auto result =
      Parse(WithHeader("rules:\n"                                                  // 3
                       "  - name: a\n"                                             // 4
                       "    action: log\n"                                         // 5
                       "    allowed:\n"                                            // 6
                       "      organizations: [\"\", {regex: \"\"}, {regx: a}]\n"   // 7
                       "      commonName: {sameAsRequestor: false}\n"              // 8
                       "  - name: b\n"                                             // 9
                       "    action: log\n"                                         // 10
                       "    allowed:\n"                                            // 11
                       "      commonName: {regex: a, sameAsRequestor: true}\n"));  // 12
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.organizations[0]", 7, 23,
                       "empty pattern; write \"*\""));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[0].allowed.organizations[1].regex", 7, 35, "empty regex"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.organizations[2].regx", 7, 41,
                       "unknown key \"regx\"; expected one of: regex"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.commonName.sameAsRequestor", 8, 37,
                       "sameAsRequestor: false means nothing"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[1].allowed.commonName", 12, 19,
                       "expected exactly one of regex, sameAsRequestor or nodeIdentity"));
}

TEST(PolicyLoaderTest, WildcardEntriesOnlyInDnsNamesAndOnlyWellFormed) {
  auto result = Parse(WithHeader(
      "rules:\n"                                                                       // 3
      "  - name: a\n"                                                                  // 4
      "    action: log\n"                                                              // 5
      "    allowed:\n"                                                                 // 6
      "      dnsNames: [{wildcard: \"*.Example.com.\"}, {wildcard: a.example.com}]\n"  // 7
      "      organizations: [{wildcard: \"*.example.com\"}]\n"                         // 8
      "      uris: [{wildcard: \"*.x\", regex: a}]\n"                                  // 9
      "  - name: b\n"                                                                  // 10
      "    action: log\n"                                                              // 11
      "    allowed:\n"                                                                 // 12
      "      dnsNames: [{wildcard: \"*.*.example.com\", regex: a}, {wildcard: \"*.a_b\"}]\n"));
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.dnsNames[1].wildcard", 7, 59,
                       "a wildcard entry is \"*.\" followed by a hostname"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.organizations[0].wildcard", 8, 24,
                       "unknown key \"wildcard\"; expected one of: regex"));
  EXPECT_TRUE(HasIssue(result.errors, "rules[0].allowed.uris[0].wildcard", 9, 15,
                       "unknown key \"wildcard\""));
  EXPECT_TRUE(HasIssue(result.errors, "rules[1].allowed.dnsNames[0]", 13, 18,
                       "expected exactly one of regex or wildcard"));
  EXPECT_TRUE(
      HasIssue(result.errors, "rules[1].allowed.dnsNames[1].wildcard", 13, 70, "found \"*.a_b\""));
  EXPECT_EQ(result.errors.size(), 6u) << DescribeIssues(result.errors);  // + missing regex

  auto good =
      Parse(WithHeader("rules:\n"
                       "  - name: a\n"
                       "    action: log\n"
                       "    allowed: {dnsNames: [{wildcard: \"*.Example.COM.\"}]}\n"));
  ASSERT_NE(good.policy, nullptr) << DescribeIssues(good.errors);
}

TEST(PolicyLoaderTest, InvalidUtf8IsALoadErrorAtTheFirstBadByte) {
  auto result =
      Parse(WithHeader("rules:\n"
                       "  - name: a\n"
                       "    action: log\n"
                       "    allowed: {commonName: \"caf\xC3\xA9-\xFF\"}\n"));  // 6
  EXPECT_EQ(result.policy, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << DescribeIssues(result.errors);
  EXPECT_TRUE(HasIssue(result.errors, "", 6, 34, "not valid UTF-8"));
  // Overlong encodings and lone surrogates are not UTF-8 either.
  EXPECT_EQ(Parse(WithHeader("rules: []\n# \xC0\xAF\n")).policy, nullptr);
  EXPECT_EQ(Parse(WithHeader("rules: []\n# \xED\xA0\x80\n")).policy, nullptr);
  EXPECT_NE(Parse(WithHeader("rules: []\n# caf\xC3\xA9\n")).policy, nullptr);
}

TEST(PolicyLoaderTest, ApiVersionAndKindAreRequiredAndExact) {
  auto missing = Parse("kind: Policy\nrules: []\n");
  EXPECT_TRUE(HasIssue(missing.errors, "apiVersion", 1, 1, "missing required key \"apiVersion\""));
  EXPECT_TRUE(HasIssue(missing.errors, "kind", 1, 7,
                       "unsupported kind \"Policy\"; expected \"ApprovalPolicy\""));
  auto wrong = Parse("apiVersion: csr.approver.io/v2\nkind: ApprovalPolicy\n");
  EXPECT_TRUE(
      HasIssue(wrong.errors, "apiVersion", 1, 13, "unsupported apiVersion \"csr.approver.io/v2\""));
}

TEST(PolicyLoaderTest, DocumentShapeErrors) {
  for (const char* empty : {"", "# only a comment\n", "---\n"}) {
    auto result = Parse(empty);
    ASSERT_EQ(result.errors.size(), 1u) << DescribeIssues(result.errors);
    EXPECT_NE(result.errors[0].message.find("the policy is empty"), std::string::npos);
    EXPECT_EQ(result.policy, nullptr);
  }
  auto multi = Parse(WithHeader("---\n") + std::string(kHeader));
  EXPECT_TRUE(HasIssue(multi.errors, "", 3, 1, "exactly one YAML document, found 2"));
  auto many = Parse(WithHeader("---\na: 1\n---\n---\n---\n---\n---\n---\n---\n---\n---\n---\n"));
  EXPECT_TRUE(HasIssue(many.errors, "", 3, 1, "exactly one YAML document, found more than 10"));
  // yaml-cpp 0.7 alone loops forever on these, yielding empty documents.
  for (const char* stuck : {",", "[a]\n,\n", ", a: 1\n"}) {
    auto result = Parse(stuck);
    ASSERT_EQ(result.errors.size(), 1u) << stuck << DescribeIssues(result.errors);
    EXPECT_NE(result.errors[0].message.find("invalid YAML"), std::string::npos)
        << result.errors[0].message;
    EXPECT_GT(result.errors[0].line, 0);
  }
  auto list = Parse("- a\n- b\n");
  EXPECT_TRUE(HasIssue(list.errors, "", 1, 1, "expected a mapping with keys apiVersion"));
  auto syntax = Parse(WithHeader("rules: [\n"));
  ASSERT_EQ(syntax.errors.size(), 1u) << DescribeIssues(syntax.errors);
  EXPECT_NE(syntax.errors[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_GT(syntax.errors[0].line, 0);
}

TEST(PolicyLoaderTest, ReportsEveryErrorAtOnceInFileOrder) {
  auto result =
      Parse(WithHeader("defaultAction: approve\n"                     // 3
                       "rules:\n"                                     // 4
                       "  - name: one\n"                              // 5
                       "    action: approve\n"                        // 6
                       "    allowed:\n"                               // 7
                       "      ipAddresses: [10.0.0.1/8]\n"            // 8
                       "      usages: [client auth, bogus]\n"         // 9
                       "  - name: one\n"                              // 10
                       "    action: maybe\n"                          // 11
                       "    allowed: {dnsNames: [{regex: \"(\"}]}\n"  // 12
                       "    constraints: {minRSABits: 0}\n"));        // 13
  EXPECT_EQ(result.policy, nullptr);
  ASSERT_EQ(result.errors.size(), 7u) << DescribeIssues(result.errors);
  std::vector<int> lines;
  for (const PolicyIssue& issue : result.errors) lines.push_back(issue.line);
  EXPECT_EQ(lines, (std::vector<int>{3, 8, 9, 10, 11, 12, 13}));
  EXPECT_EQ(result.errors[1].path, "rules[0].allowed.ipAddresses[0]");
  EXPECT_EQ(result.errors[5].path, "rules[1].allowed.dnsNames[0].regex");
}

TEST(PolicyLoaderTest, ProtectedOrganizationsAreStrings) {
  auto result =
      Parse(WithHeader("protectedOrganizations: [platform:admins, \"\", off, [x]]\n"));  // 3
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "protectedOrganizations[1]", 3, 43,
                       "an empty organization name protects nothing"));
  EXPECT_TRUE(HasIssue(result.errors, "protectedOrganizations[2]", 3, 47, "YAML 1.1 boolean off"));
  EXPECT_TRUE(HasIssue(result.errors, "protectedOrganizations[3]", 3, 52,
                       "expected a string, found a list"));
  EXPECT_EQ(result.errors.size(), 3u) << DescribeIssues(result.errors);
}

TEST(PolicyLoaderTest, KeysMustBeStrings) {
  auto result = Parse(WithHeader("? [a, b]\n: c\n"));
  EXPECT_EQ(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.errors, "", 3, 3, "a key must be a string, found a list"));
}

TEST(PolicyLoaderTest, EveryTruncationOfAValidPolicyFailsCleanlyOrLoads) {
  // Cutting a policy anywhere must give located errors or a policy, never a crash.
  const std::string text = WithHeader(R"(defaultAction: deny
protectedOrganizations: ["platform:admins"]
rules:
  - name: a
    selector: {signerNames: ["example.com/*"], requestor: {usernames: [{regex: "u-[0-9]+"}]}}
    allowed:
      commonName: {sameAsRequestor: true}
      organizations: [x, {regex: "y.*"}]
      dnsNames: ["*.example.com"]
      ipAddresses: ["10.0.0.0/8", "::1"]
      usages: [client auth]
      isCA: false
    required: {usages: [client auth], organizations: [x]}
    constraints: {keyAlgorithms: [ECDSA], minRSABits: 4096, ecdsaCurves: [P-384],
                  maxExpirationSeconds: 3600}
    action: approve
    onViolation: log
)");
  for (size_t length = 0; length <= text.size(); ++length) {
    auto result = Parse(std::string_view(text).substr(0, length));
    if (result.errors.empty()) {
      EXPECT_NE(result.policy, nullptr) << length;
    } else {
      EXPECT_EQ(result.policy, nullptr) << length;
      for (const PolicyIssue& issue : result.errors) {
        EXPECT_EQ(issue.file, "policy.yaml");
        EXPECT_FALSE(issue.message.empty());
      }
    }
  }
  auto full = Parse(text);
  EXPECT_TRUE(full.errors.empty()) << DescribeIssues(full.errors);
}

// A rule whose lists are aliases of one list, then `copies` aliases of that rule.
std::string AliasBomb(int list_items, int copies, bool regexes) {
  std::string items;
  for (int i = 0; i < list_items; ++i) {
    if (i > 0) items += ", ";
    items += regexes ? "{regex: \"x" + std::to_string(i) + "[a-z]+\"}" : "x" + std::to_string(i);
  }
  std::string text = WithHeader("rules: [&R {name: a, action: log, allowed: {uris: &L [" + items +
                                "], dnsNames: *L, emailAddresses: *L}}");
  for (int i = 0; i < copies; ++i) text += ", *R";
  return text + "]\n";
}

TEST(PolicyLoaderTest, AliasExpansionIsBounded) {
  auto entries = Parse(AliasBomb(100, 200, false));
  EXPECT_EQ(entries.policy, nullptr);
  ASSERT_FALSE(entries.errors.empty());
  EXPECT_NE(entries.errors.back().message.find("more than 20000 entries"), std::string::npos)
      << DescribeIssues(entries.errors);

  auto regexes = Parse(AliasBomb(50, 10, true));
  EXPECT_EQ(regexes.policy, nullptr);
  ASSERT_FALSE(regexes.errors.empty());
  EXPECT_NE(regexes.errors.back().message.find("more than 1000 regexes"), std::string::npos)
      << DescribeIssues(regexes.errors);
}

TEST(PolicyLoaderTest, ErrorsStopAfterAHundred) {
  std::string text = WithHeader("rules:\n");
  for (int i = 0; i < 150; ++i) text += "  - {name: r" + std::to_string(i) + ", action: bogus}\n";
  auto result = Parse(text);
  ASSERT_EQ(result.errors.size(), 101u);
  EXPECT_EQ(result.errors[99].path, "rules[99].action");
  EXPECT_EQ(result.errors[100].message, "more than 100 errors; fix these first");
}

TEST(PolicyLoaderTest, IssueToStringLeavesOutUnknownParts) {
  PolicyIssue full{"p.yaml", 3, 7, "rules[0].name", "bad"};
  EXPECT_EQ(full.ToString(), "p.yaml:3:7: rules[0].name: bad");
  PolicyIssue file_only{"p.yaml", 0, 0, "", "cannot open"};
  EXPECT_EQ(file_only.ToString(), "p.yaml: cannot open");
  PolicyIssue no_path{"p.yaml", 2, 1, "", "empty"};
  EXPECT_EQ(no_path.ToString(), "p.yaml:2:1: empty");
}

TEST(PolicyLoaderTest, LoadPolicyFileReadsAndNamesThePath) {
  const std::string path = ::testing::TempDir() + "/policy_loader_test.yaml";
  {
    std::ofstream out(path);
    out << kHeader << "rules:\n  - name: a\n    action: bogus\n";
  }
  auto result = LoadPolicyFile(path);
  ASSERT_EQ(result.errors.size(), 1u) << DescribeIssues(result.errors);
  EXPECT_EQ(result.errors[0].file, path);
  EXPECT_EQ(result.errors[0].line, 5);
  std::remove(path.c_str());

  auto missing = LoadPolicyFile(path);
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].file, path);
  EXPECT_EQ(missing.errors[0].line, 0);
  EXPECT_NE(missing.errors[0].ToString().find(path + ": cannot open the policy file"),
            std::string::npos)
      << missing.errors[0].ToString();
  EXPECT_EQ(missing.policy, nullptr);

  auto directory = LoadPolicyFile(::testing::TempDir());
  ASSERT_EQ(directory.errors.size(), 1u);
  EXPECT_NE(directory.errors[0].message.find("cannot read the policy file"), std::string::npos)
      << directory.errors[0].message;
}

}  // namespace
}  // namespace kca
