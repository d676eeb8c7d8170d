// The controller's benchmark (a program, not a test): the real kube-csr-approver binary against
// kube-apiserver-emulator, with the emulator's own approval capacity measured in the same run as
// the baseline. Phases, in order:
//   1. baseline: N keep-alive clients PUT /approval as the approver identity (emulator capacity);
//   2. idle footprint: the approver synced on a cluster with nothing pending;
//   3. pending footprint: --dry-run with `--csrs` pending CSRs (nothing is written, all stay);
//   4. drain: a fresh approver (--qps 0) decides all pending CSRs; time, CPU time, requests;
//   5. latency: CSRs created at a steady `--rate`; create → Approved seen on a watch stream.
// Figures and commands are recorded in docs/benchmarks.md, "## Controller".
//
// Usage: controller_bench [--csrs 10000] [--rate 200] [--seconds 10] [--creators 4]
//                         [--baseline-clients 8] [--workers N]
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../bench_support.h"
#include "approver_process.h"
#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"

namespace {

using kca::bench::CsrObject;
using kca::bench::Flag;
using kca::bench::kPolicy;
using kca::e2e::ApproverProcess;
using kca::emulator::Credentials;
using kca::emulator::EmulatorProcess;
using kca::emulator::HttpsClient;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kCsrs[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
constexpr char kApproverUser[] = "system:serviceaccount:kube-system:kube-csr-approver";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Creates `prefix`-0 … `prefix`-(count-1) with `threads` admin clients; returns how many failed.
int CreateCsrs(const std::string& prefix, int count, int threads, uint16_t port,
               const Credentials& admin) {
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      HttpsClient client("127.0.0.1", port, admin);
      for (int i = next++; i < count; i = next++) {
        auto r = client.Post(kCsrs, CsrObject(prefix + "-" + std::to_string(i)));
        if (!r.ok() || r->status != 201) ++failed;
      }
    });
  }
  for (auto& w : workers) w.join();
  return failed.load();
}

struct ProcessUsage {
  long rss_kib = -1;
  long hwm_kib = -1;
  double cpu_seconds = -1;  // user + system
};

ProcessUsage ReadUsage(pid_t pid) {
  ProcessUsage usage;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_kib = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) usage.hwm_kib = std::atol(line.c_str() + 6);
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(text.substr(paren + 2));
    std::vector<std::string> f;
    for (std::string field; fields >> field;) f.push_back(field);
    // After "pid (comm) ": state is field 3, utime 14, stime 15 → indexes 11 and 12 here.
    if (f.size() > 12) {
      usage.cpu_seconds =
          static_cast<double>(std::stol(f[11]) + std::stol(f[12])) / sysconf(_SC_CLK_TCK);
    }
  }
  return usage;
}

double LoadAverage() {
  std::ifstream file("/proc/loadavg");
  double load = -1;
  file >> load;
  return load;
}

// The approver identity's counts: {"verbs": …, "resources": …}, or null.
json ApproverCounts(HttpsClient& admin) {
  auto r = admin.Get("/emulator/v1/requests");
  if (!r.ok() || r->status != 200) return nullptr;
  const json counts = r->Json();
  if (!counts.is_object() || !counts.contains("users") || !counts["users"].contains(kApproverUser))
    return json::object();
  return counts["users"][kApproverUser];
}

int Count(const json& counts, const std::string& resource, const std::string& verb) {
  if (!counts.is_object() || !counts.contains("resources")) return 0;
  const json& resources = counts["resources"];
  if (!resources.contains(resource)) return 0;
  return resources[resource].value(verb, 0);
}

void ResetCounts(HttpsClient& admin) { (void)admin.Request("DELETE", "/emulator/v1/requests"); }

std::string ListResourceVersion(HttpsClient& admin) {
  auto r = admin.Get(std::string(kCsrs) + "?limit=1");
  if (!r.ok() || r->status != 200) return "";
  return r->Json()["metadata"].value("resourceVersion", "");
}

