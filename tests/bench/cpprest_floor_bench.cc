// The floor of the HTTP client the approver must use (a program, not a test): cpprestsdk alone,
// set up as the approver sets it up, sends the approver's PATCH of /approval to the same emulator
// once per pending CSR and reads each response body whole; nothing is parsed, logged or decided.
// Its CPU per request (this process: our threads and cpprestsdk's I/O thread) is what no use of
// cpprestsdk can go below, the baseline of the approver's CPU per decision in
// docs/benchmarks.md.
//
// Set-up copied from the approver (src/app/run_command.cc, src/kube/http_api_client.cc):
// cpprestsdk's pool of one I/O thread, SSL_CERT_FILE=/dev/null (no default CA bundle loaded per
// connection), certificate validation on, a fresh X509_STORE holding only the cluster CA in the
// SSL_CTX callback, a bearer token, one http_client (one connection pool) shared by the threads,
// and the body of ApprovalPatch with the CSR's uid and resourceVersion.
//
// Usage: cpprest_floor_bench [--requests 2000] [--threads 1] [--creators 4]
// Prints: cpprest floor: threads=T requests=N ok=K cpu=C s (C/N ms/request) wall=W s (R req/s)
#include <cpprest/http_client.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"

namespace {

using kca::bench::CsrObject;
using kca::bench::Flag;
using kca::emulator::Credentials;
using kca::emulator::EmulatorProcess;
using kca::emulator::HttpsClient;
using nlohmann::json;
namespace http = web::http;

constexpr char kCsrs[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Pending {
  std::string name;
  std::string uid;
  std::string resource_version;
};

// Creates `count` pending CSRs with `threads` admin clients: their uid and resourceVersion.
std::vector<Pending> CreateCsrs(int count, int threads, uint16_t port, const Credentials& admin) {
  std::vector<Pending> created(static_cast<std::size_t>(count));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      HttpsClient client("127.0.0.1", port, admin);
      for (int i = next++; i < count; i = next++) {
        const std::string name = "floor-" + std::to_string(i);
        auto r = client.Post(kCsrs, CsrObject(name));
        if (!r.ok() || r->status != 201) {
          failed = true;
          return;
        }
        const json metadata = r->Json()["metadata"];
        created[static_cast<std::size_t>(i)] = {name, metadata.value("uid", ""),
                                                metadata.value("resourceVersion", "")};
      }
    });
  }
  for (auto& w : workers) w.join();
  if (failed) created.clear();
  return created;
}

// ApprovalPatch's shape (src/controller/approval_writer.cc) with a fixed message and time.
std::string PatchBody(const Pending& csr) {
  return json{{"metadata", {{"uid", csr.uid}, {"resourceVersion", csr.resource_version}}},
              {"status",
               {{"conditions",
                 {{{"type", "Approved"},
                   {"status", "True"},
                   {"reason", "AutoApproved"},
                   {"message", "Approved by kube-csr-approver: rule \"bench-clients\""},
                   {"lastUpdateTime", "2026-12-01T00:00:00Z"}}}}}}}
      .dump();
}

http::client::http_client_config ClientConfig(const std::string& ca_pem) {
  http::client::http_client_config config;
  config.set_timeout(std::chrono::seconds(30));
  config.set_validate_certificates(true);
  config.set_ssl_context_callback([ca_pem](boost::asio::ssl::context& context) {
    X509_STORE* store = X509_STORE_new();
    BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    BIO_free(bio);
    SSL_CTX_set_cert_store(context.native_handle(), store);
  });
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = Flag(argc, argv, "--requests", 2000);
  const int threads = std::max(1, Flag(argc, argv, "--threads", 1));
  const int creators = Flag(argc, argv, "--creators", 4);
  signal(SIGPIPE, SIG_IGN);
  setenv("SSL_CERT_FILE", "/dev/null", 1);  // as `run` does (src/kube/default_trust.cc)
  crossplat::threadpool::initialize_with_threads(1);

  auto emulator = EmulatorProcess::Start(
      EmulatorProcess::Options{{"--history", "100000"}, "", std::chrono::seconds(30)});
  if (!emulator.ok()) {
    std::cerr << emulator.error().message << "\n";
    return 1;
  }
  const EmulatorProcess& emu = **emulator;
  auto admin = Credentials::FromDataDir(emu.data_dir(), "admin");
  auto approver = Credentials::FromDataDir(emu.data_dir(), "approver");
  if (!admin.ok() || !approver.ok()) {
    std::cerr << "cannot read credentials from " << emu.data_dir() << "\n";
    return 1;
  }
  const std::vector<Pending> pending = CreateCsrs(requests, creators, emu.port(), *admin);
  if (pending.empty()) {
    std::cerr << "creating the pending CSRs failed\n";
    return 1;
  }
  std::vector<std::string> bodies;
  for (const auto& csr : pending) bodies.push_back(PatchBody(csr));

  http::client::http_client client(emu.url(), ClientConfig(approver->ca_pem));
  const std::string authorization = "Bearer " + approver->token;
  std::atomic<int> next{0}, ok{0};
  const double cpu_before = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&] {
      for (int i = next++; i < requests; i = next++) {
        const auto index = static_cast<std::size_t>(i);
        http::http_request message(http::methods::PATCH);
        message.set_request_uri(std::string(kCsrs) + "/" + pending[index].name + "/approval");
        message.headers().add(http::header_names::accept, "application/json");
        message.headers().add(http::header_names::user_agent, "cpprest-floor-bench");
        message.headers().add(http::header_names::authorization, authorization);
        message.set_body(bodies[index], "application/merge-patch+json");
        try {
          http::http_response response = client.request(message).get();
          const std::string body = response.extract_utf8string(true).get();
          if (response.status_code() == 200 && !body.empty()) ++ok;
        } catch (const std::exception& e) {
          std::cerr << "request " << i << ": " << e.what() << "\n";
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_before;
  std::printf(
      "cpprest floor: threads=%d requests=%d ok=%d cpu=%.3f s (%.4f ms/request) wall=%.3f s "
      "(%.0f req/s)\n",
      threads, requests, ok.load(), cpu, 1000.0 * cpu / requests, wall, requests / wall);
  return ok.load() == requests ? 0 : 1;
}
