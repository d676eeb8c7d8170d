#include "run_options.h"

#include <charconv>
#include <cmath>

namespace kca {
namespace {

CLI::Option* WithEnv(CLI::Option* option, const std::string& flag) {
  std::string env = "KUBE_CSR_APPROVER_";
  for (char c : flag) env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return option->envname(env);
}

}  // namespace

void AddRunFlags(CLI::App& command, RunOptions& options) {
  WithEnv(command.add_option("--policy", options.policy_path, "Policy file (YAML or JSON)"),
          "policy");
  WithEnv(command.add_option("--kubeconfig", options.kubeconfig,
                             "kubeconfig file; without it: $KUBECONFIG, in-cluster, ~/.kube/config"),
          "kubeconfig");
  WithEnv(command.add_flag("--dry-run", options.dry_run,
                           "Decide, log and count, but write nothing to the API server"),
          "dry-run");
  WithEnv(command.add_flag("--leader-elect", options.leader_elect,
                           "Elect a leader on a coordination.k8s.io Lease; only it writes"),
          "leader-elect");
  WithEnv(command.add_option("--leader-election-namespace", options.leader_election_namespace,
                             "Namespace of the Lease (default: the pod's namespace)"),
          "leader-election-namespace");
  WithEnv(command.add_option("--leader-election-id", options.leader_election_id,
                             "Name of the Lease")
              ->capture_default_str(),
          "leader-election-id");
  WithEnv(command.add_option("--metrics-bind-address", options.metrics_bind_address,
                             "HOST:PORT for /metrics")
              ->capture_default_str(),
          "metrics-bind-address");
  WithEnv(command.add_option("--health-probe-bind-address", options.health_probe_bind_address,
                             "HOST:PORT for /healthz and /readyz")
              ->capture_default_str(),
          "health-probe-bind-address");
  WithEnv(command.add_option("--workers", options.workers, "CSRs decided in parallel")
              ->capture_default_str(),
          "workers");
  WithEnv(command.add_option("--qps", options.qps,
                             "Client-side limit of API requests per second (<= 0: unlimited)")
              ->capture_default_str(),
          "qps");
  WithEnv(command.add_option("--burst", options.burst, "Client-side burst of API requests")
              ->capture_default_str(),
          "burst");
  WithEnv(command.add_option("--resync-period", options.resync_period_text,
                             "Re-examine every pending CSR this often (e.g. 10m, 30s)")
              ->capture_default_str(),
          "resync-period");
  WithEnv(command.add_option("--log-level", options.log_level,
                             "trace, debug, info, warn, error, critical or off")
              ->capture_default_str(),
          "log-level");
  WithEnv(command.add_option("--log-format", options.log_format, "json or text")
              ->capture_default_str(),
          "log-format");
}

Status FinishRunOptions(RunOptions& options) {
  if (options.policy_path.empty()) {
    return Error{"--policy (or KUBE_CSR_APPROVER_POLICY) is required: the policy file to enforce"};
  }
  if (options.workers < 1 || options.workers > 64) {
    return Error{"--workers must be between 1 and 64, not " + std::to_string(options.workers)};
  }
  if (options.burst < 1) {
    return Error{"--burst must be at least 1, not " + std::to_string(options.burst)};
  }
  auto resync = ParseDuration(options.resync_period_text);
  if (!resync.ok()) return Error{"--resync-period: " + resync.error().message};
  if (*resync < std::chrono::seconds(1)) {
    return Error{"--resync-period must be at least 1s, not \"" + options.resync_period_text + "\""};
  }
  options.resync_period = *resync;
  return Status::Ok();
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return Error{"\"" + std::string(text) +
                 "\" is not a duration; write a number with a unit: 500ms, 30s, 10m, 1h30m"};
  };
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return invalid();
  double total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[digits])) ||
                                    rest[digits] == '.')) {
      ++digits;
    }
    if (digits == 0) return invalid();
    double value = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + digits, value);
    if (ec != std::errc() || end != rest.data() + digits) return invalid();
    rest.remove_prefix(digits);
    double unit_ms = 0;
    if (rest.starts_with("ms")) {
      unit_ms = 1, rest.remove_prefix(2);
    } else if (rest.starts_with("s")) {
      unit_ms = 1000, rest.remove_prefix(1);
    } else if (rest.starts_with("m")) {
      unit_ms = 60'000, rest.remove_prefix(1);
    } else if (rest.starts_with("h")) {
      unit_ms = 3'600'000, rest.remove_prefix(1);
    } else {
      return invalid();
    }
    total_ms += value * unit_ms;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e15) return invalid();
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

}  // namespace kca