bool IsApproved(const json& object) {
  if (!object.contains("status")) return false;
  for (const auto& c : object["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Approved" && c.value("status", "") == "True") return true;
  }
  return false;
}

// Follows a watch on CSRs from `rv` on its own thread and calls `on_approved(name, when)` once
// per CSR the first time it is seen Approved; reconnects from the last resourceVersion.
class ApprovalWatcher {
 public:
  template <typename F>
  ApprovalWatcher(uint16_t port, Credentials admin, std::string rv, F on_approved)
      : thread_([this, port, admin, rv, on_approved]() mutable {
          std::set<std::string> seen;
          while (!stop_.load()) {
            HttpsClient client("127.0.0.1", port, admin);
            auto start = client.StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=" + rv +
                                           "&timeoutSeconds=600");
            if (!start.ok() || start->status != 200) {
              std::cerr << "watch failed to start\n";
              return;
            }
            while (!stop_.load()) {
              // A timeout drops the harness's stream too: every error reconnects from rv.
              auto line = client.NextLine(std::chrono::seconds(1));
              if (!line.ok()) break;
              const auto now = Clock::now();
              const json event = json::parse(*line, nullptr, false);
              if (event.is_discarded() || !event.contains("object")) continue;
              const json& object = event["object"];
              rv = object["metadata"].value("resourceVersion", rv);
              if (event.value("type", "") != "MODIFIED" || !IsApproved(object)) continue;
              const std::string name = object["metadata"].value("name", "");
              if (seen.insert(name).second) on_approved(name, now);
            }
          }
        }) {}
  ~ApprovalWatcher() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::unique_ptr<ApproverProcess> StartApprover(const EmulatorProcess& emulator,
                                               const std::string& policy,
                                               const std::string& log_path,
                                               std::vector<std::string> extra) {
  ApproverProcess::Options options;
  options.args = {"--policy",
                  policy,
                  "--kubeconfig",
                  emulator.kubeconfig("approver"),
                  "--metrics-bind-address",
                  "127.0.0.1:0",
                  "--health-probe-bind-address",
                  "127.0.0.1:0",
                  "--log-format",
                  "json"};
  options.args.insert(options.args.end(), extra.begin(), extra.end());
  options.log_path = log_path;
  options.start_timeout = std::chrono::seconds(120);
  auto process = ApproverProcess::Start(options);
  if (!process.ok()) {
    std::cerr << process.error().message << "\n";
    return nullptr;
  }
  return std::move(*process);
}

