// The policy module's small public pieces: names, issue formatting, summary, file reading.
#include "kube_csr_approver/policy/policy.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "kube_csr_approver/csr/key_usages.h"
#include "policy_model.h"

namespace kca {

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kApprove:
      return "approve";
    case Action::kDeny:
      return "deny";
    case Action::kLog:
      return "log";
    case Action::kSkip:
      return "skip";
    case Action::kPending:
      return "pending";
  }
  return "unknown";
}

std::string PolicyIssue::ToString() const {
  std::string out = file;
  if (line > 0) {
    out += (out.empty() ? "" : ":") + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  if (!path.empty()) out += (out.empty() ? "" : ": ") + path;
  if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
  return out;
}

PolicySummary Summarize(const Policy& policy) { return policy.summary; }

namespace {

// A policy is a few kilobytes; anything far larger is a mistake (a wrong path, a binary file).
constexpr size_t kMaxPolicyBytes = 4 * 1024 * 1024;

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error{std::string("cannot open the policy file: ") + std::strerror(errno)};
  }
  std::string text;
  std::array<char, 65536> buffer;
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      return Error{std::string("cannot read the policy file: ") + std::strerror(saved)};
    }
    if (n == 0) break;
    text.append(buffer.data(), static_cast<size_t>(n));
    if (text.size() > kMaxPolicyBytes) {
      ::close(fd);
      return Error{"the policy file is larger than " + std::to_string(kMaxPolicyBytes) +
                   " bytes; is this the right file?"};
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

PolicyLoadResult LoadPolicyFile(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    PolicyLoadResult result;
    result.errors.push_back(PolicyIssue{path, 0, 0, "", text.error().message});
    return result;
  }
  return ParsePolicy(*text, path);
}

namespace policy {

const std::vector<std::string>& KnownUsages() {
  static const std::vector<std::string> kUsages(kKeyUsages.begin(), kKeyUsages.end());
  return kUsages;
}

int UsageIndex(std::string_view usage) {
  const std::vector<std::string>& usages = KnownUsages();
  for (size_t i = 0; i < usages.size(); ++i) {
    if (usages[i] == usage) return static_cast<int>(i);
  }
  return -1;
}

std::string DescribeUsages(UsageSet usages) {
  std::string out = "[";
  const std::vector<std::string>& known = KnownUsages();
  for (size_t i = 0; i < known.size(); ++i) {
    if ((usages & (UsageSet{1} << i)) == 0) continue;
    if (out.size() > 1) out += ", ";
    out += known[i];
  }
  return out + "]";
}

}  // namespace policy
}  // namespace kca
