// The approver's idle footprint against its floor (a benchmark program, not a test). Against one
// API emulator, `--runs` times in turn: footprint_floor_mandated (cpprestsdk, OpenSSL, libstdc++
// and one TLS request: what the mandated libraries cost alone), footprint_floor_same (the same
// with every shared library the approver maps) and the real `kube-csr-approver run` synced on an
// empty cluster. Each is read `--settle` seconds after it is ready: VmRSS, RssFile, RssAnon and
// Threads from /proc/PID/status, Pss from smaps_rollup, Rss per mapped file from smaps. Prints
// every run, the medians and the median Rss per mapping; scripts/bench_report.py turns them into
// docs/benchmarks.md's "Idle footprint" section.
//
// Usage: footprint_bench [--runs 5] [--settle 2]
//   KCA_APPROVER_BINARY=PATH measures another build of the approver (e.g. the image's).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../bench_support.h"
#include "approver_process.h"
#include "emulator_process.h"

extern char** environ;

namespace {

using kca::bench::Flag;
using kca::bench::kPolicy;
using kca::e2e::ApproverProcess;
using kca::emulator::EmulatorProcess;

struct Footprint {
  long rss_kib = 0, file_kib = 0, anon_kib = 0, pss_kib = 0;
  int threads = 0;
  std::map<std::string, long> mappings_kib;  // Rss per mapped file (basename) or [heap], [anon]…
};

long StatusKib(const std::string& text, const std::string& key) {
  const auto at = text.find("\n" + key + ":");
  return at == std::string::npos ? -1 : std::atol(text.c_str() + at + key.size() + 2);
}

std::string ReadText(const std::string& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

Footprint Read(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Footprint f;
  const std::string status = "\n" + ReadText(proc + "/status");
  f.rss_kib = StatusKib(status, "VmRSS");
  f.file_kib = StatusKib(status, "RssFile");
  f.anon_kib = StatusKib(status, "RssAnon");
  f.threads = static_cast<int>(StatusKib(status, "Threads"));
  f.pss_kib = StatusKib("\n" + ReadText(proc + "/smaps_rollup"), "Pss");
  std::ifstream smaps(proc + "/smaps");
  std::string current;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (first == "Rss:") {
      long kib = 0;
      fields >> kib;
      f.mappings_kib[current] += kib;
    } else if (first.find('-') != std::string::npos && first.back() != ':') {
      // "start-end perms offset dev inode [path]": a new mapping.
      std::string perms, offset, dev, inode, path;
      fields >> perms >> offset >> dev >> inode >> path;
      current = path.empty() ? "[anon]" : std::filesystem::path(path).filename().string();
    }
  }
  return f;
}

// A floor program: spawned with stdout on a pipe; ready once it printed its "ready" line.
class FloorProcess {
 public:
  static std::unique_ptr<FloorProcess> Start(const std::string& binary,
                                             const EmulatorProcess& emulator) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return nullptr;
    std::vector<std::string> args = {binary, emulator.url(), emulator.data_dir() + "/ca.crt",
                                     emulator.data_dir() + "/serviceaccount/token"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    auto process = std::unique_ptr<FloorProcess>(new FloorProcess());
    const int error = posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    process->stdout_fd_ = out[0];
    if (error != 0) {
      std::cerr << "cannot spawn " << binary << ": " << std::strerror(error) << "\n";
      process->pid_ = -1;
      return nullptr;
    }
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (text.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{out[0], POLLIN, 0};
      if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    if (text.rfind("ready status=200", 0) != 0) {
      std::cerr << binary << " did not get its response (printed: " << text << ")\n";
      return nullptr;
    }
    return process;
  }
  ~FloorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }
  pid_t pid() const { return pid_; }

