// ProbeServer over civetweb's C++ wrapper (a dependency of prometheus-cpp already).
#include <CivetServer.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include "kube_csr_approver/observability/health.h"
#include "kube_csr_approver/observability/logging.h"

namespace kca {
namespace {

class RouteHandler final : public CivetHandler {
 public:
  RouteHandler(std::function<ProbeResult()> route, std::function<void()> on_error)
      : route_(std::move(route)), on_error_(std::move(on_error)) {}

  bool handleGet(CivetServer*, mg_connection* connection) override {
    ProbeResult result{500, "internal error (see the log)"};
    RunGuarded(
        "probe", [&] { result = route_(); }, on_error_);
    const std::string body = result.body + "\n";
    mg_printf(connection,
              "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
              result.status, mg_get_response_code_text(connection, result.status), body.size());
    mg_write(connection, body.data(), body.size());
    return true;
  }

 private:
  std::function<ProbeResult()> route_;
  std::function<void()> on_error_;
};

// "HOST:PORT" as Kubernetes controllers spell bind addresses ("0.0.0.0:8081", "[::]:8081",
// ":8081") to civetweb's listening_ports syntax.
Result<std::string> ToCivetPorts(const std::string& bind_address) {
  const auto colon = bind_address.rfind(':');
  const std::string host = colon == std::string::npos ? "" : bind_address.substr(0, colon);
  const std::string port = bind_address.substr(colon == std::string::npos ? 0 : colon + 1);
  int number = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 0 ||
      number > 65535) {
    return Error{"bind address \"" + bind_address +
                 "\" must be HOST:PORT with a port from 0 to 65535 (e.g. 0.0.0.0:8081)"};
  }
  if (host.empty()) return port;
  return host + ":" + port;  // "[::]" keeps its brackets, as civetweb expects for IPv6
}

class CivetProbeServer final : public ProbeServer {
 public:
  CivetProbeServer(std::unique_ptr<CivetServer> server,
                   std::vector<std::unique_ptr<RouteHandler>> handlers)
      : handlers_(std::move(handlers)), server_(std::move(server)) {}
  ~CivetProbeServer() override { server_->close(); }

  int port() const override {
    const auto ports = server_->getListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

 private:
  std::vector<std::unique_ptr<RouteHandler>> handlers_;  // outlive the server's threads
  std::unique_ptr<CivetServer> server_;
};

}  // namespace

std::string BindFailureReason(const std::string& bind_address) {
  const auto colon = bind_address.rfind(':');
  std::string host = colon == std::string::npos ? "" : bind_address.substr(0, colon);
  const std::string port = bind_address.substr(colon == std::string::npos ? 0 : colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int failed =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      failed != 0) {
    return std::string("cannot resolve \"") + host + "\": " + ::gai_strerror(failed);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));  // as civetweb does
  const int error = ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 ? 0 : errno;
  ::close(fd);
  if (error == 0) return "";
  std::string reason = std::strerror(error);
  if (!reason.empty())
    reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

Result<std::unique_ptr<ProbeServer>> ProbeServer::Start(const std::string& bind_address,
                                                        ProbeRoutes routes,
                                                        std::function<void()> on_handler_error) {
  auto ports = ToCivetPorts(bind_address);
  if (!ports.ok()) return ports.error();
  std::unique_ptr<CivetServer> server;
  try {
    server = std::make_unique<CivetServer>(
        std::vector<std::string>{"listening_ports", *ports, "num_threads", "2"});
  } catch (const std::exception& e) {
    const std::string reason = BindFailureReason(bind_address);
    return Error{"cannot listen on " + bind_address + ": " + (reason.empty() ? e.what() : reason)};
  }
  std::vector<std::unique_ptr<RouteHandler>> handlers;
  for (auto& [path, route] : routes) {
    handlers.push_back(std::make_unique<RouteHandler>(std::move(route), on_handler_error));
    // "$" anchors the URI: /healthz/x must not reach the /healthz handler.
    server->addHandler(path + "$", handlers.back().get());
  }
  return std::unique_ptr<ProbeServer>(
      std::make_unique<CivetProbeServer>(std::move(server), std::move(handlers)));
}

}  // namespace kca
