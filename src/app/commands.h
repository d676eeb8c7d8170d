// The offline subcommands: `check`, `validate-policy`, `version` (DESIGN.md "Command line").
// Each takes its options and the streams to use, and returns the process exit code, so tests
// drive them without spawning the binary.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace kca {

// Exit codes shared by the offline commands (DESIGN.md).
inline constexpr int kExitOk = 0;          // evaluated / valid
inline constexpr int kExitInputError = 1;  // an input could not be read or decoded
inline constexpr int kExitUsageError = 2;  // bad usage or a policy error

struct CommandStreams {
  std::istream& in;   // read for the input "-"
  std::ostream& out;  // results
  std::ostream& err;  // diagnostics
};

struct CheckOptions {
  std::string policy_path;
  std::string output = "text";      // "text" | "json"
  std::vector<std::string> inputs;  // files, or "-" for stdin
  bool ignore_status = false;       // evaluate decided CSRs as if pending
  // Only for bare PEM inputs, which carry no Kubernetes object around them.
  std::string signer_name;
  std::string username;
  std::vector<std::string> groups;
  std::vector<std::string> usages;
  std::optional<std::int64_t> expiration_seconds;
};

// Evaluates every CSR of every input against the policy and prints each decision. Inputs that
// cannot be read are reported on `err` and skipped (exit 1); a policy error exits 2.
int RunCheck(const CheckOptions& options, CommandStreams streams);

struct ValidatePolicyOptions {
  std::string policy_path;
  std::string output = "text";  // "text" | "json"
};

// Loads the policy; prints every error (exit 2) or a summary and the warnings (exit 0). With
// output "json", stdout is one object for CI (docs/policy.md "validate-policy --output json"):
// {"file","valid","errors":[{"line","column","path","message"}],"warnings":[...],"rules","sha256"}.
int RunValidatePolicy(const ValidatePolicyOptions& options, CommandStreams streams);

// "kube-csr-approver VERSION (revision REVISION)", as `version` and `--version` print it.
std::string VersionText();

// Prints VersionText().
int RunVersion(CommandStreams streams);

}  // namespace kca
