// Syntax rules for SAN values (DESIGN.md "SANs and strings"), applied before any pattern: a
// value that fails them is refused whatever the policy allows. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kca::policy {

// A hostname: labels of 1-63 letters, digits and '-' (not first or last in a label), separated
// by single dots, at most 253 characters. `name` is already lowercased, trailing dot removed.
bool IsHostname(std::string_view name);

// "*." followed by a hostname, at most 253 characters in all.
bool IsWildcardHostname(std::string_view name);

// Why `uri` may not be a URI SAN, or nullopt when it is an absolute RFC 3986 URI (scheme ":"
// hier-part ["?" query], only URI characters, well-formed %XX) without userinfo and without a
// "." or ".." path segment, even percent-encoded, nor an encoded '/' or '\' in a segment.
std::optional<std::string> UriSanProblem(std::string_view uri);

}  // namespace kca::policy
