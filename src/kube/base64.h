// Standard base64 (RFC 4648 §4, padded), as kubeconfig *-data fields carry it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kca::kube {

// Decoded bytes, or nullopt when `text` is not valid padded base64. ASCII whitespace (line
// breaks in hand-edited files) is ignored.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace kca::kube
