// Small-file reads for configuration and credentials (policy, kubeconfig, CA, client cert/key,
// token and service-account files), through one seam so tests and fuzzers can drive them.
#pragma once

#include <cstddef>
#include <string>

#include "kube_csr_approver/common/result.h"

namespace kca::kube {

// Default cap of FileReader::Read: a configuration file larger than this is a mistake, not
// something to load into memory.
inline constexpr std::size_t kMaxSmallFileBytes = 4u << 20;

// Reads whole small files. Symlinks are followed (a ConfigMap or Secret volume swaps `..data`).
// Thread-safety: Read() may be called from any thread.
class FileReader {
 public:
  virtual ~FileReader() = default;
  // The contents of `path`, refusing more than `max_bytes`. Errors name the path and the cause
  // ("cannot read /x/token: No such file or directory").
  virtual Result<std::string> Read(const std::string& path,
                                   std::size_t max_bytes = kMaxSmallFileBytes) const = 0;
};

// The local filesystem. Lives for the whole process.
const FileReader& LocalFiles();

// LocalFiles().Read(path, max_bytes).
Result<std::string> ReadSmallFile(const std::string& path,
                                  std::size_t max_bytes = kMaxSmallFileBytes);

// `path` unchanged when absolute or empty, else joined to `base_dir`.
std::string ResolveAgainst(const std::string& base_dir, const std::string& path);

}  // namespace kca::kube
