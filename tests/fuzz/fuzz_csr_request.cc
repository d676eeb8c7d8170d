// libFuzzer target: spec.request as PEM text and as base64, through the inspector.
// Besides "no crash", checks the promises the header makes about accepted requests.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube_csr_approver/csr_inspector.h"

namespace {

bool Clean(std::string_view text) { return text.find('\0') == std::string_view::npos; }

void CheckFacts(const kca::Result<kca::CsrFacts>& facts) {
  if (!facts.ok()) {
    if (facts.error().message.empty()) __builtin_trap();
    return;
  }
  std::size_t views = 0;
  for (const auto& attribute : facts->subject) {
    if (!Clean(attribute.value) || attribute.type.empty() || attribute.oid.empty())
      __builtin_trap();
  }
  views =
      facts->common_names.size() + facts->organizations.size() + facts->organizational_units.size();
  if (views > facts->subject.size()) __builtin_trap();
  for (const auto& name : facts->sans.dns_names) {
    if (!Clean(name)) __builtin_trap();
  }
  for (const auto& address : facts->sans.ip_addresses) {
    // Unmapped: a v4-mapped IPv6 address is never reported as IPv6.
    if (!address.is_v4() && address.ToString().rfind("::ffff:", 0) == 0) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckFacts(kca::InspectPemRequest(input));
  CheckFacts(kca::InspectEncodedRequest(input));
  return 0;
}
