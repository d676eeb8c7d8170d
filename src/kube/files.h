// Small-file reads for configuration and credentials (kubeconfig, CA, token, key files).
#pragma once

#include <cstddef>
#include <string>

#include "kube_csr_approver/common/result.h"

namespace kca::kube {

// Whole contents of `path`, refusing anything larger than `max_bytes` (a config file that large
// is a mistake, not something to load into memory). Errors name the path and the OS reason.
Result<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes = 4 << 20);

// `path` unchanged when absolute or empty, else joined to `base_dir`.
std::string ResolveAgainst(const std::string& base_dir, const std::string& path);

}  // namespace kca::kube
