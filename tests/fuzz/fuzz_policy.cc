// libFuzzer target: policy files through the loader, and every loaded policy through the
// evaluator with one fixed CSR. A load either yields a policy or errors that name the file; an
// approve is never the default action.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/common/utf8.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const kca::PolicyLoadResult loaded = kca::ParsePolicy(input, "fuzz.yaml");
  if ((loaded.policy == nullptr) == loaded.errors.empty()) {
    kca::fuzz::Violated("a load with neither a policy nor errors, or both");
  }
  for (const auto& issue : loaded.errors) {
    if (issue.file != "fuzz.yaml" || issue.message.empty()) {
      kca::fuzz::Violated("an error without file or message", issue.ToString());
    }
  }
  if (!loaded.policy) return 0;
  if (!kca::IsValidUtf8(input)) kca::fuzz::Violated("loaded a policy that is not UTF-8");
  kca::CsrObject csr;
  csr.name = "fuzz";
  csr.signer_name = "kubernetes.io/kube-apiserver-client";
  csr.username = "system:serviceaccount:ci:builder";
  csr.groups = {"system:authenticated", "system:serviceaccounts"};
  csr.usages = {"digital signature", "client auth"};
  kca::CsrFacts facts;
  facts.common_names = {"builder"};
  facts.subject = {{"CN", "2.5.4.3", "builder"}, {"O", "2.5.4.10", "system:masters"}};
  facts.organizations = {"system:masters"};
  facts.sans.dns_names = {"*.example.com", "evil.com .example.com"};
  facts.sans.uris = {"spiffe://cluster.local/ns/a/../kube-system/sa/admin"};
  const kca::Decision decision = kca::Evaluate(*loaded.policy, csr, facts);
  // A DNS name that is not a hostname and a URI with a ".." segment: no policy may approve it.
  if (decision.action == kca::Action::kApprove) kca::fuzz::Violated("approved the hostile CSR");
  return 0;
}
