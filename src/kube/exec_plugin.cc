#include "exec_plugin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/kube/default_trust.h"

extern char** environ;

namespace kca::kube {
namespace {

constexpr std::size_t kMaxPluginOutput = 1 << 20;
constexpr std::size_t kMaxStderrInError = 512;

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string ExecInfo(const ExecPluginConfig& plugin, const KubeConfig& cluster) {
  nlohmann::json spec = {{"interactive", false}};
  if (plugin.provide_cluster_info) {
    nlohmann::json info = {{"server", cluster.server}};
    if (!cluster.tls_server_name.empty()) info["tls-server-name"] = cluster.tls_server_name;
    if (!cluster.ca_pem.empty()) {
      // The cluster's certificate-authority-data is base64 of the PEM bytes.
      info["certificate-authority-data"] = EncodeBase64(cluster.ca_pem);
    }
    spec["cluster"] = info;
  }
  return nlohmann::json{
      {"apiVersion", plugin.api_version}, {"kind", "ExecCredential"}, {"spec", spec}}
      .dump();
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

Result<std::string> RunExecPlugin(const ExecPluginConfig& plugin, const KubeConfig& cluster,
                                  std::chrono::milliseconds timeout) {
  const std::string name = "exec credential plugin \"" + plugin.command + "\"";
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return Error{name + ": cannot create a pipe: " + std::strerror(errno)};
  }
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return Error{name + ": cannot create a pipe: " + std::strerror(errno)};
  }
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "KUBERNETES_EXEC_INFO=", 21) != 0) env_strings.emplace_back(*e);
  }
  RestoreTrustEnvironment(env_strings);  // the plugin's own TLS must find the system CAs
  for (const auto& [key, value] : plugin.env) env_strings.push_back(key + "=" + value);
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + ExecInfo(plugin, cluster));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings{plugin.command};
  arg_strings.insert(arg_strings.end(), plugin.args.begin(), plugin.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawnp(&pid, plugin.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  out_write.Reset();
  err_write.Reset();
  if (spawn_error != 0) {
    std::string message = name + ": cannot start: " + std::strerror(spawn_error);
    if (!plugin.install_hint.empty()) message += " (" + plugin.install_hint + ")";
    return Error{message};
  }

  std::string out, err;
  bool timed_out = false, too_large = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& sink = i == 0 ? out : err;
      if (i == 0 || sink.size() < kMaxStderrInError) sink.append(buffer, static_cast<size_t>(n));
      if (out.size() > kMaxPluginOutput) too_large = true;
    }
    if (too_large) break;
  }
  if (timed_out || too_large) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error{name + ": no answer within " + std::to_string(timeout.count()) + " ms (killed)"};
  }
  if (too_large) return Error{name + ": printed more than 1 MiB (killed)"};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (err.size() > kMaxStderrInError) err.resize(kMaxStderrInError);
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    std::string message = name + " " + DescribeExit(status);
    if (!err.empty()) message += ": " + err;
    return Error{message};
  }
  return out;
}

Result<ExecCredential> ParseExecCredential(const std::string& output,
                                           const std::string& expected_api_version) {
  const std::string what = "exec credential plugin output";
  const nlohmann::json doc = nlohmann::json::parse(output, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error{what + ": not a JSON ExecCredential object"};
  }
  auto text = [&](const nlohmann::json& parent, const char* key) -> std::optional<std::string> {
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (text(doc, "kind") != "ExecCredential") return Error{what + ": kind must be ExecCredential"};
  if (text(doc, "apiVersion") != expected_api_version) {
    return Error{what + ": apiVersion must be " + expected_api_version + " as configured"};
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) return Error{what + ": status is missing"};
  ExecCredential result;
  result.credentials.bearer_token = text(*status, "token").value_or("");
  result.credentials.client_certificate_pem = text(*status, "clientCertificateData").value_or("");
  result.credentials.client_key_pem = text(*status, "clientKeyData").value_or("");
  const bool has_cert = !result.credentials.client_certificate_pem.empty();
  const bool has_key = !result.credentials.client_key_pem.empty();
  if (has_cert != has_key) {
    return Error{what + ": status.clientCertificateData and status.clientKeyData go together"};
  }
  if (result.credentials.bearer_token.empty() && !has_cert) {
    return Error{what + ": status has neither token nor clientCertificateData/clientKeyData"};
  }
  if (auto expiry = text(*status, "expirationTimestamp"); expiry && !expiry->empty()) {
    result.expiry = ParseRfc3339(*expiry);
    if (!result.expiry) {
      return Error{what + ": status.expirationTimestamp \"" + *expiry + "\" is not RFC 3339"};
    }
  }
  return result;
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  // Digits exactly where RFC 3339 puts them (sscanf alone took " 226", "-1" or "+1" as numbers).
  const auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
             minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  static constexpr int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  if (*month < 1 || *month > 12 || *day < 1 || *day > kDaysInMonth[*month - 1] ||
      (*month == 2 && *day == 29 && !leap) || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::chrono::nanoseconds fraction{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100000000;
    const std::size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      fraction += std::chrono::nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  std::chrono::seconds offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
             text[pos + 3] == ':') {
    const auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset = std::chrono::hours(*oh) + std::chrono::minutes(*om);
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const std::time_t utc = ::timegm(&tm);
  // system_clock counts nanoseconds in 64 bits: about the years 1678..2261. Outside them the
  // conversion overflowed (found by fuzz_exec_credential: "1013-01-01T01:02:03.456+02:00").
  constexpr std::time_t kRepresentable =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
          .count() -
      2 * 86400;
  if (utc > kRepresentable || utc < -kRepresentable) return std::nullopt;
  return std::chrono::system_clock::from_time_t(utc) - offset +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

}  // namespace kca::kube
