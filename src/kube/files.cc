#include "kube_csr_approver/kube/files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kca::kube {
namespace {

class LocalFileReader final : public FileReader {
 public:
  Result<std::string> Read(const std::string& path, std::size_t max_bytes) const override;
};

Result<std::string> LocalFileReader::Read(const std::string& path, std::size_t max_bytes) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  std::string contents;
  char chunk[8192];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    contents.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (contents.size() > max_bytes) {
      return Error{"cannot read " + path + ": larger than " + std::to_string(max_bytes) + " bytes"};
    }
  }
  if (in.bad()) {
    return Error{"cannot read " + path + ": I/O error"};
  }
  return contents;
}

}  // namespace

const FileReader& LocalFiles() {
  static const LocalFileReader reader;
  return reader;
}

Result<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes) {
  return LocalFiles().Read(path, max_bytes);
}

std::string ResolveAgainst(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) {
    return path;
  }
  return base_dir + "/" + path;
}

}  // namespace kca::kube
