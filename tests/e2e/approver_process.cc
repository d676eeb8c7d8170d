#include "approver_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace kca::e2e {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

HttpAnswer LocalHttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return {};
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return {};
  }
  std::string response;
  char buffer[16384];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<size_t>(n));
  close(fd);
  const auto space = response.find(' ');
  const auto body = response.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) return {};
  HttpAnswer answer{std::atoi(response.c_str() + space + 1), response.substr(body + 4)};
  // prometheus-cpp answers with chunked encoding: undo it for the tests.
  if (response.substr(0, body).find("chunked") != std::string::npos) {
    std::string plain;
    size_t pos = 0;
    const std::string& chunked = answer.body;
    while (pos < chunked.size()) {
      const auto line_end = chunked.find("\r\n", pos);
      if (line_end == std::string::npos) break;
      const size_t size = std::stoul(chunked.substr(pos, line_end - pos), nullptr, 16);
      if (size == 0) break;
      plain += chunked.substr(line_end + 2, size);
      pos = line_end + 2 + size + 2;
    }
    answer.body = plain;
  }
  return answer;
}

Result<std::unique_ptr<ApproverProcess>> ApproverProcess::Start(Options options) {
  std::unique_ptr<ApproverProcess> process(new ApproverProcess());
  process->log_path_ = options.log_path;

  // The environment may name another binary or a wrapper (e.g. one that runs it under perf).
  const char* binary = std::getenv("KCA_APPROVER_BINARY");
  std::vector<std::string> argv_storage = {
      binary != nullptr && *binary != '\0' ? binary : KCA_APPROVER_BINARY, "run"};
  argv_storage.insert(argv_storage.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (options.env.count(key) == 0) env_storage.push_back(entry);
  }
  for (const auto& [key, value] : options.env) env_storage.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, options.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int error =
      posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return Error{std::string("cannot spawn ") + argv[0] + ": " + strerror(error)};
  if (!options.wait_ready) return process;

  const auto deadline = Clock::now() + options.start_timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(process->pid_, &status, WNOHANG) == process->pid_) {
      process->pid_ = -1;
      return Error{"kube-csr-approver exited during start-up:\n" + process->LogText()};
    }
    if (process->health_port_ == 0) {
      for (const auto& line : process->LogLines()) {
        if (line.value("msg", "") == "serving") {
          process->metrics_port_ = line.value("metrics_port", 0);
          process->health_port_ = line.value("health_port", 0);
        }
      }
    }
    if (process->health_port_ != 0 &&
        LocalHttpGet(process->health_port_, "/readyz").status == 200) {
      return process;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error{"kube-csr-approver not ready within the start timeout:\n" + process->LogText()};
}

ApproverProcess::~ApproverProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Result<ApproverProcess::Exit> ApproverProcess::Stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Error{"not running"};
  const auto start = Clock::now();
  kill(pid_, signal);
  auto status = Wait(timeout);
  if (!status.ok()) return status.error();
  return Exit{*status, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
}

Result<int> ApproverProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Error{"not running"};
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return Error{"ended by signal " + std::to_string(WTERMSIG(status))};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Error{"still running after the timeout"};
}

std::string ApproverProcess::LogText() const {
  std::ifstream file(log_path_);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::vector<nlohmann::json> ApproverProcess::LogLines() const {
  std::vector<nlohmann::json> lines;
  std::istringstream text(LogText());
  for (std::string line; std::getline(text, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) lines.push_back(std::move(parsed));
  }
  return lines;
}

double ApproverProcess::Metric(const std::string& series) const {
  const HttpAnswer answer = LocalHttpGet(metrics_port_, "/metrics");
  if (answer.status != 200) return -1;
  std::istringstream text(answer.body);
  for (std::string line; std::getline(text, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

}  // namespace kca::e2e
