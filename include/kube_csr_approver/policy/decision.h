// Decision: what the policy says about one CSR, and why. Produced by the PolicyEvaluator, read by
// logs, events, metrics and the `check` command. A plain value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kca {

// kPending: a fact the decision needs (a Node, a SubjectAccessReview answer) is not known yet and
// could change the outcome; nothing is written, the CSR is evaluated again later.
enum class Action { kApprove, kDeny, kLog, kSkip, kPending };

// "approve", "deny", "log", "skip", "pending": the words of the policy file and of `check --output
// json`.
std::string_view ActionName(Action action);

struct CheckResult {
  std::string name;  // "commonName", "organizations", "usages", "keyAlgorithm", ...
  bool passed = false;
  std::string detail;    // what was found and what was allowed
  bool pending = false;  // not passed, but only because a fact is not known yet
};

struct Decision {
  Action action = Action::kLog;
  std::optional<std::string> rule;   // the governing rule's name; nullopt when none selects
  std::vector<std::string> reasons;  // empty when every check passed
  std::vector<CheckResult> checks;   // every check that ran, passed or not
  // Bounded label for the `signer` metric label (DESIGN.md, Metrics): the signerName when a
  // selector names it literally, the selector pattern that matched it, else "other".
  std::string signer_label = "other";
};

}  // namespace kca
