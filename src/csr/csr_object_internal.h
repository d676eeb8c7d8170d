// Shared between the object and document decoders. Internal to src/csr.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "kube_csr_approver/csr/csr_object.h"

namespace kca::csr_internal {

// `CertificateSigningRequest "name"` when the object carries a usable metadata.name, else
// `fallback` (e.g. "items[3]").
std::string ObjectLabel(const nlohmann::json& object, std::string_view fallback);

// DecodeCsrObject with errors prefixed by `label`.
Result<CsrObject> DecodeCsrObjectAs(const nlohmann::json& object, const std::string& label);

}  // namespace kca::csr_internal
