// Text checks and quoting shared by the csr module's decoders. Internal to src/csr.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kca::csr_internal {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// `text` in double quotes for an error message: control and non-ASCII bytes as \xNN, cut after
// `max_bytes` with "..." so that untrusted input cannot flood a log line.
std::string Quote(std::string_view text, std::size_t max_bytes = 64);

}  // namespace kca::csr_internal
