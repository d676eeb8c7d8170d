// Where the approver's memory goes over a store's life (a program, not a test; docs/reliability.md,
// "Memory over relists"). The Controller with the real cpprestsdk client and informer runs in this
// process against kube-apiserver-emulator, so glibc's own figures (mallinfo2) can be read beside
// VmRSS: the live heap (bytes in use) apart from what malloc keeps after freeing it.
// Each cycle: create --csrs CSRs (all approved), --relists forced relists (410 on the next watch),
// delete them all, one relist more; the figures at each step are deltas against the baseline
// measured in the same run (synced on an empty store). A final malloc_trim(0) shows how much of the
// RSS was freed memory malloc had kept.
//
// Usage: controller_memory_bench [--csrs 2000] [--relists 5] [--cycles 3] [--trim-after-relist 0|1]
//                                [--exit-at-end 0|1]
#include <malloc.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "../bench_support.h"
#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"
#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/controller/controller.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "kube_csr_approver/observability/logging.h"
#include "kube_csr_approver/observability/memory.h"

namespace {

using kca::bench::CsrObject;
using kca::bench::Flag;
using kca::bench::kPolicy;
using kca::emulator::Credentials;
using kca::emulator::EmulatorProcess;
using kca::emulator::HttpsClient;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kCsrs[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::seconds timeout = 120s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct Figures {
  double rss_mib = 0;
  double in_use_mib = 0;     // mallinfo2: uordblks + hblkhd (live allocations)
  double kept_free_mib = 0;  // mallinfo2: fordblks (freed, still held by malloc)
  int arenas = 0;            // malloc_info: <heap> elements
};

double Mib(double bytes) { return bytes / (1024.0 * 1024.0); }

int CountArenas() {
  char* text = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&text, &size);
  if (stream == nullptr) return -1;
  malloc_info(0, stream);
  std::fclose(stream);
  int arenas = 0;
  for (const char* p = text; (p = std::strstr(p, "<heap nr=")) != nullptr; ++p) ++arenas;
  std::free(text);
  return arenas;
}

Figures Measure() {
  Figures figures;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) figures.rss_mib = std::atol(line.c_str() + 6) / 1024.0;
  }
  const struct mallinfo2 info = mallinfo2();
  figures.in_use_mib = Mib(static_cast<double>(info.uordblks + info.hblkhd));
  figures.kept_free_mib = Mib(static_cast<double>(info.fordblks));
  figures.arenas = CountArenas();
  return figures;
}

void Print(const std::string& step, int stored, const Figures& now, const Figures& base) {
  std::printf("| %-34s | %6d | %6.2f (%+6.2f) | %6.2f (%+6.2f) | %6.2f (%+6.2f) | %2d |\n",
              step.c_str(), stored, now.rss_mib, now.rss_mib - base.rss_mib, now.in_use_mib,
              now.in_use_mib - base.in_use_mib, now.kept_free_mib,
              now.kept_free_mib - base.kept_free_mib, now.arenas);
  std::fflush(stdout);
}

