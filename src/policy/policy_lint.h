// Warnings about a policy that loaded cleanly but cannot do what its author meant: rules that
// can never be selected (an earlier selector covers theirs) or can never pass their checks.
// Conservative: it reports only cases it can prove, so silence is not a guarantee.
#pragma once

#include <string>
#include <vector>

#include "kube_csr_approver/policy/policy.h"

namespace kca::policy {

std::vector<PolicyIssue> LintPolicy(const Policy& policy, const std::string& file);

}  // namespace kca::policy
