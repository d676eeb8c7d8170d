// libFuzzer target: JSON/YAML documents through the object decoder, then each request through
// the inspector, as `check` does with a file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube_csr_approver/csr_inspector.h"
#include "kube_csr_approver/csr_object.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto objects = kca::DecodeCsrDocument(input, "fuzz");
  if (!objects.ok()) {
    if (objects.error().message.rfind("fuzz: ", 0) != 0) __builtin_trap();
    return 0;
  }
  for (const auto& object : *objects) {
    if (object.name.empty() || object.signer_name.empty()) __builtin_trap();
    (void)kca::InspectEncodedRequest(object.request);
  }
  return 0;
}
