// Framing of spec.request: exactly one PEM block (base64 is kca::DecodeBase64). Internal to
// src/csr. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca::csr_internal {

// The DER inside `pem`, which must hold exactly one block labelled "CERTIFICATE REQUEST", with
// only whitespace around it and no header lines (Proc-Type, DEK-Info: a request is never
// encrypted). "NEW CERTIFICATE REQUEST" is refused: kube-apiserver accepts only the RFC 7468 label.
Result<std::string> ExtractRequestDer(std::string_view pem);

}  // namespace kca::csr_internal
