#include "run_command.h"

#include <prometheus/exposer.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <thread>

#include "commands.h"
#include "kube_csr_approver/controller/controller.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/credentials.h"
#include "kube_csr_approver/kube/default_trust.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "kube_csr_approver/observability/health.h"
#include "kube_csr_approver/observability/logging.h"
#include "kube_csr_approver/observability/memory.h"
#include "kube_csr_approver/observability/metrics.h"
#include "kube_csr_approver/version.h"

namespace kca {
namespace {

constexpr int kExitStartupFailure = 1;

// The work loop counts as stuck when waiting CSRs see no progress for this long (/healthz).
constexpr auto kStuckAfter = std::chrono::minutes(2);

// The pod name: POD_NAME (the chart sets it from the downward API), else the hostname (which
// Kubernetes sets to the pod name). Events' reportingInstance.
std::string PodName() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

// Unique among replicas: the pod name plus a random suffix (as client-go's examples do), so a
// restarted pod with the same name is a new holder.
std::string LeaderIdentity() {
  std::random_device random;
  return PodName() + "_" + std::to_string(random() % 100000000);
}

// Signals are blocked in every thread (they inherit the mask) and taken synchronously here, so
// no handler runs in signal context; the first SIGTERM/SIGINT stops the controller, a second
// one ends the process at once (an operator who asks twice does not want to wait).
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  ~SignalWaiter() { Finish(); }