double CounterSum(const prometheus::Registry& registry, const std::string& family) {
  double sum = 0;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& metric : f.metric) sum += metric.counter.value;
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int csrs = Flag(argc, argv, "--csrs", 2000);
  const int relists = Flag(argc, argv, "--relists", 5);
  const int cycles = Flag(argc, argv, "--cycles", 3);
  const bool trim_after_relist = Flag(argc, argv, "--trim-after-relist", 0) != 0;
  // For heaptrack: end the process right after the last step, without tearing anything down, so
  // that what it reports as leaked is exactly what was live then.
  const bool exit_at_end = Flag(argc, argv, "--exit-at-end", 0) != 0;

  // As `run` logs: audit lines at info whatever the level, the rest at warn and above, on stderr.
  if (auto logging = kca::ConfigureLogging("warn", "json"); !logging.ok()) return 1;
  EmulatorProcess::Options emulator_options;
  emulator_options.extra_args = {"--bookmark-interval", "1"};
  auto emulator = EmulatorProcess::Start(emulator_options);
  if (!emulator.ok()) {
    std::cerr << "emulator: " << emulator.error().message << "\n";
    return 1;
  }
  auto admin_credentials = Credentials::FromDataDir((*emulator)->data_dir(), "admin");
  if (!admin_credentials.ok()) {
    std::cerr << admin_credentials.error().message << "\n";
    return 1;
  }
  HttpsClient admin("127.0.0.1", (*emulator)->port(), *admin_credentials);

  const std::string policy_path = (*emulator)->data_dir() + "/policy.yaml";
  std::ofstream(policy_path) << kPolicy;
  auto config = kca::kube::LoadKubeconfigFile((*emulator)->kubeconfig("approver"));
  if (!config.ok()) {
    std::cerr << config.error().message << "\n";
    return 1;
  }
  kca::kube::ApiClientOptions client_options;
  client_options.qps = 0;
  auto client = kca::kube::NewApiClient(
      *config, kca::kube::NewCredentialSource(*config, kca::RealClock::Instance()),
      kca::RealClock::Instance(), client_options);
  if (!client.ok()) {
    std::cerr << client.error().message << "\n";
    return 1;
  }
  kca::ApproverMetrics metrics("bench", "bench");
  kca::HealthState health(kca::RealClock::Instance(), 2min);
  kca::controller::PolicyHolder policies;
  kca::controller::PolicyFileWatcher watcher(policy_path, policies, metrics);
  if (!watcher.LoadInitial().ok()) return 1;

  std::atomic<int> lists_done{0};
  std::atomic<double> longest_trim_ms{0};
  kca::controller::ControllerOptions options;
  // Events sent as fast as the emulator takes them: a backlog of unsent Events (bounded by
  // events.queue_capacity) would be counted as live heap at every step.
  options.events.qps = 0;
  // Watches end every 2 s, so that a 410 set up for the next watch comes within seconds.
  options.informer.min_watch_timeout = 2s;
  options.informer.max_watch_timeout = 2s;
  // What `run` does after every list when trimming is on (src/app/run_command.cc).
  options.after_list = [&] {
    if (trim_after_relist) {
      const auto start = std::chrono::steady_clock::now();
      kca::ReleaseFreedMemory();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (ms > longest_trim_ms.load()) longest_trim_ms = ms;
    }
    ++lists_done;
  };
  kca::controller::Controller controller(**client, kca::RealClock::Instance(), metrics, health,
                                         policies, &watcher, options);
  std::thread run([&] { controller.Run(); });

  auto relist = [&]() {
    const int before = lists_done.load();
    // The next watch (within 2 s) gets 410 Expired: the informer lists everything again.
    (void)admin.Post("/emulator/v1/faults", {{"expireNextWatches", 1}});
    const bool done = WaitUntil([&] { return lists_done.load() > before; });
    (void)admin.Request("DELETE", "/emulator/v1/faults");
    return done;
  };

  if (!WaitUntil([&] { return lists_done.load() > 0; })) {
    std::cerr << "the informer never synced\n";
    return 1;
  }
  std::this_thread::sleep_for(2s);  // let start-up's threads and connections settle
  const Figures base = Measure();
  std::printf(
      "controller_memory_bench: %d CSRs per cycle, %d relists per cycle, %d cycles, trim after "
      "relist %s\n\n",
      csrs, relists, cycles, trim_after_relist ? "on" : "off");
  std::printf(
      "| step                               | stored | VmRSS MiB (Δ)   | heap in use MiB (Δ) | "
      "kept free MiB (Δ) | arenas |\n|---|---|---|---|---|---|\n");
  Print("synced, empty store (baseline)", 0, base, base);

  const std::string decisions = "kube_csr_approver_decisions_total";
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    const double decided_before = CounterSum(*metrics.registry(), decisions);
    for (int i = 0; i < csrs; ++i) {
      auto created =
          admin.Post(kCsrs, CsrObject("bench-" + std::to_string(cycle) + "-" + std::to_string(i)));
      if (!created.ok() || created->status != 201) {
        std::cerr << "creating a CSR failed\n";
        return 1;
      }
    }
    if (!WaitUntil(
            [&] { return CounterSum(*metrics.registry(), decisions) >= decided_before + csrs; })) {
      std::cerr << "the CSRs were not all decided\n";
      return 1;
    }
    std::this_thread::sleep_for(1s);
    const std::string c = "cycle " + std::to_string(cycle) + ": ";
    Print(c + "created and approved", csrs, Measure(), base);
    for (int r = 1; r <= relists; ++r) {
      if (!relist()) {
        std::cerr << "a relist did not complete\n";
        return 1;
      }
      if (r == 1 || r == relists)
        Print(c + "after relist " + std::to_string(r), csrs, Measure(), base);
    }
    {
      // Scoped: the answer (every deleted object) is this process's heap too.
      auto deleted = admin.Request("DELETE", kCsrs);
      if (!deleted.ok() || deleted->status != 200) {
        std::cerr << "deleting the CSRs failed\n";
        return 1;
      }
    }
    if (!relist()) return 1;
    Print(c + "all deleted, relisted", 0, Measure(), base);
  }
  if (exit_at_end) {
    std::fflush(stdout);
    std::_Exit(0);
  }
  const auto trim_start = std::chrono::steady_clock::now();
  kca::ReleaseFreedMemory();
  const double trim_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - trim_start)
          .count();
  Print("malloc_trim(0)", 0, Measure(), base);
  std::printf("\nmalloc_trim(0) took %.2f ms of wall time (heap: %.1f MiB in use + free)\n",
              trim_ms, Measure().in_use_mib + Measure().kept_free_mib);
  if (trim_after_relist) {
    std::printf("the longest trim after a list took %.2f ms of wall time (%d lists)\n",
                longest_trim_ms.load(), lists_done.load());
  }

  controller.Stop();
  run.join();
  return 0;
}
