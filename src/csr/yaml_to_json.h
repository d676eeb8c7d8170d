// YAML text → nlohmann::json, for documents as kubectl prints them. Internal to src/csr.
// Pure; thread-safe (yaml-cpp keeps no global state).
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "kube_csr_approver/result.h"

namespace kca::csr_internal {

struct YamlLimits {
  int max_depth = 64;                       // nesting of maps and lists
  std::size_t max_nodes = 1'000'000;        // after alias expansion
  std::size_t max_scalar_bytes = 64 << 20;  // after alias expansion ("billion laughs")
};

// Exactly one document. Scalars follow the YAML 1.2 core schema: quoted or !!str scalars are
// strings; plain null/~/empty are null, true/false booleans (any of the three capitalisations),
// decimal/0x/0o integers, decimal floats; every other plain scalar is a string (so "yes" and "on"
// stay strings, unlike YAML 1.1). Duplicate keys, non-scalar keys, invalid UTF-8 and more than
// one document are errors; error messages carry yaml-cpp's line and column or the key path.
Result<nlohmann::json> YamlToJson(std::string_view text, const YamlLimits& limits = {});

}  // namespace kca::csr_internal
