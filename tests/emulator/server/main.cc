// kube-apiserver-emulator: a stand-in kube-apiserver for certificates.k8s.io and friends.
// Start-up is an ordered list of steps: flags, data dir (CA, certificates, tokens, kubeconfigs),
// listener, the "listening on" line, then serving until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api.h"
#include "https_server.h"
#include "kube_format.h"
#include "pki.h"

namespace fs = std::filesystem;
using namespace kca::emulator;

namespace {

const char kAdminUser[] = "kubernetes-admin";

bool WriteFile(const fs::path& path, const std::string& content, std::string* error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    *error = "cannot write " + path.string() + ": check that the data dir is writable";
    return false;
  }
  return true;
}

std::string Kubeconfig(const std::string& server, const std::string& ca_pem,
                       const std::string& user, const std::string& user_body) {
  std::ostringstream k;
  k << "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: "
    << server << "\n    certificate-authority-data: " << Base64Encode(ca_pem)
    << "\nusers:\n- name: " << user << "\n  user:\n"
    << user_body << "contexts:\n- name: " << user
    << "@emulator\n  context:\n    cluster: emulator\n    user: " << user
    << "\ncurrent-context: " << user << "@emulator\n";
  return k.str();
}

std::string CertUserBody(const KeyPair& pair) {
  return "    client-certificate-data: " + Base64Encode(pair.cert_pem) +
         "\n    client-key-data: " + Base64Encode(pair.key_pem) + "\n";
}

