#include <gtest/gtest.h>

#include <string>

#include "kube_csr_approver/policy/policy.h"
#include "policy_test_util.h"

namespace kca {
namespace {

using testing_policy::DescribeIssues;
using testing_policy::HasIssue;
using testing_policy::kHeader;
using testing_policy::Parse;

// A rule that passes for an ordinary client certificate, so only the selector matters.
std::string Rule(std::string_view name, std::string_view selector) {
  std::string out = "  - name: " + std::string(name) + "\n";
  if (!selector.empty()) out += "    selector: " + std::string(selector) + "\n";
  out += "    allowed: {commonName: \"*\", usages: [client auth]}\n    action: approve\n";
  return out;
}

PolicyLoadResult ParseRules(const std::string& rules) {
  return Parse(std::string(kHeader) + "rules:\n" + rules);
}

TEST(PolicyLintTest, RuleAfterASelectorlessRuleCanNeverMatch) {
  // Rules start on lines 4 and 7.
  auto result = ParseRules(Rule("catch-all", "") + Rule("late", "{signerNames: [example.com/a]}"));
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  ASSERT_NE(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.warnings, "rules[1]", 7, 5,
                       "rule \"late\" can never match: the earlier rule \"catch-all\" (rules[0])"));
  EXPECT_EQ(result.warnings.size(), 1u) << DescribeIssues(result.warnings);
}

TEST(PolicyLintTest, SupersetSelectorsShadowLaterRules) {
  auto result =
      ParseRules(Rule("ci", "{requestor: {usernames: [\"system:serviceaccount:ci:*\"]}}") +  // 4
                 Rule("builder",
                      "{signerNames: [example.com/x], requestor: {usernames: "
                      "[\"system:serviceaccount:ci:builder\"]}}") +          // 8
                 Rule("any-signer", "{signerNames: [\"*\"]}") +              // 12
                 Rule("regex", "{signerNames: [{regex: \"a/.*\"}]}") +       // 16
                 Rule("same-regex", "{signerNames: [{regex: \"a/.*\"}]}"));  // 20
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  EXPECT_TRUE(HasIssue(result.warnings, "rules[1]", 8, 5, "the earlier rule \"ci\""));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[3]", 16, 5, "the earlier rule \"any-signer\""));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[4]", 20, 5, "the earlier rule \"any-signer\""));
  EXPECT_EQ(result.warnings.size(), 3u) << DescribeIssues(result.warnings);
}

TEST(PolicyLintTest, PrefixAndSuffixGlobsCoverNarrowerGlobs) {
  auto result = ParseRules(
      Rule("all-service-accounts", "{requestor: {usernames: [\"system:serviceaccount:*\"]}}") +
      Rule("ci-accounts", "{requestor: {usernames: [\"system:serviceaccount:ci:*\"]}}") +
      Rule("example-signers", "{signerNames: [\"*.example.com/x\"]}") +
      Rule("sub-signers", "{signerNames: [\"a?.*.example.com/x\"]}"));
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  EXPECT_TRUE(
      HasIssue(result.warnings, "rules[1]", 8, 5, "the earlier rule \"all-service-accounts\""));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[3]", 16, 5, "the earlier rule \"example-signers\""));
  EXPECT_EQ(result.warnings.size(), 2u) << DescribeIssues(result.warnings);
}

TEST(PolicyLintTest, NarrowerOrDisjointEarlierSelectorsDoNotShadow) {
  auto result = ParseRules(Rule("specific", "{signerNames: [example.com/a]}") +
                           Rule("broader", "{signerNames: [\"example.com/*\"]}") +
                           Rule("groups", "{requestor: {groups: [ops]}}") +
                           Rule("other-groups", "{requestor: {groups: [ops, dev]}}") +
                           Rule("wildcards", "{signerNames: [\"a/*\"]}") +
                           Rule("other-wildcards", "{signerNames: [\"a/b*\", \"c/?\"]}") +
                           Rule("prefix", "{signerNames: [\"x/ab*\"]}") +
                           Rule("shorter-prefix", "{signerNames: [\"x/a*\"]}") +
                           Rule("middle-star", "{signerNames: [\"m/*/n\"]}") +
                           Rule("after-middle", "{signerNames: [\"m/a/n?\", \"m/*x/n\"]}"));
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << DescribeIssues(result.warnings);
}

TEST(PolicyLintTest, RulesThatCanNeverPass) {
  auto result = Parse(std::string(kHeader) +
                      "rules:\n"                                                        // 3
                      "  - name: no-usages\n"                                           // 4
                      "    action: approve\n"                                           // 5
                      "  - name: required-usage\n"                                      // 6
                      "    allowed: {usages: [client auth]}\n"                          // 7
                      "    required: {usages: [client auth, server auth]}\n"            // 8
                      "    action: approve\n"                                           // 9
                      "  - name: required-org\n"                                        // 10
                      "    allowed: {usages: [client auth], organizations: [\"*\"]}\n"  // 11
                      "    required: {organizations: [system:masters]}\n"               // 12
                      "    action: approve\n"                                           // 13
                      "  - name: no-orgs\n"                                             // 14
                      "    allowed: {usages: [client auth]}\n"                          // 15
                      "    required: {organizations: [\"team-*\"]}\n"                   // 16
                      "    action: approve\n"                                           // 17
                      "  - name: no-key\n"                                              // 18
                      "    allowed: {usages: [client auth]}\n"                          // 19
                      "    constraints: {keyAlgorithms: [ECDSA], ecdsaCurves: []}\n"    // 20
                      "    action: approve\n"                                           // 21
                      "  - name: short-expiry\n"                                        // 22
                      "    allowed: {usages: [client auth]}\n"                          // 23
                      "    constraints: {maxExpirationSeconds: 300}\n"                  // 24
                      "    action: log\n"                                               // 25
                      "  - name: deny-anyway\n"                                         // 26
                      "    action: deny\n");                                            // 27
  ASSERT_TRUE(result.errors.empty()) << DescribeIssues(result.errors);
  ASSERT_NE(result.policy, nullptr);
  EXPECT_TRUE(HasIssue(result.warnings, "rules[0]", 4, 5,
                       "rule \"no-usages\" can never pass: allowed.usages is absent or empty"));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[1]", 6, 5,
                       "required.usages [server auth] are not in allowed.usages [client auth]"));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[2]", 10, 5,
                       "required organization \"system:masters\" is not allowed by "
                       "allowed.organizations [\"*\"] (it is protected"));
  EXPECT_TRUE(
      HasIssue(result.warnings, "rules[3]", 14, 5, "allowed.organizations allows no organization"));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[4]", 18, 5, "constraints allow no key"));
  EXPECT_TRUE(HasIssue(result.warnings, "rules[5]", 22, 5, "below 600"));
  // deny-anyway denies whether or not it passes, so its missing usages do not matter; the
  // selector-less rules shadow each other, which is reported once per later rule.
  for (const PolicyIssue& warning : result.warnings) {
    EXPECT_EQ(warning.message.find("\"deny-anyway\" can never pass"), std::string::npos);
  }
  EXPECT_EQ(result.warnings.size(), 6u + 6u) << DescribeIssues(result.warnings);
}

}  // namespace
}  // namespace kca
