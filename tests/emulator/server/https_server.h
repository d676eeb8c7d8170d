// The emulator's HTTPS front end on Boost.Beast: TLS with optional client certificates, one
// thread per connection (keep-alive, chunked watch streams), and clean shutdown on SIGTERM or
// SIGINT. Request semantics live in ApiServer.
// Thread-safety: construct, Listen and Run from one thread; Run blocks until a signal arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api.h"
#include "kube_csr_approver/common/result.h"
#include "pki.h"

namespace kca::emulator {

struct ServerLimits {
  size_t max_body_bytes = 3 * 1024 * 1024;    // kube-apiserver's request size limit: 413 above
  size_t hard_body_bytes = 64 * 1024 * 1024;  // above this the connection is closed
  size_t max_header_bytes = 1024 * 1024;
};

class HttpsServer {
 public:
  // `api` must outlive the server.
  HttpsServer(ApiServer& api, const KeyPair& serving, const std::string& ca_pem,
              ServerLimits limits = {});
  ~HttpsServer();

  // Binds host:port (port 0 picks a free one); returns the bound port.
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  // Serves until SIGTERM/SIGINT, then closes the listener and every connection and waits for
  // the connection threads.
  void Run();
  // Injected outage: closes every connection and the listener for `duration` (thread-safe).
  void RefuseConnections(std::chrono::milliseconds duration);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kca::emulator