// Keeps existing tokens across restarts on the same data dir so running clients stay valid.
std::string LoadOrCreateTokens(const fs::path& file, std::string* approver_token) {
  std::ifstream in(file);
  std::string line, content;
  std::string admin_token;
  while (std::getline(in, line)) {
    content += line + "\n";
    size_t c1 = line.find(',');
    size_t c2 = c1 == std::string::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string user = line.substr(c1 + 1, c2 - c1 - 1);
    if (user == ApproverIdentity().name) *approver_token = line.substr(0, c1);
    if (user == kAdminUser) admin_token = line.substr(0, c1);
  }
  if (!approver_token->empty() && !admin_token.empty()) return content;
  *approver_token = RandomHex(32);
  UserInfo admin{kAdminUser, "", {"system:masters"}};
  return "# token,user,uid,\"groups\" (kube-apiserver --token-auth-file format; re-read on "
         "change)\n" +
         TokenFileLine(RandomHex(32), admin) + TokenFileLine(*approver_token, ApproverIdentity());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kube-apiserver-emulator: a Kubernetes API stand-in for tests (docs/emulator.md)"};
  std::string listen = "127.0.0.1:0";
  std::string data_dir;
  int bookmark_interval = 60;
  size_t history = 10000;
  int token_grace = 60;
  FaultSettings faults;
  double refuse_seconds = 0;
  app.add_option("--listen", listen, "host:port to listen on; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "directory for the CA, kubeconfigs and tokens")
      ->required();
  app.add_option("--bookmark-interval", bookmark_interval,
                 "seconds between BOOKMARK events on watches that allow them")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--history", history, "watch events kept; older resourceVersions get 410")
      ->check(CLI::Range(size_t{1}, size_t{10000000}))
      ->capture_default_str();
  app.add_option("--token-grace-seconds", token_grace, "how long a rotated-out token keeps working")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app.add_option("--fault-drop-watch-after-events", faults.drop_watch_after_events,
                 "cut every watch after N events");
  app.add_option("--fault-drop-watch-after-seconds", faults.drop_watch_after_seconds,
                 "cut every watch after T seconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fault-expire-next-watches", faults.expire_next_watches,
                 "answer the next N watches with ERROR 410 Expired");
  app.add_option("--fault-conflict-next-approvals", faults.conflict_next_approvals,
                 "answer the next N /approval writes with 409 Conflict");
  app.add_option("--fault-throttle-next-requests", faults.throttle_next_requests,
                 "answer the next N API requests with 429 and Retry-After");
  app.add_option("--fault-retry-after-seconds", faults.retry_after_seconds,
                 "Retry-After of injected 429s")
      ->check(CLI::Range(0, 3600));
  app.add_option("--fault-error-fraction", faults.error_fraction,
                 "fail this fraction of API requests (deterministic: every 1/f-th)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault-error-code", faults.error_code, "status of injected failures")
      ->check(CLI::IsMember({500, 503}));
  app.add_option("--fault-latency-ms", faults.latency_ms, "delay before every API response")
      ->check(CLI::Range(0, 600000));
  app.add_option("--fault-review-error-code", faults.review_error_code,
                 "answer SubjectAccessReview creates with this status (403, 500, 503, 504)")
      ->check(CLI::IsMember({403, 500, 503, 504}));
  app.add_option("--fault-review-error-seconds", faults.review_error_seconds,
                 "for T seconds after start-up only (0: until cleared by the control API)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fault-review-latency-ms", faults.review_latency_ms,
                 "delay before every SubjectAccessReview answer")
      ->check(CLI::Range(0, 600000));
  bool without_service_cidrs = false;
  app.add_flag("--without-service-cidrs", without_service_cidrs,
               "serve no networking.k8s.io/v1 ServiceCIDRs (404), as a v1.32 server");
  app.add_option("--fault-refuse-connections-seconds", refuse_seconds,
                 "after start-up, refuse connections for T seconds")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (!host.empty() && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    if (colon != std::string::npos) port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (host.empty() || port < 0 || port > 65535) {
    std::cerr << "--listen " << listen << ": expected HOST:PORT such as 127.0.0.1:0\n";
    return 2;
  }

  std::error_code fs_error;
  fs::create_directories(fs::path(data_dir) / "serviceaccount", fs_error);
  if (fs_error) {
    std::cerr << "--data-dir " << data_dir << ": " << fs_error.message() << "\n";
    return 1;
  }
  data_dir = fs::absolute(data_dir).string();
  const fs::path dir(data_dir);

  kca::Result<KeyPair> ca = LoadOrCreateCa(data_dir);
  if (!ca.ok()) {
    std::cerr << ca.error().message << "\n";
    return 1;
  }
  kca::Result<KeyPair> serving = IssueCertificate(*ca, "kube-apiserver", {}, true);
  kca::Result<KeyPair> admin = IssueCertificate(*ca, kAdminUser, {"system:masters"}, false);
  kca::Result<KeyPair> alice = IssueCertificate(*ca, "alice", {"devs"}, false);
  for (const auto* r : {&serving, &admin, &alice}) {
    if (!r->ok()) {
      std::cerr << r->error().message << "\n";
      return 1;
    }
  }
  std::string approver_token;
  std::string error;
  const fs::path token_file = dir / "tokens.csv";
  const fs::path sa_token = dir / "serviceaccount" / "token";
  std::string tokens = LoadOrCreateTokens(token_file, &approver_token);
  if (!WriteFile(token_file, tokens, &error) || !WriteFile(sa_token, approver_token, &error) ||
      !WriteFile(dir / "serviceaccount" / "ca.crt", ca->cert_pem, &error) ||
      !WriteFile(dir / "serviceaccount" / "namespace", "kube-system", &error)) {
    std::cerr << error << "\n";
    return 1;
  }

  ApiOptions options;
  options.bookmark_interval = std::chrono::seconds(bookmark_interval);
  options.token_file = token_file.string();
  options.token_mirrors = {sa_token.string()};
  options.token_grace = std::chrono::seconds(token_grace);
  options.history = history;
  options.serve_service_cidrs = !without_service_cidrs;
  ApiServer api(options, faults);
  HttpsServer server(api, *serving, ca->cert_pem);
  kca::Result<uint16_t> bound = server.Listen(host, static_cast<uint16_t>(port));
  if (!bound.ok()) {
    std::cerr << bound.error().message << "\n";
    return 1;
  }
  std::string url_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string url = "https://" + url_host + ":" + std::to_string(*bound);
  if (!WriteFile(dir / "admin.kubeconfig",
                 Kubeconfig(url, ca->cert_pem, "admin", CertUserBody(*admin)), &error) ||
      !WriteFile(dir / "user.kubeconfig",
                 Kubeconfig(url, ca->cert_pem, "alice", CertUserBody(*alice)), &error) ||
      !WriteFile(dir / "approver.kubeconfig",
                 Kubeconfig(url, ca->cert_pem, "kube-csr-approver",
                            "    tokenFile: " + sa_token.string() + "\n"),
                 &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  if (refuse_seconds > 0) {
    server.RefuseConnections(
        std::chrono::milliseconds(static_cast<int64_t>(refuse_seconds * 1000)));
  }
  std::cout << "listening on " << url << std::endl;
  server.Run();
  return 0;
}
