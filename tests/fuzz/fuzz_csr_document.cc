// libFuzzer target: JSON/YAML documents through the object decoder, then each request through
// the inspector and the evaluator, as `check` does with a file. The evaluator, under a policy
// that allows everything, never approves what the inspector refused, and approves only when
// every check passed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/policy/policy.h"

namespace {

const kca::Policy& Permissive() {
  static const kca::PolicyLoadResult loaded =
      kca::ParsePolicy(kca::fuzz::kPermissivePolicy, "permissive.yaml");
  if (!loaded.policy) kca::fuzz::Violated("the permissive policy does not load");
  return *loaded.policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto objects = kca::DecodeCsrDocument(input, "fuzz");
  if (!objects.ok()) {
    if (objects.error().message.rfind("fuzz: ", 0) != 0) {
      kca::fuzz::Violated("an input error that does not name the input");
    }
    return 0;
  }
  for (const auto& object : *objects) {
    if (object.name.empty() || object.signer_name.empty()) {
      kca::fuzz::Violated("a decoded object without name or signer");
    }
    const auto facts = kca::InspectEncodedRequest(object.request);
    const kca::Decision decision = kca::Evaluate(Permissive(), object, facts);
    if (decision.action != kca::Action::kApprove) continue;
    if (!facts.ok()) kca::fuzz::Violated("approved a refused request", facts.error().message);
    for (const auto& check : decision.checks) {
      if (!check.passed) kca::fuzz::Violated("approved with a failed check", check.name);
    }
  }
  return 0;
}
