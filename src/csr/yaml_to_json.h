// YAML text → nlohmann::json, for documents as kubectl prints them. Internal to src/csr.
// Pure; thread-safe (yaml-cpp keeps no global state).
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca::csr_internal {

// Nesting of maps and lists allowed; deeper input is refused before it can exhaust the stack.
inline constexpr int kMaxYamlDepth = 64;

// Exactly one document. Scalars follow the YAML 1.2 core schema: quoted or !!str scalars are
// strings; plain null/~/empty are null, true/false booleans (any of the three capitalisations),
// decimal/0x/0o integers, decimal floats; every other plain scalar is a string (so "yes" and "on"
// stay strings, unlike YAML 1.1). Duplicate keys, non-scalar keys, invalid UTF-8 and more than
// one document are errors; error messages carry yaml-cpp's line and column or the key path.
// Aliases are expanded, but the result may hold no more values and no more text than the input
// has bytes: a legitimate document never needs more, a "billion laughs" bomb stops early; an
// alias inside the value it names is refused. The JSON is built from yaml-cpp's parser events,
// without a node tree: time and memory grow linearly with the input.
Result<nlohmann::json> YamlToJson(std::string_view text);

}  // namespace kca::csr_internal
