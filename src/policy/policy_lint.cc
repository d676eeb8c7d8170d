#include "policy_lint.h"

#include <algorithm>

#include "policy_model.h"

namespace kca::policy {
namespace {

// The literal text before a glob's first wildcard, and after its last one.
std::string_view LiteralPrefix(std::string_view glob) {
  return glob.substr(0, std::min(glob.find_first_of("*?"), glob.size()));
}
std::string_view LiteralSuffix(std::string_view glob) {
  size_t last = glob.find_last_of("*?");
  return last == std::string_view::npos ? glob : glob.substr(last + 1);
}

// True when every value `inner` matches is also matched by `outer`, in the cases that are
// decidable without an automaton: "*", identical entries, a literal that `outer` matches, and
// `outer` = "P*" (or "*S") against a glob whose fixed start (end) already carries P (S).
bool PatternCovers(const Pattern& outer, const Pattern& inner) {
  if (outer.is_match_all()) return true;
  if (outer.is_regex() == inner.is_regex() && outer.text() == inner.text()) return true;
  if (inner.is_literal()) return outer.Matches(inner.text());
  if (outer.is_regex() || inner.is_regex()) return false;
  std::string_view outer_text = outer.text();
  std::string_view inner_text = inner.text();
  std::string_view outer_fixed = outer_text.substr(0, outer_text.size() - 1);
  if (outer_text.back() == '*' && outer_fixed.find_first_of("*?") == std::string_view::npos) {
    return LiteralPrefix(inner_text).starts_with(outer_fixed);
  }
  outer_fixed = outer_text.substr(1);
  if (outer_text.front() == '*' && outer_fixed.find_first_of("*?") == std::string_view::npos) {
    return LiteralSuffix(inner_text).ends_with(outer_fixed);
  }
  return false;
}

// Selector fields are any-of lists, so a field covers another when each inner entry is covered
// by some outer entry.
bool FieldCovers(const SelectorField& outer, const SelectorField& inner) {
  if (!outer.present) return true;
  if (!inner.present) return false;
  return std::all_of(
      inner.list.patterns.begin(), inner.list.patterns.end(), [&](const Pattern& entry) {
        return std::any_of(
            outer.list.patterns.begin(), outer.list.patterns.end(),
            [&](const Pattern& candidate) { return PatternCovers(candidate, entry); });
      });
}

bool SelectorCovers(const std::optional<Selector>& outer, const std::optional<Selector>& inner) {
  if (!outer) return true;
  if (!inner) {
    return !outer->signer_names.present && !outer->usernames.present && !outer->groups.present;
  }
  return FieldCovers(outer->signer_names, inner->signer_names) &&
         FieldCovers(outer->usernames, inner->usernames) &&
         FieldCovers(outer->groups, inner->groups);
}

bool IsProtected(const Policy& policy, std::string_view organization) {
  const auto& names = policy.protected_organizations;
  return std::find(names.begin(), names.end(), organization) != names.end();
}

// Whether allowed.organizations lets `organization` through, protection included.
bool OrganizationAllowed(const Policy& policy, const Rule& rule, std::string_view organization) {
  const auto& allowed = rule.allowed.organizations.patterns;
  if (IsProtected(policy, organization)) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const Pattern& entry) {
      return !entry.is_regex() && entry.text() == organization;
    });
  }
  return rule.allowed.organizations.Matches(organization);
}

// Kubernetes refuses spec.expirationSeconds below ten minutes.
constexpr std::int64_t kMinimumExpirationSeconds = 600;

std::vector<std::string> ReasonsNeverPasses(const Policy& policy, const Rule& rule) {
  std::vector<std::string> reasons;
  const Allowed& allowed = rule.allowed;
  if (allowed.usages == 0) {
    reasons.push_back(
        "allowed.usages is absent or empty, but every CSR carries at least one usage");
  }
  UsageSet missing = rule.required.usages & ~allowed.usages;
  if (missing != 0) {
    reasons.push_back("required.usages " + DescribeUsages(missing) + " are not in allowed.usages " +
                      allowed.usages_description);
  }
  for (const Pattern& required : rule.required.organizations.patterns) {
    if (allowed.organizations.patterns.empty()) {
      reasons.push_back("required.organizations lists " + required.Describe() +
                        " but allowed.organizations allows no organization");
      break;
    }
    if (required.is_literal() && !OrganizationAllowed(policy, rule, required.text())) {
      reasons.push_back(
          "required organization " + required.Describe() +
          " is not allowed by allowed.organizations " + allowed.organizations.description +
          (IsProtected(policy, required.text()) ? " (it is protected: name it literally there)"
                                                : ""));
    }
  }
  const Constraints& constraints = rule.constraints;
  bool usable_ecdsa = constraints.ecdsa && !constraints.ecdsa_curves.empty();
  if (!constraints.rsa && !constraints.ed25519 && !usable_ecdsa) {
    reasons.push_back("constraints allow no key: keyAlgorithms " +
                      constraints.key_algorithms_description + ", ecdsaCurves " +
                      constraints.ecdsa_curves_description);
  }
  if (constraints.max_expiration_seconds &&
      *constraints.max_expiration_seconds < kMinimumExpirationSeconds) {
    reasons.push_back("constraints.maxExpirationSeconds " +
                      std::to_string(*constraints.max_expiration_seconds) +
                      " is below 600, the least expirationSeconds Kubernetes accepts");
  }
  return reasons;
}

}  // namespace

std::vector<PolicyIssue> LintPolicy(const Policy& policy, const std::string& file) {
  std::vector<PolicyIssue> warnings;
  for (size_t j = 0; j < policy.rules.size(); ++j) {
    const Rule& rule = policy.rules[j];
    for (size_t i = 0; i < j; ++i) {
      const Rule& earlier = policy.rules[i];
      if (SelectorCovers(earlier.selector, rule.selector)) {
        warnings.push_back(PolicyIssue{
            file, rule.location.line, rule.location.column, rule.path,
            "rule \"" + rule.name + "\" can never match: the earlier rule \"" + earlier.name +
                "\" (" + earlier.path + ") selects every CSR it would select"});
        break;
      }
    }
    // Never passing matters only when passing would lead somewhere different.
    if (rule.action == rule.on_violation) continue;
    for (std::string& reason : ReasonsNeverPasses(policy, rule)) {
      warnings.push_back(PolicyIssue{file, rule.location.line, rule.location.column, rule.path,
                                     "rule \"" + rule.name + "\" can never pass: " + reason});
    }
  }
  return warnings;
}

}  // namespace kca::policy
