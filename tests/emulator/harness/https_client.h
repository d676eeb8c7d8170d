// A small HTTPS/1.1 client for tests and benchmarks of the emulator: one keep-alive connection,
// client-certificate or bearer-token identity, every call bounded by a deadline, and watch
// streams read line by line.
// Thread-safety: one instance per thread.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::emulator {

// Who the client authenticates as.
struct Credentials {
  std::string ca_pem;
  std::string cert_pem;  // with key_pem: client-certificate identity
  std::string key_pem;
  std::string token;  // bearer token identity

  // Reads DIR/ca.crt and, for "admin" or "alice", the client certificate from the kubeconfig;
  // for "approver", DIR/serviceaccount/token. "anonymous" has neither.
  static Result<Credentials> FromDataDir(const std::string& data_dir, const std::string& identity);
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const;
  nlohmann::json Json() const;  // discarded value when the body is not JSON
};

class HttpsClient {
 public:
  HttpsClient(std::string host, uint16_t port, Credentials credentials);
  ~HttpsClient();

  Result<HttpResponse> Request(const std::string& method, const std::string& target,
                               const std::string& body = "",
                               const std::vector<std::pair<std::string, std::string>>& headers = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Result<HttpResponse> Get(const std::string& target) { return Request("GET", target); }
  Result<HttpResponse> Post(const std::string& target, const nlohmann::json& body) {
    return Request("POST", target, body.dump());
  }
  Result<HttpResponse> Put(const std::string& target, const nlohmann::json& body) {
    return Request("PUT", target, body.dump());
  }

  // Starts a watch (GET target) on a dedicated connection of this client. The response status
  // and headers are read within `timeout`; then call NextLine.
  Result<HttpResponse> StartWatch(const std::string& target,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next line of the watch body. Error "eof" when the server finished the stream, "timeout"
  // when nothing arrived within `timeout`, other text when the connection broke.
  Result<std::string> NextLine(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kca::emulator
