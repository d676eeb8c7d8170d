// One TU holds all Beast/Asio code: it is the slowest part of the build.
#include "https_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <future>
#include <iostream>
#include <map>
#include <thread>
#include <utility>  // before Boost: Asio 1.74 uses std::exchange without including it
#include <vector>

#include "kube_format.h"

namespace kca::emulator {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

class HttpsServer::Impl {
 public:
  Impl(ApiServer& api, const KeyPair& serving, const std::string& ca_pem, ServerLimits limits)
      : api_(api),
        limits_(limits),
        tls_(ssl::context::tls_server),
        acceptor_(io_),
        signals_(io_),
        reopen_timer_(io_) {
    // Registered before the "listening on" line so an early SIGTERM is queued, not fatal.
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_.use_certificate_chain(net::buffer(serving.cert_pem));
    tls_.use_private_key(net::buffer(serving.key_pem), ssl::context::pem);
    tls_.add_certificate_authority(net::buffer(ca_pem));
    // Ask for a client certificate but accept connections without one (token users); the
    // verification result is checked per connection.
    tls_.set_verify_mode(ssl::verify_peer);
    tls_.set_verify_callback([](bool, ssl::verify_context&) { return true; });
    BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (ca != nullptr) {
      SSL_CTX_add_client_CA(tls_.native_handle(), ca);
      X509_free(ca);
    }
  }

