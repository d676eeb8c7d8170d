#include "emulator_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace kca::emulator {

Result<std::unique_ptr<EmulatorProcess>> EmulatorProcess::Start(Options options) {
  std::unique_ptr<EmulatorProcess> p(new EmulatorProcess());
  if (options.data_dir.empty()) {
    std::string templ = (std::filesystem::temp_directory_path() / "kca-emulator-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) return Error{"cannot create a temporary data dir"};
    p->data_dir_ = templ;
    p->owns_data_dir_ = true;
  } else {
    p->data_dir_ = options.data_dir;
  }
  std::vector<std::string> args = {KCA_EMULATOR_BINARY, "--listen", "127.0.0.1:0", "--data-dir",
                                   p->data_dir_};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Error{"pipe() failed"};
  pid_t pid = fork();
  if (pid < 0) return Error{"fork() failed"};
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  p->pid_ = pid;
  p->stdout_fd_ = out[0];
  // Read the "listening on https://127.0.0.1:PORT" line within the deadline.
  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  std::string line;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error{"the emulator did not print its listening line in time"};
    pollfd pfd{p->stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = read(p->stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return Error{"the emulator exited before listening (see its stderr)"};
    line.append(buf, static_cast<size_t>(n));
  }
  const std::string kPrefix = "listening on ";
  line = line.substr(0, line.find('\n'));
  if (line.rfind(kPrefix, 0) != 0) return Error{"unexpected first line from the emulator: " + line};
  p->url_ = line.substr(kPrefix.size());
  p->port_ = static_cast<uint16_t>(std::stoi(p->url_.substr(p->url_.rfind(':') + 1)));
  return p;
}

Result<int> EmulatorProcess::Stop(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return Error{"the emulator is not running"};
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return Error{"the emulator did not exit within the timeout after SIGTERM"};
    }
    // Polling a child's exit has no notification primitive short of SIGCHLD handling.
    usleep(10000);
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return Error{"the emulator died of signal " + std::to_string(WTERMSIG(status))};
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ > 0) (void)Stop();
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (owns_data_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }
}

}  // namespace kca::emulator
