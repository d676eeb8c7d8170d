// Runs the real kube-csr-approver binary for end-to-end tests: spawned with the given flags and
// environment, its log (stderr and stdout) captured to a file, its ports learned from the
// "serving" log line, stopped with a signal and waited for.
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::e2e {

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// Plain HTTP GET on 127.0.0.1:port (the probes and /metrics).
HttpAnswer LocalHttpGet(int port, const std::string& path);

class ApproverProcess {
 public:
  struct Options {
    std::vector<std::string> args;           // after "run"
    std::map<std::string, std::string> env;  // added to the inherited environment
    std::string log_path;                    // where stderr+stdout go
    bool wait_ready = true;                  // wait for /readyz 200
    std::chrono::milliseconds start_timeout{20000};
  };

  // Spawns KCA_APPROVER_BINARY and, with wait_ready, waits until /readyz answers 200.
  static Result<std::unique_ptr<ApproverProcess>> Start(Options options);
  ~ApproverProcess();  // SIGKILL if still running

  int metrics_port() const { return metrics_port_; }
  int health_port() const { return health_port_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits up to `timeout`; returns the exit status (error when it did not end
  // or ended by a signal) and how long it took.
  struct Exit {
    int status;
    std::chrono::milliseconds took;
  };
  Result<Exit> Stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the process to end by itself (e.g. a start-up failure).
  Result<int> Wait(std::chrono::milliseconds timeout);

  // Every JSON log line so far (lines that are not JSON are skipped).
  std::vector<nlohmann::json> LogLines() const;
  std::string LogText() const;
  // The value of a sample line of /metrics, e.g.
  // `kube_csr_approver_leader` or `kube_csr_approver_decisions_total{decision="approved",...}`;
  // -1 when absent or unreachable.
  double Metric(const std::string& series) const;

 private:
  ApproverProcess() = default;
  pid_t pid_ = -1;
  std::string log_path_;
  int metrics_port_ = 0;
  int health_port_ = 0;
};

}  // namespace kca::e2e
