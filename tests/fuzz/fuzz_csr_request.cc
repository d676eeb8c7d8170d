// libFuzzer target: spec.request as PEM text and as base64, through the inspector. Whatever is
// accepted re-inspects to the same facts, as PEM and as the base64 of that PEM.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/csr/csr_inspector.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto as_pem = kca::InspectPemRequest(input);
  kca::fuzz::CheckReinspection(input, as_pem, as_pem.ok() ? kca::EncodeBase64(input) : "");
  const auto as_base64 = kca::InspectEncodedRequest(input);
  if (as_base64.ok()) {
    auto pem = kca::DecodeBase64(input, "fuzz");
    if (!pem.ok()) kca::fuzz::Violated("accepted base64 that does not decode");
    kca::fuzz::CheckReinspection(*pem, as_base64, input);
  } else if (as_base64.error().message.empty()) {
    kca::fuzz::Violated("a refusal without a reason");
  }
  return 0;
}
