// Standard base64 (RFC 4648 §4, padded), as Kubernetes carries bytes in JSON (spec.request,
// kubeconfig *-data fields). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca {

// Standard alphabet, padding required; ASCII whitespace is skipped anywhere (line-wrapped or
// hand-edited input). `what` names the input in errors: `<what> is not valid base64: ...`,
// saying which character at which offset, or that the length is wrong.
Result<std::string> DecodeBase64(std::string_view text, std::string_view what);

// Padded, no line breaks.
std::string EncodeBase64(std::string_view bytes);

}  // namespace kca
