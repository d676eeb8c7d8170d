// Starts kube-apiserver-emulator for GoogleTest fixtures: a fresh data dir, port 0, waits for
// the "listening on" line, and stops it with SIGTERM on destruction.
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::emulator {

class EmulatorProcess {
 public:
  struct Options {
    std::vector<std::string> extra_args;  // e.g. {"--bookmark-interval", "1"}
    std::string data_dir;                 // empty: a new temporary directory, removed at the end
    std::chrono::milliseconds start_timeout{20000};
  };

  // Spawns the binary built with the tests (KCA_EMULATOR_BINARY) and waits until it listens.
  static Result<std::unique_ptr<EmulatorProcess>> Start(Options options);
  static Result<std::unique_ptr<EmulatorProcess>> Start() { return Start(Options{}); }
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  // DIR/admin.kubeconfig, DIR/approver.kubeconfig, DIR/user.kubeconfig.
  std::string kubeconfig(const std::string& identity) const {
    return data_dir_ + "/" + identity + ".kubeconfig";
  }

  // Sends SIGTERM and waits; returns the exit status (or an error on timeout or signal).
  Result<int> Stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  EmulatorProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
  uint16_t port_ = 0;
  std::string data_dir_;
  bool owns_data_dir_ = false;
};

}  // namespace kca::emulator
