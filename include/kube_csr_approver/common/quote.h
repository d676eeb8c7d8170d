// Quoting untrusted text (CSR fields, policy values, server data) for error messages and logs.
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kca {

// `text` in double quotes: '"' and '\' escaped, control and non-ASCII bytes as \xNN, cut after
// `max_bytes` with "..." so that untrusted input can neither forge nor flood a log line.
std::string Quote(std::string_view text, std::size_t max_bytes = 64);

}  // namespace kca
