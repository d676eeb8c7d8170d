// libFuzzer target: raw DER, framed as the one PEM block a client would send, through the
// inspector; mutations land in the ASN.1 instead of the PEM and base64 layers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/csr/csr_inspector.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view der(reinterpret_cast<const char*>(data), size);
  const std::string body = kca::EncodeBase64(der);
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t at = 0; at < body.size(); at += 64) pem += body.substr(at, 64) + "\n";
  pem += "-----END CERTIFICATE REQUEST-----\n";
  const auto facts = kca::InspectPemRequest(pem);
  kca::fuzz::CheckReinspection(pem, facts, kca::EncodeBase64(pem));
  return 0;
}
