// Counts the HTTP answers an ApiClient reports through its RequestObserver, by "verb code"
// (e.g. "update 409"), so integration tests can assert how many calls were made.
// Thread-safety: the observer and Count may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::testing {

class RequestCounter {
 public:
  kube::RequestObserver Observer() {
    return [this](std::string_view verb, int code) {
      std::lock_guard lock(mutex_);
      ++counts_[std::string(verb) + " " + std::to_string(code)];
    };
  }
  int Count(const std::string& key) {
    std::lock_guard lock(mutex_);
    return counts_[key];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int> counts_;  // guarded by mutex_
};

}  // namespace kca::testing
