// A private temporary directory, removed with its contents when the test ends.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace kca::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kca-kube-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }

  // Writes `contents` to `name` inside the directory (replacing it) and returns the full path.
  std::string Write(const std::string& name, const std::string& contents,
                    bool executable = false) const {
    const std::string full = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    const std::string temp = full + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << contents;
    }
    ::chmod(temp.c_str(), executable ? 0755 : 0644);
    // Rename, so a reader in another thread never sees a half-written file.
    std::filesystem::rename(temp, full);
    return full;
  }

 private:
  std::string path_;
};

}  // namespace kca::testing
