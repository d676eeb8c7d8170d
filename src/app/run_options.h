// The flags of `kube-csr-approver run` (DESIGN.md "Command line"); each also reads an environment
// variable KUBE_CSR_APPROVER_<FLAG> (e.g. --policy ← KUBE_CSR_APPROVER_POLICY), flag first.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

#include "kube_csr_approver/common/result.h"

namespace kca {

struct RunOptions {
  std::string policy_path;  // required
  std::string kubeconfig;   // empty: $KUBECONFIG, in-cluster, ~/.kube/config (client-go order)
  bool dry_run = false;
  bool leader_elect = false;
  std::string leader_election_namespace;  // empty: the pod's namespace
  std::string leader_election_id = "kube-csr-approver";
  std::string metrics_bind_address = "0.0.0.0:9090";
  std::string health_probe_bind_address = "0.0.0.0:8081";
  int workers = 4;
  double qps = 20;
  int burst = 30;
  std::string resync_period_text = "10m";
  std::chrono::milliseconds resync_period{std::chrono::minutes(10)};  // parsed from the text
  std::string log_level = "info";
  std::string log_format = "json";
};

// Registers every flag (with its environment variable) on `command`, writing into `options`.
void AddRunFlags(CLI::App& command, RunOptions& options);

// Checks what CLI11 cannot (ranges, durations) and fills the parsed fields. Errors name the flag.
Status FinishRunOptions(RunOptions& options);

// Go-style durations as Kubernetes flags take them: "10m", "30s", "1h30m", "500ms". A bare "0"
// means zero. Error names the text.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace kca
