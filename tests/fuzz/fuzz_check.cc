// libFuzzer target: `check`'s whole path (input decoding, inspection, evaluation, text or JSON
// output) on a file read from stdin, under a policy that allows everything. The command
// always returns (no exception escapes), with a documented exit code; its JSON output always
// parses, and approves only decisions whose checks all passed. First byte: output format.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "commands.h"
#include "fuzz_invariants.h"

namespace {

const std::string& PolicyPath() {
  static const std::string path = [] {
    std::string file = "/tmp/kca-fuzz-check-policy-" + std::to_string(::getpid()) + ".yaml";
    std::ofstream(file) << kca::fuzz::kPermissivePolicy;
    return file;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool json = (data[0] & 1) != 0;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  std::ostringstream out;
  std::ostringstream err;
  kca::CheckOptions options;
  options.policy_path = PolicyPath();
  options.output = json ? "json" : "text";
  options.inputs = {"-"};
  options.signer_name = "kubernetes.io/kube-apiserver-client";  // for bare PEM input
  options.username = "fuzz";
  options.usages = {"client auth"};
  const int exit_code = kca::RunCheck(options, {in, out, err});
  if (exit_code != kca::kExitOk && exit_code != kca::kExitInputError) {
    kca::fuzz::Violated("unexpected exit code", std::to_string(exit_code) + " " + err.str());
  }
  if (!json || exit_code != kca::kExitOk) return 0;
  const auto results = nlohmann::json::parse(out.str(), nullptr, /*allow_exceptions=*/false);
  if (results.is_discarded() || !results.is_array())
    kca::fuzz::Violated("JSON output does not parse");
  for (const auto& result : results) {
    if (result.value("decision", "") != "approve") continue;
    for (const auto& check : result.value("checks", nlohmann::json::array())) {
      if (!check.value("passed", false)) kca::fuzz::Violated("approved with a failed check");
    }
  }
  return 0;
}
