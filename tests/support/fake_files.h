// An in-memory kube::FileReader for tests and fuzzers: files that appear, change, vanish or fail.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include "kube_csr_approver/kube/files.h"

namespace kca::testing {

// Thread-safety: every method may be called from any thread.
class FakeFiles final : public kube::FileReader {
 public:
  // `path` now holds `contents` (created or replaced).
  void Set(const std::string& path, std::string contents) {
    std::lock_guard lock(mutex_);
    files_[path] = Entry{std::move(contents), ""};
  }
  // Reading `path` now fails with `cause` ("Permission denied"), as an unreadable file does.
  void Fail(const std::string& path, std::string cause) {
    std::lock_guard lock(mutex_);
    files_[path] = Entry{"", std::move(cause)};
  }
  void Remove(const std::string& path) {
    std::lock_guard lock(mutex_);
    files_.erase(path);
  }
  // How many times `path` was read (successfully or not).
  int reads(const std::string& path) const {
    std::lock_guard lock(mutex_);
    auto it = reads_.find(path);
    return it == reads_.end() ? 0 : it->second;
  }

  Result<std::string> Read(const std::string& path, std::size_t max_bytes) const override {
    std::lock_guard lock(mutex_);
    ++reads_[path];
    auto it = files_.find(path);
    if (it == files_.end()) return Error{"cannot read " + path + ": No such file or directory"};
    if (!it->second.failure.empty())
      return Error{"cannot read " + path + ": " + it->second.failure};
    if (it->second.contents.size() > max_bytes) {
      return Error{"cannot read " + path + ": larger than " + std::to_string(max_bytes) + " bytes"};
    }
    return it->second.contents;
  }

 private:
  struct Entry {
    std::string contents;
    std::string failure;  // non-empty: reads fail with this cause
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> files_;
  mutable std::map<std::string, int> reads_;
};

}  // namespace kca::testing