  // Starts the waiting thread; `callback` runs on it for the first signal. A second signal
  // (SIGTERM or SIGINT, sent before the shutdown ended) exits with 128 + its number, skipping
  // teardown.
  void OnSignal(std::function<void(int)> callback) {
    thread_ = std::thread([this, callback = std::move(callback)] {
      siginfo_t info{};
      if (sigwaitinfo(&set_, &info) < 0 || IsWakeUp(info)) return;
      callback(info.si_signo);
      if (sigwaitinfo(&set_, &info) < 0) return;
      // The shutdown may end before this thread is scheduled again, and Finish's wake-up is
      // thread-directed, so it is taken before a second signal already pending for the process:
      // look for one before taking the wake-up as "no second signal".
      if (IsWakeUp(info)) {
        const timespec now{};
        if (sigtimedwait(&set_, &info, &now) < 0) return;
      }
      static constexpr char kMessage[] = "second signal: exiting at once\n";
      (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
      std::_Exit(128 + info.si_signo);
    });
  }

  // Ends the waiting thread (a callback already running completes first), so nothing the
  // callback touches is used after this returns.
  void Finish() {
    if (thread_.joinable()) {
      sigval wake{};
      wake.sival_int = kWakeUp;  // wakes sigwaitinfo if no signal came
      pthread_sigqueue(thread_.native_handle(), SIGTERM, wake);
      thread_.join();
    }
  }

 private:
  // Finish's queued signal carries a value, which a signal sent with kill(2) cannot (SI_USER).
  static constexpr int kWakeUp = 0x6b6361;
  static bool IsWakeUp(const siginfo_t& info) {
    return info.si_code == SI_QUEUE && info.si_pid == ::getpid() &&
           info.si_value.sival_int == kWakeUp;
  }

  sigset_t set_;
  std::thread thread_;
};

// /metrics on its own port; prometheus-cpp throws when it cannot bind.
Result<std::unique_ptr<prometheus::Exposer>> StartMetricsServer(const std::string& address,
                                                                const ApproverMetrics& metrics) {
  try {
    std::string civet_address = address.starts_with(":") ? address.substr(1) : address;
    auto exposer = std::make_unique<prometheus::Exposer>(civet_address, 2);
    exposer->RegisterCollectable(metrics.registry());
    exposer->RegisterCollectable(metrics.process_collector());
    return exposer;
  } catch (const std::exception& e) {
    const std::string reason = BindFailureReason(address);
    return Error{"--metrics-bind-address " + address +
                 ": cannot listen: " + (reason.empty() ? e.what() : reason)};
  }
}

// Two arenas for a dozen threads: what a drain frees is reused across threads instead of held
// per arena (docs/reliability.md, "Memory over relists": after four relist cycles +7.6 MiB kept
// instead of +12.1 MiB), at no CPU cost a drain could measure.
constexpr int kMallocArenas = 2;

}  // namespace

int RunController(RunOptions options) {
  kube::DeferDefaultTrustStore();    // sets SSL_CERT_FILE: before any thread starts
  LimitMallocArenas(kMallocArenas);  // before any thread takes an arena of its own
  SignalWaiter signals;              // before any library starts a thread
  // cpprestsdk's shared pool otherwise starts 40 threads, and every request and body chunk is
  // handed between them: on a 2-core node that costs more CPU than the I/O itself (measured in
  // docs/benchmarks.md). Our calls block only on their own threads, never inside the pool. One
  // thread runs all HTTP I/O (TLS, reads, writes) for the API client, the watch and Events, and
  // lets a stopped watch close its connection at once (api_client.h).
  kube::StartHttpIoThread();

  if (const Status status = FinishRunOptions(options); !status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return kExitUsageError;
  }
  if (const Status status = ConfigureLogging(options.log_level, options.log_format); !status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return kExitUsageError;
  }
  LogEvent(spdlog::level::info, "starting",
           {{"version", kVersion},
            {"revision", kRevision},
            {"policy", options.policy_path},
            {"dry_run", options.dry_run},
            {"workers", options.workers},
            {"leader_elect", options.leader_elect}});

  const Clock& clock = RealClock::Instance();
  ApproverMetrics metrics(kVersion, kRevision);
  HealthState health(clock, kStuckAfter);

  // 1. The policy: an invalid one at start is fatal, with every loader error.
  controller::PolicyHolder policies;
  controller::PolicyFileWatcher policy_file(options.policy_path, policies, metrics);
  if (const Status status = policy_file.LoadInitial(); !status.ok()) {
    spdlog::critical("the policy cannot be loaded; nothing was started:\n{}", status.message());
    spdlog::shutdown();
    return kExitUsageError;
  }
  health.SetPolicyLoaded(true);

  // 2. The API server: configuration, credentials, client.
  auto config = kube::LoadClientConfig(options.kubeconfig, kube::ProcessEnvironment());
  if (!config.ok()) {
    spdlog::critical("{}", config.error().message);
    spdlog::shutdown();
    return kExitStartupFailure;
  }
  kube::ApiClientOptions client_options;
  client_options.qps = options.qps;
  client_options.burst = options.burst;
  client_options.observer = [&metrics](std::string_view verb, int code) {
    metrics.CountApiRequest(verb, code == 0 ? "error" : std::to_string(code));
  };
  auto client =
      kube::NewApiClient(*config, kube::NewCredentialSource(*config, clock), clock, client_options);
  if (!client.ok()) {
    spdlog::critical("{}", client.error().message);
    spdlog::shutdown();
    return kExitStartupFailure;
  }

  // 3. The controller.
  controller::ControllerOptions controller_options;
  controller_options.events.reporting_instance = PodName();
  Result<std::unique_ptr<kube::ApiClient>> lease_client = std::unique_ptr<kube::ApiClient>();
  controller_options.workers = options.workers;
  controller_options.dry_run = options.dry_run;
  controller_options.resync_period = options.resync_period;
  // A relist's pages are megabytes of JSON freed at once: give them back (docs/reliability.md).
  controller_options.after_list = ReleaseFreedMemory;
  if (options.leader_elect) {
    kube::LeaderElectionOptions election;
    election.lease_namespace = options.leader_election_namespace.empty()
                                   ? config->namespace_name
                                   : options.leader_election_namespace;
    election.lease_name = options.leader_election_id;
    election.identity = LeaderIdentity();
    controller_options.leader_election = election;
    // The Lease gets a client of its own: its own rate budget, connections and credentials.
    lease_client = kube::NewApiClient(*config, kube::NewCredentialSource(*config, clock), clock,
                                      kube::LeaderElectionClientOptions(election, client_options));
    if (!lease_client.ok()) {
      spdlog::critical("{}", lease_client.error().message);
      spdlog::shutdown();
      return kExitStartupFailure;
    }
    controller_options.lease_client = lease_client->get();
  }
  controller::Controller controller(**client, clock, metrics, health, policies, &policy_file,
                                    controller_options);
  if (const Status status = controller.Validate(); !status.ok()) {
    spdlog::critical("{}", status.message());
    spdlog::shutdown();
    return kExitUsageError;
  }

  // 4. HTTP: probes and metrics.
  auto probes = ProbeServer::Start(options.health_probe_bind_address, HealthRoutes(health),
                                   [&metrics] { metrics.CountUnexpectedError("probe"); });
  if (!probes.ok()) {
    spdlog::critical("--health-probe-bind-address: {}", probes.error().message);
    spdlog::shutdown();
    return kExitStartupFailure;
  }
  auto exposer = StartMetricsServer(options.metrics_bind_address, metrics);
  if (!exposer.ok()) {
    spdlog::critical("{}", exposer.error().message);
    spdlog::shutdown();
    return kExitStartupFailure;
  }
  LogEvent(spdlog::level::info, "serving",
           {{"api_server", config->server},
            {"credentials", config->source},
            {"metrics_port",
             (*exposer)->GetListeningPorts().empty() ? 0 : (*exposer)->GetListeningPorts().front()},
            {"health_port", (*probes)->port()}});

  // 5. Run until a signal; Run() performs the ordered shutdown before it returns.
  signals.OnSignal([&controller](int signal) {
    LogEvent(spdlog::level::info, "shutting down", {{"signal", strsignal(signal)}});
    controller.Stop();
  });
  controller.Run();
  signals.Finish();

  // 6. Teardown in reverse order of start-up: HTTP servers, then the client. civetweb takes up
  // to its 2 s poll quantum to stop a server, so both servers stop side by side.
  std::thread stop_metrics([&exposer] { exposer->reset(); });
  probes->reset();
  stop_metrics.join();
  client->reset();
  if (lease_client.ok()) lease_client->reset();
  LogEvent(spdlog::level::info, "stopped", nlohmann::json::object());
  spdlog::shutdown();
  return kExitOk;
}

}  // namespace kca
