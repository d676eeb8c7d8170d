// The idle footprint's floor (a benchmark program, not a test): the least a process linking the
// approver's mandated libraries (cpprestsdk, hence OpenSSL and libstdc++ as shared libraries) can
// be resident after one TLS request. It does what the approver does before its first request
// (SSL_CERT_FILE at /dev/null, one cpprestsdk I/O thread, the CA set on the connection's SSL_CTX),
// one authenticated GET, then idles with the connection pooled until SIGTERM. footprint_bench
// reads its /proc/PID/status and smaps next to the approver's (docs/benchmarks.md, "Idle
// footprint"). Built twice: linking only what cpprestsdk needs, and linking every shared library
// the approver maps.
//
// Usage: footprint_floor SERVER_URL CA_FILE TOKEN_FILE
//   prints "ready status=N" after the response, then waits for SIGTERM or SIGINT.
#include <cpprest/http_client.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace {

std::string ReadFile(const char* path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: footprint_floor SERVER_URL CA_FILE TOKEN_FILE\n");
    return 2;
  }
  // As run_command.cc: the default CA bundle is not parsed into every SSL_CTX.
  ::setenv(X509_get_default_cert_file_env(), "/dev/null", 1);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before cpprestsdk starts its thread
  crossplat::threadpool::initialize_with_threads(1);

  const std::string ca_file = argv[2];
  const std::string token = ReadFile(argv[3]);
  web::http::client::http_client_config config;
  config.set_validate_certificates(true);
  config.set_ssl_context_callback([ca_file](boost::asio::ssl::context& context) {
    X509_STORE* store = X509_STORE_new();
    X509_STORE_load_file(store, ca_file.c_str());
    SSL_CTX_set_cert_store(context.native_handle(), store);
  });
  web::http::client::http_client client(argv[1], config);
  int status = 0;
  try {
    web::http::http_request request(web::http::methods::GET);
    request.set_request_uri("/apis/certificates.k8s.io/v1/certificatesigningrequests?limit=1");
    request.headers().add("Authorization", "Bearer " + token);
    web::http::http_response response = client.request(request).get();
    status = response.status_code();
    response.extract_string().get();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "footprint_floor: request failed: %s\n", e.what());
    return 1;
  }
  std::printf("ready status=%d\n", status);
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  return 0;
}
