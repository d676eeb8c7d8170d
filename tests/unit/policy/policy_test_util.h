// Helpers shared by the policy tests: parsing shorthands and issue matchers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/policy/policy.h"

namespace kca::testing_policy {

// Lines 1 and 2 of every test policy.
inline constexpr std::string_view kHeader =
    "apiVersion: csr.approver.io/v1\n"
    "kind: ApprovalPolicy\n";

inline PolicyLoadResult Parse(std::string_view text) { return ParsePolicy(text, "policy.yaml"); }

inline std::string DescribeIssues(const std::vector<PolicyIssue>& issues) {
  std::string out;
  for (const PolicyIssue& issue : issues) out += "\n  " + issue.ToString();
  return out;
}

// Asserts that `issues` holds one at `path` with this position and a message containing `text`.
inline ::testing::AssertionResult HasIssue(const std::vector<PolicyIssue>& issues,
                                           std::string_view path, int line, int column,
                                           std::string_view text) {
  for (const PolicyIssue& issue : issues) {
    if (issue.path != path) continue;
    if (issue.file == "policy.yaml" && issue.line == line && issue.column == column &&
        issue.message.find(text) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure()
         << "no issue at " << path << " " << line << ":" << column << " containing \"" << text
         << "\"; issues:" << DescribeIssues(issues);
}

}  // namespace kca::testing_policy