  Result<uint16_t> Listen(const std::string& host, uint16_t port) {
    boost::system::error_code ec;
    net::ip::address address = net::ip::make_address(host, ec);
    if (ec) return Error{"--listen: " + host + " is not an IP address"};
    endpoint_ = tcp::endpoint(address, port);
    if (!OpenAcceptor(&ec)) {
      return Error{"cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message()};
    }
    endpoint_ = acceptor_.local_endpoint();
    return endpoint_.port();
  }

  void PostRefuseConnections(std::chrono::milliseconds d) {
    net::post(io_, [this, d] { RefuseConnections(d); });
  }

  void Run() {
    signals_.async_wait([this](const boost::system::error_code&, int) { Stop(); });
    Accept();
    io_.run();
    // Wait for connection threads: their sockets are shut down, watches are woken.
    {
      std::unique_lock lock(sessions_mu_);
      sessions_done_.wait_for(lock, std::chrono::seconds(10), [this] { return sessions_.empty(); });
    }
    JoinEndedSessions();
    // A session still stuck after that is left behind, as before.
    std::lock_guard lock(sessions_mu_);
    for (auto& entry : threads_) entry.second.detach();
    threads_.clear();
  }

 private:
  bool OpenAcceptor(boost::system::error_code* ec) {
    acceptor_.open(endpoint_.protocol(), *ec);
    if (*ec) return false;
    acceptor_.set_option(net::socket_base::reuse_address(true), *ec);
    acceptor_.bind(endpoint_, *ec);
    if (*ec) {
      acceptor_.close();
      return false;
    }
    acceptor_.listen(net::socket_base::max_listen_connections, *ec);
    return !*ec;
  }

  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) {
        if (acceptor_.is_open() && !stopping_) Accept();
        return;
      }
      socket.set_option(tcp::no_delay(true));
      StartSession(std::move(socket));
      Accept();
    });
  }

  // Runs on the io thread. `spared_fd` is the connection that asked (it closes itself after
  // answering).
  void RefuseConnections(std::chrono::milliseconds duration, int spared_fd = -1) {
    if (stopping_) return;
    boost::system::error_code ec;
    acceptor_.close(ec);
    ShutdownSessions(spared_fd);
    reopen_timer_.expires_after(duration);
    reopen_timer_.async_wait([this](const boost::system::error_code& wait_ec) {
      if (wait_ec || stopping_) return;
      boost::system::error_code open_ec;
      if (OpenAcceptor(&open_ec)) {
        Accept();
      } else {
        std::cerr << "kube-apiserver-emulator: cannot listen again on port " << endpoint_.port()
                  << ": " << open_ec.message() << std::endl;
      }
    });
  }

  void Stop() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    reopen_timer_.cancel();
    api_.Shutdown();
    ShutdownSessions();
    io_.stop();
  }

  void ShutdownSessions(int spared_fd = -1) {
    std::lock_guard lock(sessions_mu_);
    for (const auto& [id, fd] : sessions_) {
      if (fd != spared_fd) ::shutdown(fd, SHUT_RDWR);
    }
  }

  // Joins the threads whose sessions ended. A thread's exit still runs OpenSSL's per-thread
  // cleanup, which takes a lock that OpenSSL frees at process exit: main() must not return
  // before that (TSan saw a heap-use-after-free in CRYPTO_THREAD_write_lock when the threads
  // were detached).
  void JoinEndedSessions() {
    std::vector<std::thread> ended;
    {
      std::lock_guard lock(sessions_mu_);
      for (auto it = threads_.begin(); it != threads_.end();) {
        if (sessions_.count(it->first) != 0) {
          ++it;
          continue;
        }
        ended.push_back(std::move(it->second));
        it = threads_.erase(it);
      }
    }
    for (auto& thread : ended) thread.join();
  }

  void StartSession(tcp::socket socket) {
    JoinEndedSessions();  // so finished threads do not pile up
    uint64_t id = 0;
    {
      std::lock_guard lock(sessions_mu_);
      id = ++next_session_;
      sessions_[id] = socket.native_handle();
    }
    std::thread thread([this, id, s = std::move(socket)]() mutable {
      try {
        Serve(std::move(s));
      } catch (const std::exception& e) {
        // Never let one connection take the process down.
        std::cerr << "kube-apiserver-emulator: connection ended by an internal error: " << e.what()
                  << std::endl;
      }
      std::lock_guard lock(sessions_mu_);
      sessions_.erase(id);
      sessions_done_.notify_all();
    });
    std::lock_guard lock(sessions_mu_);
    threads_.emplace(id, std::move(thread));
  }

  static std::optional<UserInfo> CertificateUser(SSL* ssl) {
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (peer == nullptr) return std::nullopt;
    std::optional<UserInfo> user;
    if (SSL_get_verify_result(ssl) == X509_V_OK) {
      CsrSubject subject = SubjectOfCertificate(peer);
      if (!subject.common_name.empty()) {
        user = UserInfo{subject.common_name, "", subject.organizations};
        user->groups.push_back("system:authenticated");
      }
    }
    X509_free(peer);
    return user;
  }

  template <typename Stream>
  static void WriteStatus(Stream& stream, int code, const std::string& reason,
                          const std::string& message) {
    http::response<http::string_body> res{static_cast<http::status>(code), 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = StatusFailure(code, reason, message).dump();
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(stream, res, ec);
  }

  void Serve(tcp::socket socket) {
    const int fd = socket.native_handle();
    ssl::stream<tcp::socket> stream(std::move(socket), tls_);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    // A presented certificate that does not verify is a failed authentication (401), as in
    // kube-apiserver; no certificate falls through to bearer tokens.
    X509* presented = SSL_get0_peer_certificate(stream.native_handle());
    std::optional<UserInfo> cert_user = CertificateUser(stream.native_handle());
    const bool bad_certificate = presented != nullptr && !cert_user;
    boost::beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      // Bodies up to the hard cap are read in full so an oversized one gets a clean 413 on a
      // connection that stays usable; beyond it the connection is closed.
      parser.body_limit(limits_.hard_body_bytes);
      parser.header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
      http::read(stream, buffer, parser, ec);
      if (ec == http::error::end_of_stream || ec == net::error::eof ||
          ec == ssl::error::stream_truncated) {
        break;
      }
      if (ec == http::error::body_limit) {
        WriteStatus(
            stream, 413, "RequestEntityTooLarge",
            "Request entity too large: limit is " + std::to_string(limits_.hard_body_bytes));
        break;
      }
      if (ec == http::error::header_limit) {
        WriteStatus(stream, 431, "BadRequest", "request header fields too large");
        break;
      }
      if (ec) {
        if (std::string(ec.category().name()) == "beast.http") {
          WriteStatus(stream, 400, "BadRequest", "malformed HTTP request: " + ec.message());
        }
        break;
      }
      http::request<http::string_body>& req = parser.get();
      if (req.body().size() > limits_.max_body_bytes) {
        http::response<http::string_body> res{http::status::payload_too_large, req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        res.body() = StatusFailure(413, "RequestEntityTooLarge",
                                   "Request entity too large: limit is " +
                                       std::to_string(limits_.max_body_bytes))
                         .dump();
        res.prepare_payload();
        http::write(stream, res, ec);
        if (ec || !req.keep_alive()) break;
        continue;
      }
      ApiRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      request.accept = std::string(req[http::field::accept]);
      request.content_type = std::string(req[http::field::content_type]);
      request.body = std::move(req.body());
      request.impersonate_user = std::string(req["Impersonate-User"]);
      for (const auto& field : req) {
        if (boost::beast::iequals(field.name_string(), "Impersonate-Group")) {
          request.impersonate_groups.emplace_back(field.value());
        }
      }
      if (!bad_certificate) {
        std::string auth(req[http::field::authorization]);
        const std::string kBearer = "Bearer ";
        if (auth.size() > kBearer.size() &&
            std::equal(kBearer.begin(), kBearer.end(), auth.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
          request.user = api_.tokens().Authenticate(auth.substr(kBearer.size()));
        } else if (auth.empty()) {
          request.user = cert_user;
        }
      }
      Outcome outcome;
      try {
        outcome = api_.Handle(request);
      } catch (const std::exception& e) {
        // A bug, not the client's fault: answer like kube-apiserver's panic recovery.
        outcome.response.status = 500;
        outcome.response.body =
            StatusFailure(500, "InternalError", std::string("Internal error occurred: ") + e.what())
                .dump();
      }
      const bool keep_alive = req.keep_alive();
      if (outcome.watch) {
        if (!StreamWatch(stream, fd, *outcome.watch)) break;
        continue;
      }
      http::response<http::string_body> res{static_cast<http::status>(outcome.response.status),
                                            req.version()};
      res.set(http::field::content_type, outcome.response.content_type);
      res.set(http::field::cache_control, "no-cache, private");
      for (const auto& [name, value] : outcome.response.headers) res.insert(name, value);
      res.keep_alive(keep_alive);
      if (req.method() != http::verb::head) res.body() = std::move(outcome.response.body);
      res.prepare_payload();
      const std::chrono::milliseconds outage = outcome.response.refuse_connections_for;
      if (outage.count() > 0) {
        // The outage starts before the answer leaves, so the client's next request fails.
        res.keep_alive(false);
        auto started = std::make_shared<std::promise<void>>();
        std::future<void> ready = started->get_future();
        net::post(io_, [this, outage, fd, started] {
          RefuseConnections(outage, fd);
          started->set_value();
        });
        ready.wait_for(std::chrono::seconds(5));
      }
      http::write(stream, res, ec);
      if (outage.count() > 0) break;
      if (ec || !keep_alive) break;
    }
    stream.shutdown(ec);
  }

  // Returns whether the connection may carry further requests.
  bool StreamWatch(ssl::stream<tcp::socket>& stream, int fd, const WatchPlan& plan) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-cache, private");
    res.chunked(true);
    http::response_serializer<http::empty_body> serializer{res};
    boost::system::error_code ec;
    http::write_header(stream, serializer, ec);
    if (ec) return false;
    auto write = [&](const std::string& chunk) {
      net::write(stream, http::make_chunk(net::buffer(chunk)), ec);
      return !ec;
    };
    auto alive = [fd] {
      char byte;
      ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      // Clients send nothing during a watch: data here is a TLS close_notify.
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    };
    ApiServer::StreamEnd end = api_.Stream(plan, write, alive);
    if (end == ApiServer::StreamEnd::kDropped) {
      ::shutdown(fd, SHUT_RDWR);
      return false;
    }
    if (ec) return false;
    net::write(stream, http::make_chunk_last(), ec);
    return !ec;
  }

  ApiServer& api_;
  ServerLimits limits_;
  net::io_context io_;
  ssl::context tls_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer reopen_timer_;
  tcp::endpoint endpoint_;
  std::atomic<bool> stopping_{false};

  std::mutex sessions_mu_;
  std::condition_variable sessions_done_;
  uint64_t next_session_ = 0;                // GUARDED_BY(sessions_mu_)
  std::map<uint64_t, int> sessions_;         // GUARDED_BY(sessions_mu_): id -> socket fd
  std::map<uint64_t, std::thread> threads_;  // GUARDED_BY(sessions_mu_): joined once ended
};

HttpsServer::HttpsServer(ApiServer& api, const KeyPair& serving, const std::string& ca_pem,
                         ServerLimits limits)
    : impl_(std::make_unique<Impl>(api, serving, ca_pem, limits)) {}

HttpsServer::~HttpsServer() = default;

Result<uint16_t> HttpsServer::Listen(const std::string& host, uint16_t port) {
  return impl_->Listen(host, port);
}

void HttpsServer::Run() { impl_->Run(); }

void HttpsServer::RefuseConnections(std::chrono::milliseconds duration) {
  impl_->PostRefuseConnections(duration);
}

}  // namespace kca::emulator
