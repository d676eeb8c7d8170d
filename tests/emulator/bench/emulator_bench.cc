// Capacity of kube-apiserver-emulator on this machine (a program, not a test): approval PUTs per
// second with N concurrent keep-alive clients, and watch fan-out (events delivered per second to
// W watchers). Later benchmarks use these figures to show they measure the controller.
//
// Usage: emulator_bench [--clients N] [--seconds S] [--watchers W] [--events E]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"

using namespace kca::emulator;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const char kCsrs[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

std::string CsrPemBase64() {
  kca::testing::RequestSpec spec;
  spec.subject = {{"CN", "bench"}};
  return kca::testing::Base64Encode(kca::testing::MakeRequestPem(spec));
}

json Csr(const std::string& name, const std::string& request) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"request", request},
            {"signerName", "kubernetes.io/kube-apiserver-client"},
            {"usages", {"client auth"}}}}};
}

int Flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = Flag(argc, argv, "--clients", 8);
  const int seconds = Flag(argc, argv, "--seconds", 5);
  const int watchers = Flag(argc, argv, "--watchers", 50);
  const int events = Flag(argc, argv, "--events", 200);

  auto emulator = EmulatorProcess::Start(
      EmulatorProcess::Options{{"--history", "100000"}, "", std::chrono::seconds(20)});
  if (!emulator.ok()) {
    std::cerr << emulator.error().message << "\n";
    return 1;
  }
  const std::string dir = (*emulator)->data_dir();
  const uint16_t port = (*emulator)->port();
  auto admin_creds = Credentials::FromDataDir(dir, "admin");
  auto approver_creds = Credentials::FromDataDir(dir, "approver");
  if (!admin_creds.ok() || !approver_creds.ok()) {
    std::cerr << "cannot read credentials from " << dir << "\n";
    return 1;
  }
  const std::string request = CsrPemBase64();

  // --- approval PUTs/s: each client re-approves its own CSR with the latest resourceVersion.
  std::vector<json> objects;
  {
    HttpsClient admin("127.0.0.1", port, *admin_creds);
    for (int i = 0; i < clients; ++i) {
      auto r = admin.Post(kCsrs, Csr("bench-" + std::to_string(i), request));
      if (!r.ok() || r->status != 201) {
        std::cerr << "create failed\n";
        return 1;
      }
      objects.push_back(r->Json());
    }
  }
  std::atomic<uint64_t> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<double> latencies_us;
  std::mutex lat_mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      HttpsClient client("127.0.0.1", port, *approver_creds);
      json object = objects[static_cast<size_t>(i)];
      object["status"]["conditions"] = {{{"type", "Approved"},
                                         {"status", "True"},
                                         {"reason", "Bench"},
                                         {"message", "benchmark"}}};
      const std::string target = std::string(kCsrs) + "/bench-" + std::to_string(i) + "/approval";
      std::vector<double> local;
      while (!stop.load(std::memory_order_relaxed)) {
        auto start = Clock::now();
        auto r = client.Put(target, object);
        local.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        if (r.ok() && r->status == 200) {
          ++ok;
          object["metadata"]["resourceVersion"] = r->Json()["metadata"]["resourceVersion"];
        } else {
          ++failed;
        }
      }
      std::lock_guard lock(lat_mu);
      latencies_us.insert(latencies_us.end(), local.begin(), local.end());
    });
  }
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty() ? 0.0
                                : latencies_us[static_cast<size_t>(
                                      p * static_cast<double>(latencies_us.size() - 1))];
  };
  std::printf(
      "approval PUTs: clients=%d seconds=%.1f ok=%llu failed=%llu rate=%.0f/s p50=%.0fus "
      "p99=%.0fus\n",
      clients, elapsed, static_cast<unsigned long long>(ok.load()),
      static_cast<unsigned long long>(failed.load()), static_cast<double>(ok.load()) / elapsed,
      pct(0.5), pct(0.99));

  // --- watch fan-out: W watchers each receive E creations.
  std::string rv;
  {
    HttpsClient admin("127.0.0.1", port, *admin_creds);
    rv = admin.Get(kCsrs)->Json()["metadata"]["resourceVersion"];
  }
  std::atomic<int> ready{0};
  std::atomic<uint64_t> delivered{0};
  std::vector<std::thread> watch_threads;
  for (int w = 0; w < watchers; ++w) {
    watch_threads.emplace_back([&] {
      HttpsClient client("127.0.0.1", port, *approver_creds);
      auto start = client.StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=" + rv);
      ++ready;
      if (!start.ok() || start->status != 200) return;
      for (int e = 0; e < events; ++e) {
        auto line = client.NextLine(std::chrono::seconds(30));
        if (!line.ok()) return;
        ++delivered;
      }
    });
  }
  while (ready.load() < watchers) std::this_thread::yield();
  auto fan_start = Clock::now();
  {
    HttpsClient admin("127.0.0.1", port, *admin_creds);
    for (int e = 0; e < events; ++e) {
      auto r = admin.Post(kCsrs, Csr("fan-" + std::to_string(e), request));
      if (!r.ok() || r->status != 201) std::cerr << "create failed during fan-out\n";
    }
  }
  auto writes_done = Clock::now();
  for (auto& t : watch_threads) t.join();
  double fan_elapsed = std::chrono::duration<double>(Clock::now() - fan_start).count();
  std::printf(
      "watch fan-out: watchers=%d events=%d delivered=%llu in %.2fs (%.0f events/s delivered; "
      "writes took %.2fs)\n",
      watchers, events, static_cast<unsigned long long>(delivered.load()), fan_elapsed,
      static_cast<double>(delivered.load()) / fan_elapsed,
      std::chrono::duration<double>(writes_done - fan_start).count());
  return failed.load() == 0 && delivered.load() == static_cast<uint64_t>(watchers) * events ? 0 : 1;
}