// Waits until `condition` holds, up to `timeout`; checks every 10 ms.
template <typename F>
bool WaitFor(F condition, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

void PrintRequests(const char* phase, const json& counts, int decisions) {
  const double d = decisions > 0 ? decisions : 1;
  const int approvals = Count(counts, "certificatesigningrequests/approval", "patch");
  const int events = Count(counts, "events", "create") + Count(counts, "events", "patch") +
                     Count(counts, "events", "update");
  const int gets = Count(counts, "certificatesigningrequests", "get");
  const int lists = Count(counts, "certificatesigningrequests", "list");
  const int watches = Count(counts, "certificatesigningrequests", "watch");
  const int total = counts.is_object() ? counts.value("total", 0) : 0;
  std::printf(
      "%s requests: decisions=%d approval-PUTs=%d (%.3f/decision) event-writes=%d (%.3f/decision) "
      "csr-GETs=%d lists=%d watches=%d total=%d (%.3f/decision)\n  all counts: %s\n",
      phase, decisions, approvals, approvals / d, events, events / d, gets, lists, watches, total,
      total / d, counts.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int csrs = Flag(argc, argv, "--csrs", 10000);
  const int rate = Flag(argc, argv, "--rate", 200);
  const int seconds = Flag(argc, argv, "--seconds", 10);
  const int creators = Flag(argc, argv, "--creators", 4);
  const int baseline_clients = Flag(argc, argv, "--baseline-clients", 8);
  const int workers = Flag(argc, argv, "--workers", 0);
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped to a file or tee

  std::printf("load average at start: %.2f\n", LoadAverage());
  auto emulator = EmulatorProcess::Start(
      EmulatorProcess::Options{{"--history", "100000"}, "", std::chrono::seconds(30)});
  if (!emulator.ok()) {
    std::cerr << emulator.error().message << "\n";
    return 1;
  }
  const EmulatorProcess& emu = **emulator;
  const uint16_t port = emu.port();
  auto admin_creds = Credentials::FromDataDir(emu.data_dir(), "admin");
  auto approver_creds = Credentials::FromDataDir(emu.data_dir(), "approver");
  if (!admin_creds.ok() || !approver_creds.ok()) {
    std::cerr << "cannot read credentials from " << emu.data_dir() << "\n";
    return 1;
  }
  HttpsClient admin("127.0.0.1", port, *admin_creds);
  const std::string work = emu.data_dir() + "/controller-bench";
  std::filesystem::create_directories(work);
  const std::string policy = work + "/policy.yaml";
  std::ofstream(policy) << kPolicy;
  std::vector<std::string> tuning = {"--qps", "0"};
  if (workers > 0) tuning.insert(tuning.end(), {"--workers", std::to_string(workers)});

  // --- 1. baseline: the emulator's approval capacity (each client re-approves its own CSR).
  double baseline_rate = 0;
  {
    if (CreateCsrs("bench-baseline", baseline_clients, 1, port, *admin_creds) != 0) {
      std::cerr << "baseline CSR creation failed\n";
      return 1;
    }
    std::atomic<uint64_t> ok{0}, failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < baseline_clients; ++i) {
      threads.emplace_back([&, i] {
        HttpsClient client("127.0.0.1", port, *approver_creds);
        const std::string name = "bench-baseline-" + std::to_string(i);
        auto got = client.Get(std::string(kCsrs) + "/" + name);
        if (!got.ok() || got->status != 200) return;
        json object = got->Json();
        object["status"]["conditions"] = {{{"type", "Approved"},
                                           {"status", "True"},
                                           {"reason", "Bench"},
                                           {"message", "baseline"}}};
        const std::string target = std::string(kCsrs) + "/" + name + "/approval";
        while (!stop.load()) {
          auto r = client.Put(target, object);
          if (r.ok() && r->status == 200) {
            ++ok;
            object["metadata"]["resourceVersion"] = r->Json()["metadata"]["resourceVersion"];
          } else {
            ++failed;
          }
        }
      });
    }
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop = true;
    for (auto& t : threads) t.join();
    baseline_rate = static_cast<double>(ok.load()) / Seconds(Clock::now() - start);
    std::printf("baseline: emulator approval capacity %.0f PUTs/s (%d clients, %llu failed)\n",
                baseline_rate, baseline_clients, static_cast<unsigned long long>(failed.load()));
  }

  // --- 2. idle footprint: synced, nothing pending.
  {
    auto approver = StartApprover(emu, policy, work + "/idle.log", tuning);
    if (!approver) return 1;
    std::this_thread::sleep_for(std::chrono::seconds(2));  // settle: a footprint, not a wait
    const ProcessUsage usage = ReadUsage(approver->pid());
    std::printf("idle after sync: VmRSS=%.1f MiB VmHWM=%.1f MiB cpu=%.2fs\n",
                usage.rss_kib / 1024.0, usage.hwm_kib / 1024.0, usage.cpu_seconds);
    (void)approver->Stop(SIGTERM);
  }

  // --- create the pending CSRs.
  {
    const auto start = Clock::now();
    const int failed = CreateCsrs("bench-drain", csrs, creators, port, *admin_creds);
    std::printf("created %d pending CSRs in %.1fs (%d failed), load average %.2f\n", csrs,
                Seconds(Clock::now() - start), failed, LoadAverage());
    if (failed != 0) return 1;
  }

  // --- 3. pending footprint: dry run, so every CSR stays pending.
  {
    ResetCounts(admin);
    auto approver = StartApprover(emu, policy, work + "/dry-run.log", [&] {
      auto args = tuning;
      args.push_back("--dry-run");
      return args;
    }());
    if (!approver) return 1;
    // The pending gauge counts the listed CSRs before the workers have evaluated them all: the
    // footprint is read once the approver's CPU time also stops growing.
    const bool counted = WaitFor(
        [&] {
          return approver->Metric(
                     "kube_csr_approver_pending_csrs{signer=\"kubernetes.io/"
                     "kube-apiserver-client\"}") >= csrs;
        },
        std::chrono::seconds(120));
    double cpu_before = -1;
    for (int i = 0; i < 600; ++i) {  // until CPU use stops growing (the pass is over)
      const double cpu = ReadUsage(approver->pid()).cpu_seconds;
      if (cpu == cpu_before) break;
      cpu_before = cpu;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    const ProcessUsage usage = ReadUsage(approver->pid());
    std::printf("with %d pending (dry run%s): VmRSS=%.1f MiB VmHWM=%.1f MiB cpu=%.2fs\n", csrs,
                counted ? "" : ", pending gauge never reached the count", usage.rss_kib / 1024.0,
                usage.hwm_kib / 1024.0, usage.cpu_seconds);
    PrintRequests("dry run", ApproverCounts(admin), 0);
    (void)approver->Stop(SIGTERM);
  }

  // --- 4. drain: a fresh approver decides every pending CSR.
  std::unique_ptr<ApproverProcess> approver;
  {
    ResetCounts(admin);
    std::atomic<int> approved{0};
    std::atomic<int64_t> last_ns{0};
    ApprovalWatcher watcher(port, *admin_creds, ListResourceVersion(admin),
                            [&](const std::string& name, Clock::time_point when) {
                              if (name.rfind("bench-drain-", 0) != 0) return;
                              last_ns = when.time_since_epoch().count();
                              ++approved;
                            });
    const double load = LoadAverage();
    const auto spawned = Clock::now();
    approver = StartApprover(emu, policy, work + "/drain.log", tuning);
    if (!approver) return 1;
    const auto ready = Clock::now();
    const ProcessUsage at_ready = ReadUsage(approver->pid());
    const bool done = WaitFor([&] { return approved.load() >= csrs; }, std::chrono::seconds(240));
    const ProcessUsage usage = ReadUsage(approver->pid());
    const auto last = Clock::time_point(Clock::duration(last_ns.load()));
    const double from_spawn = Seconds(last - spawned);
    // A small drain can end before the poll of /readyz sees it ready: no rate from ready then.
    const bool before_ready = last <= ready;
    const double from_ready = before_ready ? 0.0 : Seconds(last - ready);
    const double ready_rate = before_ready ? 0.0 : csrs / from_ready;
    const double cpu = usage.cpu_seconds;
    std::printf(
        "drain: %d/%d approved%s; %.2fs from spawn (%.0f CSRs/s), %.2fs from ready (%.0f "
        "CSRs/s); approver CPU %.2fs (%.2fs before ready) = %.0f CSRs per CPU-second; "
        "load average %.2f%s\n",
        approved.load(), csrs, done ? "" : " (TIMED OUT)", from_spawn, csrs / from_spawn,
        from_ready, ready_rate, cpu, at_ready.cpu_seconds, csrs / cpu, load,
        before_ready ? " (all decided before /readyz was seen ready)" : "");
    std::printf(
        "drain vs baseline: %.1f%% of the emulator's approval capacity (from spawn), "
        "%.1f%% (from ready)\n",
        100.0 * csrs / from_spawn / baseline_rate, 100.0 * ready_rate / baseline_rate);
    std::printf("after drain: VmRSS=%.1f MiB VmHWM=%.1f MiB\n", usage.rss_kib / 1024.0,
                usage.hwm_kib / 1024.0);
    // Best-effort Events may still be in flight when the last approval is seen.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    PrintRequests("drain", ApproverCounts(admin), csrs);
  }

  // --- 5. latency at a steady rate, visibility measured on a watch stream.
  {
    ResetCounts(admin);
    const int total = rate * seconds;
    std::vector<Clock::time_point> created(static_cast<size_t>(total));
    std::vector<double> latencies_ms;
    std::mutex mu;
    std::atomic<int> seen{0};
    ApprovalWatcher watcher(port, *admin_creds, ListResourceVersion(admin),
                            [&](const std::string& name, Clock::time_point when) {
                              if (name.rfind("bench-steady-", 0) != 0) return;
                              const int index = std::atoi(name.c_str() + 13);
                              if (index < 0 || index >= total) return;
                              std::lock_guard lock(mu);
                              latencies_ms.push_back(std::chrono::duration<double, std::milli>(
                                                         when - created[static_cast<size_t>(index)])
                                                         .count());
                              ++seen;
                            });
    // Requests are built before the clock starts so the pacing measures the approver only.
    std::vector<std::string> bodies;
    for (int i = 0; i < total; ++i)
      bodies.push_back(CsrObject("bench-steady-" + std::to_string(i)).dump());
    const double cpu_before = ReadUsage(approver->pid()).cpu_seconds;
    const double load = LoadAverage();
    HttpsClient creator("127.0.0.1", port, *admin_creds);
    const auto start = Clock::now();
    const auto interval = std::chrono::nanoseconds(1'000'000'000 / rate);
    int late = 0, failed = 0;
    for (int i = 0; i < total; ++i) {
      const auto due = start + i * interval;
      if (Clock::now() < due)
        std::this_thread::sleep_until(due);
      else if (Clock::now() - due > std::chrono::milliseconds(5))
        ++late;
      {
        std::lock_guard lock(mu);
        created[static_cast<size_t>(i)] = Clock::now();
      }
      auto r = creator.Request("POST", kCsrs, bodies[static_cast<size_t>(i)],
                               {{"Content-Type", "application/json"}});
      if (!r.ok() || r->status != 201) ++failed;
    }
    const double sent = static_cast<double>(total) / Seconds(Clock::now() - start);
    const bool done =
        WaitFor([&] { return seen.load() >= total - failed; }, std::chrono::seconds(60));
    const double cpu = ReadUsage(approver->pid()).cpu_seconds - cpu_before;
    std::vector<double> copy;
    {
      std::lock_guard lock(mu);
      copy = latencies_ms;
    }
    std::printf(
        "latency: %d CSRs at %.0f/s (target %d/s, %d sent >5 ms late, %d failed), %d approved%s; "
        "create→Approved p50=%.1f ms p90=%.1f ms p99=%.1f ms max=%.1f ms; approver CPU %.2fs "
        "(%.0f%% of one core); load average %.2f\n",
        total, sent, rate, late, failed, seen.load(), done ? "" : " (TIMED OUT)",
        Percentile(copy, 0.5), Percentile(copy, 0.9), Percentile(copy, 0.99), Percentile(copy, 1.0),
        cpu, 100.0 * cpu / seconds, load);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    PrintRequests("steady", ApproverCounts(admin), seen.load());
    const ProcessUsage usage = ReadUsage(approver->pid());
    std::printf("idle after all: VmRSS=%.1f MiB VmHWM=%.1f MiB\n", usage.rss_kib / 1024.0,
                usage.hwm_kib / 1024.0);
  }
  (void)approver->Stop(SIGTERM);
  std::printf("load average at end: %.2f; logs in %s (removed with the emulator's data dir)\n",
              LoadAverage(), work.c_str());
  return 0;
}