 private:
  FloorProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

template <typename T>
T Median(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double Mib(long kib) { return static_cast<double>(kib) / 1024.0; }

void PrintRun(int run, const std::string& name, const Footprint& f) {
  std::printf(
      "footprint run %d %s: VmRSS=%.2f MiB RssFile=%.2f MiB RssAnon=%.2f MiB Pss=%.2f MiB "
      "threads=%d\n",
      run, name.c_str(), Mib(f.rss_kib), Mib(f.file_kib), Mib(f.anon_kib), Mib(f.pss_kib),
      f.threads);
}

void PrintMedians(const std::string& name, const std::vector<Footprint>& runs) {
  auto median = [&](long Footprint::*field) {
    std::vector<long> values;
    for (const auto& f : runs) values.push_back(f.*field);
    return Median(values);
  };
  std::vector<int> threads;
  for (const auto& f : runs) threads.push_back(f.threads);
  std::printf(
      "footprint median %s: VmRSS=%.2f MiB RssFile=%.2f MiB RssAnon=%.2f MiB Pss=%.2f MiB "
      "threads=%d\n",
      name.c_str(), Mib(median(&Footprint::rss_kib)), Mib(median(&Footprint::file_kib)),
      Mib(median(&Footprint::anon_kib)), Mib(median(&Footprint::pss_kib)), Median(threads));
  std::set<std::string> names;
  for (const auto& f : runs) {
    for (const auto& [mapping, kib] : f.mappings_kib) names.insert(mapping);
  }
  std::printf("footprint mappings %s (KiB):", name.c_str());
  for (const auto& mapping : names) {
    std::vector<long> values;
    for (const auto& f : runs) {
      const auto it = f.mappings_kib.find(mapping);
      values.push_back(it == f.mappings_kib.end() ? 0 : it->second);
    }
    if (const long kib = Median(values); kib > 0) std::printf(" %s=%ld", mapping.c_str(), kib);
  }
  std::printf("\n");
}

// The shared objects a process maps (file names ending in .so or .so.N…).
std::set<std::string> SharedLibraries(const Footprint& f) {
  std::set<std::string> libraries;
  for (const auto& [mapping, kib] : f.mappings_kib) {
    if (mapping.find(".so") != std::string::npos) libraries.insert(mapping);
  }
  return libraries;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = std::max(1, Flag(argc, argv, "--runs", 5));
  const int settle = Flag(argc, argv, "--settle", 2);
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  auto emulator = EmulatorProcess::Start();
  if (!emulator.ok()) {
    std::cerr << emulator.error().message << "\n";
    return 1;
  }
  const EmulatorProcess& emu = **emulator;
  const std::string work = emu.data_dir() + "/footprint-bench";
  std::filesystem::create_directories(work);
  const std::string policy = work + "/policy.yaml";
  std::ofstream(policy) << kPolicy;

  const std::vector<std::pair<std::string, std::string>> floors = {
      {"floor-mandated", KCA_FLOOR_MANDATED_BINARY}, {"floor-same", KCA_FLOOR_SAME_BINARY}};
  std::map<std::string, std::vector<Footprint>> measured;
  std::printf("footprint runs=%d settle=%ds\n", runs, settle);
  for (int run = 1; run <= runs; ++run) {
    for (const auto& [name, binary] : floors) {
      auto floor = FloorProcess::Start(binary, emu);
      if (!floor) return 1;
      std::this_thread::sleep_for(std::chrono::seconds(settle));  // a footprint, not a wait
      measured[name].push_back(Read(floor->pid()));
      PrintRun(run, name, measured[name].back());
    }
    ApproverProcess::Options options;
    options.args = {"--policy",
                    policy,
                    "--kubeconfig",
                    emu.kubeconfig("approver"),
                    "--metrics-bind-address",
                    "127.0.0.1:0",
                    "--health-probe-bind-address",
                    "127.0.0.1:0",
                    "--log-format",
                    "json",
                    "--qps",
                    "0"};
    options.log_path = work + "/approver.log";
    options.start_timeout = std::chrono::seconds(120);
    auto approver = ApproverProcess::Start(options);
    if (!approver.ok()) {
      std::cerr << approver.error().message << "\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(settle));
    measured["approver"].push_back(Read((*approver)->pid()));
    PrintRun(run, "approver", measured["approver"].back());
    (void)(*approver)->Stop(SIGTERM);
  }
  for (const char* name : {"floor-mandated", "floor-same", "approver"}) {
    PrintMedians(name, measured[name]);
  }

  // floor-same is a fair floor only while it maps exactly the approver's libraries.
  const auto approver_libraries = SharedLibraries(measured["approver"].front());
  const auto floor_libraries = SharedLibraries(measured["floor-same"].front());
  std::string only_approver, only_floor;
  for (const auto& l : approver_libraries) {
    if (floor_libraries.count(l) == 0) only_approver += " " + l;
  }
  for (const auto& l : floor_libraries) {
    if (approver_libraries.count(l) == 0) only_floor += " " + l;
  }
  if (only_approver.empty() && only_floor.empty()) {
    std::printf("footprint libraries: floor-same maps the approver's %zu shared libraries\n",
                approver_libraries.size());
  } else {
    std::printf(
        "footprint libraries: floor-same differs from the approver (only the approver:%s; only "
        "the floor:%s): fix tests/bench/footprint/CMakeLists.txt\n",
        only_approver.empty() ? " none" : only_approver.c_str(),
        only_floor.empty() ? " none" : only_floor.c_str());
  }
  return 0;
}
