// UTF-8 checks shared by every module that reads or writes untrusted text. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kca {

// Length of the longest prefix of `text` that is well-formed UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF); text.size() when all of it is.
std::size_t ValidUtf8Prefix(std::string_view text);

inline bool IsValidUtf8(std::string_view text) { return ValidUtf8Prefix(text) == text.size(); }

// `text` with each ill-formed sequence replaced by U+FFFD, so that output (JSON, logs, Events)
// never fails on odd bytes. Returns `text` unchanged when it is already valid.
std::string ToValidUtf8(std::string_view text);

}  // namespace kca
