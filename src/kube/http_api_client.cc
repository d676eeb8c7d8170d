// ApiClient over cpprestsdk. See shared/reference/libraries.md for the pitfalls heeded here:
// blocking .get() only on caller threads, bodies read incrementally with our own caps, a fresh
// X509_STORE so only the cluster CA is trusted, requests stopped on cpprestsdk's own I/O thread
// (IoThreadStop) and never by closing its socket from ours.
#include <cpprest/http_client.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pplx/threadpool.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <limits>
#include <memory>
#include <optional>
#include <utility>  // before Boost: asio/awaitable.hpp needs std::exchange under C++20

#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/default_trust.h"

namespace kca::kube {
namespace {

namespace http = web::http;
using BodyBuffer = concurrency::streams::streambuf<std::uint8_t>;

constexpr std::size_t kReadChunk = 64 << 10;
// How long ~HttpApiClient waits for cpprestsdk to finish with stopped requests: one step of its
// I/O thread each, unless a stopped watch's stream outlives the client.
constexpr std::chrono::milliseconds kStoppedRequestsDrainLimit{5000};

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  ERR_clear_error();  // the loop ends on "no start line", which is not an error here
  return certs;
}

Status CheckClientCertificate(const std::string& cert_pem, const std::string& key_pem,
                              const std::string& source) {
  auto certs = ParseCertificates(cert_pem);
  if (certs.empty()) {
    return Error{source + ": client certificate: no PEM CERTIFICATE found"};
  }
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!key) return Error{source + ": client key: not a PEM private key"};
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return Error{source + ": client key does not match the client certificate"};
  }
  return Status::Ok();
}

std::string PercentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

class QueryBuilder {
 public:
  explicit QueryBuilder(std::string path) : text_(std::move(path)) {}
  QueryBuilder& Add(std::string_view key, std::string_view value) {
    if (value.empty()) return *this;
    text_ += first_ ? '?' : '&';
    first_ = false;
    text_ += key;
    text_ += '=';
    text_ += PercentEncode(value);
    return *this;
  }
  std::string str() const { return text_; }

 private:
  std::string text_;
  bool first_ = true;
};

// Raised once, from any thread; waited for on one.
class Signal {
 public:
  void Raise() {
    {
      MutexLock lock(mutex_);
      raised_ = true;
    }
    raised_cv_.notify_all();
  }
  void Wait() {
    MutexLock lock(mutex_);
    while (!raised_) lock.Wait(raised_cv_);
  }

 private:
  Mutex mutex_;
  std::condition_variable raised_cv_;
  bool raised_ KCA_GUARDED_BY(mutex_) = false;
};

// Waits on our thread for `task` unless `cancel` fires first (or had): true when the task is
// done and the caller may get() it. A cancelled wait leaves the task to cpprestsdk's threads
// (nothing here touches its socket: see IoThreadStop), with `keep_alive` (what it writes into)
// kept until it ends and its outcome observed (pplx takes an unobserved failure for a crash).
template <typename T>
bool AwaitUnlessCancelled(const pplx::task<T>& task, const Cancellation* cancel,
                          std::shared_ptr<const void> keep_alive = nullptr) {
  if (cancel == nullptr) return true;
  if (task.is_done() && !cancel->cancelled()) return true;
  auto done = std::make_shared<Signal>();
  task.then([done, keep_alive](pplx::task<T> ended) {
    done->Raise();
    try {
      ended.get();
    } catch (...) {
    }
  });
  const auto subscription = cancel->OnCancel([done] { done->Raise(); });
  done->Wait();
  return !cancel->cancelled();
}

using Chunk = std::array<std::uint8_t, kReadChunk>;

// Pulls whatever has arrived (at least one byte, at most `capacity`) into data[0, capacity): its
// size, 0 at the end of the body, nullopt when `cancel` fired first (the read is abandoned with
// `owner`, which holds `data`: do not read into it again). Throws what cpprestsdk throws on a
// dropped connection.
std::optional<std::size_t> PullInto(BodyBuffer& buffer, std::uint8_t* data, std::size_t capacity,
                                    std::shared_ptr<const void> owner, const Cancellation* cancel) {
  if (cancel != nullptr && cancel->cancelled()) return std::nullopt;  // however much has arrived
  const std::size_t want = std::clamp<std::size_t>(buffer.in_avail(), 1, capacity);
  auto read = buffer.getn(data, want);
  if (!AwaitUnlessCancelled(read, cancel, std::move(owner))) return std::nullopt;
  return read.get();
}

// PullInto *chunk.
std::optional<std::size_t> PullChunk(BodyBuffer& buffer, const std::shared_ptr<Chunk>& chunk,
                                     const Cancellation* cancel) {
  return PullInto(buffer, chunk->data(), chunk->size(), chunk, cancel);
}

// The URL's host without IPv6 brackets.
std::string HostOf(const std::string& server) {
  std::string host = web::uri(server).host();
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

// "host:port" of the server URL, for error messages.
std::string Authority(const std::string& server) {
  const web::uri uri(server);
  return uri.host() + ":" + std::to_string(uri.port() > 0 ? uri.port() : 443);
}

// Connects to host:port once (at most 2 s), for the errno a failed connection ended with; 0 when
// it connects (or the name does not resolve).
int ProbeConnect(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return 0;
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  int result = 0;
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    result = ::connect(fd, address->ai_addr, address->ai_addrlen) == 0 ? 0 : errno;
    if (result == EINPROGRESS) {
      pollfd waiting{fd, POLLOUT, 0};
      result = ::poll(&waiting, 1, 2000) == 1 ? 0 : ETIMEDOUT;
      socklen_t length = sizeof(result);
      if (result == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &length);
    }
    ::close(fd);
    if (result == 0) return 0;
  }
  return result;
}

// An error without an HTTP answer (or with one that could not be read).
ApiError TransportError(ApiErrorCode code, std::string message) {
  ApiError error;
  error.code = code;
  error.message = std::move(message);
  return error;
}

ApiError CanceledError(const std::string& request) {
  return TransportError(ApiErrorCode::kCanceled, request + ": cancelled");
}

// Whom the server must prove to be, and why it last failed to. cpprestsdk verifies (rfc2818) and
// sends SNI for the name in the Host header, else the URL's host; kubeconfig's tls-server-name
// must instead set only SNI and the verified name (client-go: tls.Config.ServerName), so the
// Host header stays the URL's. The only hook cpprestsdk gives is the SSL_CTX, before the
// connection's SSL object exists; its handshake-start info callback then installs our name,
// SNI and verify callback on that SSL object (cpprestsdk set its own just before).
class TlsPeer {
 public:
  TlsPeer(std::string verify_name, bool send_sni)
      : verify_name_(std::move(verify_name)), send_sni_(send_sni) {}

  // Installs the handshake hook on `context` (once per connection, on a cpprestsdk thread).
  void Attach(SSL_CTX* context, std::shared_ptr<TlsPeer> self) const {
    SSL_CTX_set_ex_data(context, ExIndex(), new std::shared_ptr<TlsPeer>(std::move(self)));
    SSL_CTX_set_info_callback(context, &TlsPeer::OnHandshakeInfo);
  }

  // The last verification failure ("x509: ..."), cleared: for the error of the failed request.
  std::string TakeFailure() {
    MutexLock lock(mutex_);
    return std::exchange(failure_, std::string());
  }

 private:
  static int ExIndex() {
    static const int index = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* pointer, CRYPTO_EX_DATA*, int, long, void*) {
          delete static_cast<std::shared_ptr<TlsPeer>*>(pointer);
        });
    return index;
  }

  static TlsPeer* Of(const SSL* ssl) {
    auto* holder = static_cast<std::shared_ptr<TlsPeer>*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ExIndex()));
    return holder != nullptr ? holder->get() : nullptr;
  }

  // OpenSSL calls this before it writes the ClientHello: the moment to set SNI and the name.
  static void OnHandshakeInfo(const SSL* const_ssl, int where, int /*ret*/) {
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    TlsPeer* peer = Of(const_ssl);
    if (peer == nullptr) return;
    SSL* ssl = const_cast<SSL*>(const_ssl);  // OpenSSL passes its own SSL as const here
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, peer->verify_name_.c_str()) != 1) {
      X509_VERIFY_PARAM_set1_host(param, peer->verify_name_.c_str(), 0);
    }
    if (peer->send_sni_) SSL_set_tlsext_host_name(ssl, peer->verify_name_.c_str());
    SSL_set_verify(ssl, SSL_VERIFY_PEER, &TlsPeer::OnVerify);
  }

  static int OnVerify(int preverified, X509_STORE_CTX* store) {
    if (preverified == 1) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    TlsPeer* peer = ssl != nullptr ? Of(ssl) : nullptr;
    if (peer != nullptr) {
      MutexLock lock(peer->mutex_);
      peer->failure_ = Describe(X509_STORE_CTX_get_error(store), peer->verify_name_);
    }
    return 0;
  }

  // Go's crypto/x509 wording, which operators know from kubectl.
  static std::string Describe(int error, const std::string& name) {
    switch (error) {
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return "x509: certificate signed by unknown authority";
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "x509: certificate is not valid for " + name;
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return "x509: certificate has expired or is not yet valid";
      default:
        return std::string("x509: ") + X509_verify_cert_error_string(error);
    }
  }

  const std::string verify_name_;
  const bool send_sni_;
  Mutex mutex_;
  std::string failure_ KCA_GUARDED_BY(mutex_);
};

// Runs on a cpprestsdk thread for each new connection: must not block or throw.
void ConfigureTls(boost::asio::ssl::context& context, const std::string& ca_pem,
                  const std::string& cert_pem, const std::string& key_pem,
                  const std::shared_ptr<TlsPeer>& peer) {
  peer->Attach(context.native_handle(), peer);
  if (!ca_pem.empty()) {
    // A fresh store: the system CAs cpprestsdk loaded must not vouch for the API server.
    X509_STORE* store = X509_STORE_new();
    for (const auto& cert : ParseCertificates(ca_pem)) X509_STORE_add_cert(store, cert.get());
    SSL_CTX_set_cert_store(context.native_handle(), store);
  } else if (const std::string& bundle = DeferredDefaultCaFile(); !bundle.empty()) {
    // No CA configured: the system's, whose load run() deferred (default_trust.h).
    SSL_CTX_load_verify_file(context.native_handle(), bundle.c_str());
    ERR_clear_error();  // a missing bundle is no error here, as with OpenSSL's own default load
  }
  if (cert_pem.empty()) return;
  try {
    context.use_certificate_chain(boost::asio::buffer(cert_pem));
    context.use_private_key(boost::asio::buffer(key_pem), boost::asio::ssl::context::pem);
  } catch (const std::exception& e) {
    spdlog::error("TLS client certificate unusable, connecting without it: {}", e.what());
  }
}

// Connection pools presenting one client certificate (or none). A new certificate (from an exec
// plugin) gets new pools, because pooled connections keep the certificate they were opened with.
struct Connections {
  Connections(const std::string& server, const std::string& ca_pem, std::shared_ptr<TlsPeer> peer,
              std::string cert, std::string key, const ApiClientOptions& options)
      : tls(std::move(peer)),
        cert_pem(std::move(cert)),
        key_pem(std::move(key)),
        requests(server, Config(options.request_timeout, ca_pem)),
        watches(server, Config(options.watch_inactivity_timeout, ca_pem)) {}

  http::client::http_client_config Config(std::chrono::seconds timeout,
                                          const std::string& ca_pem) const {
    http::client::http_client_config config;
    config.set_timeout(timeout);
    config.set_validate_certificates(true);
    // cpprestsdk follows up to 10 redirects of a GET by default, to any https URL, with every
    // header copied (the bearer token too). An API server has no reason to redirect us: its 3xx
    // is an error to report, not a place to send credentials.
    config.set_max_redirects(0);
    // By value: the callback may outlive this object inside cpprestsdk's connection pool.
    config.set_ssl_context_callback(
        [ca_pem, cert = cert_pem, key = key_pem, peer = tls](boost::asio::ssl::context& context) {
          ConfigureTls(context, ca_pem, cert, key, peer);
        });
    return config;
  }

  const std::shared_ptr<TlsPeer> tls;
  const std::string cert_pem;
  const std::string key_pem;
  http::client::http_client requests;
  http::client::http_client watches;
};

// cpprestsdk's shared I/O pool when StartHttpIoThread started it with one thread, and what that
// thread still has to do for the requests we stopped. pplx posts every continuation onto the pool
// as a bare pointer, so one still queued when the process exits is dropped with the pool unrun,
// and what it holds (a request's context, connection, body buffer) is lost (LSan reports it):
// this scheduler counts them, and ~HttpApiClient waits until none is queued and every stopped
// request is released.
class HttpIo final : public pplx::scheduler_interface {
 public:
  // Null when the pool is not ours (something used cpprestsdk before StartHttpIoThread).
  static HttpIo* Instance() {
    static HttpIo* const io = []() -> HttpIo* {
      try {
        crossplat::threadpool::initialize_with_threads(1);
      } catch (const std::exception&) {
        return nullptr;  // started before, with 40 threads or whatever its starter chose
      }
      auto* started = new HttpIo;  // never deleted: pplx and the I/O thread use it until exit
      try {
        pplx::set_ambient_scheduler(
            std::shared_ptr<pplx::scheduler_interface>(started, [](pplx::scheduler_interface*) {}));
      } catch (const std::exception&) {
        // pplx ran a task before: its continuations go uncounted (one thread all the same).
      }
      return started;
    }();
    return io;
  }

  // pplx's default (linux_scheduler) posts onto the pool the same way, uncounted.
  void schedule(pplx::TaskProc_t proc, void* param) override {
    Change(+1);
    boost::asio::post(crossplat::threadpool::shared_instance().service(), [this, proc, param] {
      proc(param);
      Change(-1);
    });
  }

  void StopBegan() { Change(+1); }
  void StopEnded() { Change(-1); }

  // Until every stopped request is released and no continuation is queued, at most `limit`
  // (real time: this waits for the I/O thread, not for anything timed).
  void WaitIdle(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    MutexLock lock(mutex_);
    while (busy_.load() > 0 && lock.WaitUntil(idle_, deadline) == std::cv_status::no_timeout) {
    }
  }

 private:
  HttpIo() = default;

  void Change(int delta) {
    if (busy_.fetch_add(delta) + delta != 0) return;
    MutexLock lock(mutex_);  // a waiter between its check and its wait gets this notify
    idle_.notify_all();
  }

  // Continuations posted and not yet run, plus stopped requests cpprestsdk has not released.
  std::atomic<int> busy_{0};
  Mutex mutex_;  // orders WaitIdle's check before the notify of the count's fall to zero
  std::condition_variable idle_;
};

// Ends a request on cpprestsdk's own I/O thread: a response body past its cap, or a request our
// thread gave up on (a destroyed watch, a cancellation, a refused body). Never from our thread:
// cpprestsdk's socket lock (asio_connection::m_socket_lock, Release/src/http/client/
// http_client_asio.cpp) covers its own calls, not the inner reads of the ssl::stream's composed
// operation, so a close from here (what cancellation_token_source::cancel does on the cancelling
// thread) can meet an I/O thread starting the next TLS read. That race crashed
// ABodyPastTheCapClosesTheConnection now and then, and TSan reports it.
// Two ways, both on the I/O thread:
// - When cpprestsdk's pool is one thread (StartHttpIoThread), Stop() posts the request's pplx
//   cancellation onto it: cpprestsdk's cancellation callback closes the connection there, between
//   two of its handlers, so the socket closes at once even with nothing arriving (an idle watch)
//   and the pending read ends with operation_aborted.
// - Always: the progress handler, which cpprestsdk calls on its I/O thread before the request
//   body is written, after it, and after each read of the response, throws once stopped or past
//   the cap, and cpprestsdk ends the request and closes the connection right there. With a pool
//   of several threads this is the only way, and a stopped request with nothing arriving keeps
//   its connection until the server next sends a byte or ends it, or the inactivity timeout.
class IoThreadStop {
 public:
  // `io`: null when cpprestsdk's pool is not our one thread.
  IoThreadStop(std::uint64_t body_cap, HttpIo* io) : body_cap_(body_cap), io_(io) {}
  ~IoThreadStop() {
    if (io_ != nullptr && stopped_.load()) io_->StopEnded();
  }
  IoThreadStop(const IoThreadStop&) = delete;
  IoThreadStop& operator=(const IoThreadStop&) = delete;

  // End the request at once (one I/O thread) or at its next step; from any thread.
  void Stop() {
    if (stopped_.exchange(true) || io_ == nullptr) return;
    io_->StopBegan();
    boost::asio::post(crossplat::threadpool::shared_instance().service(),
                      [source = source_] { source.cancel(); });
  }
  bool body_cap_exceeded() const { return exceeded_.load(); }

  // Sends `message` on `client` with this stop installed; `stop` outlives the request inside
  // cpprestsdk (its progress handler holds it).
  static pplx::task<http::http_response> Send(http::client::http_client& client,
                                              http::http_request& message,
                                              const std::shared_ptr<IoThreadStop>& stop) {
    message.set_progress_handler(
        [stop](http::message_direction::direction direction, utility::size64_t transferred) {
          if (stop->stopped_.load()) throw std::runtime_error("request stopped by its caller");
          if (direction != http::message_direction::download) return;
          if (transferred <= stop->body_cap_) return;
          stop->exceeded_.store(true);
          throw std::length_error("response body past its cap");
        });
    if (stop->io_ == nullptr) return client.request(message);
    return client.request(message, stop->source_.get_token());
  }

 private:
  const std::uint64_t body_cap_;
  HttpIo* const io_;
  const pplx::cancellation_token_source source_;  // cancelled only on the one I/O thread
  std::atomic<bool> stopped_{false};
  std::atomic<bool> exceeded_{false};
};

// An open response, with what keeps its connection pool and cancellation wired up.
struct OpenResponse {
  std::shared_ptr<Connections> connections;
  http::http_response response;
  std::shared_ptr<IoThreadStop> stop;
};

class HttpWatchStream final : public WatchStream {
 public:
  HttpWatchStream(OpenResponse open, std::string request, const Cancellation* cancel,
                  std::size_t max_line)
      : open_(std::move(open)),
        buffer_(open_.response.body().streambuf()),
        request_(std::move(request)),
        cancel_(cancel),
        max_line_(max_line) {}

  ~HttpWatchStream() override {
    // The I/O thread closes the connection at its next read instead of leaving the server
    // streaming into a buffer nobody reads (IoThreadStop says why not from here).
    open_.stop->Stop();
  }

  ApiResult<std::optional<WatchEvent>> Next() override {
    while (true) {
      const auto newline = pending_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string_view line(pending_.data() + consumed_, newline - consumed_);
        consumed_ = scanned_ = newline + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        return Parse(line);
      }
      scanned_ = pending_.size();
      if (pending_.size() - consumed_ > max_line_) {
        return TransportError(
            ApiErrorCode::kResponseTooLarge,
            request_ + ": watch event longer than " + std::to_string(max_line_) + " bytes");
      }
      if (eof_) {
        if (consumed_ == pending_.size()) return std::optional<WatchEvent>();
        const std::string_view line(pending_.data() + consumed_, pending_.size() - consumed_);
        consumed_ = scanned_ = pending_.size();
        return Parse(line);
      }
      if (abandoned_read_) return CanceledError(request_);
      std::optional<std::size_t> n;
      try {
        n = PullChunk(buffer_, chunk_, cancel_);
      } catch (const std::exception& e) {
        if (cancel_ != nullptr && cancel_->cancelled()) return CanceledError(request_);
        const auto* failure = dynamic_cast<const http::http_exception*>(&e);
        if (failure != nullptr && failure->error_code() == std::errc::timed_out) {
          return TransportError(
              ApiErrorCode::kTimeout,
              request_ + ": watch silent for longer than its inactivity timeout: " + e.what());
        }
        return TransportError(ApiErrorCode::kConnectionFailed,
                              request_ + ": watch connection lost: " + e.what());
      }
      if (!n) {
        abandoned_read_ = true;
        open_.stop->Stop();
        return CanceledError(request_);
      }
      if (*n == 0) {
        eof_ = true;
      } else {
        pending_.erase(0, consumed_);  // the lines returned: once per chunk, not once per line
        scanned_ -= consumed_;
        consumed_ = 0;
        pending_.append(reinterpret_cast<const char*>(chunk_->data()), *n);
      }
    }
  }

 private:
  ApiResult<std::optional<WatchEvent>> Parse(std::string_view line) {
    auto event = DecodeWatchEvent(line);
    if (!event.ok()) {
      return TransportError(ApiErrorCode::kInvalidResponse,
                            request_ + ": " + event.error().message);
    }
    return std::optional<WatchEvent>(std::move(*event));
  }

  OpenResponse open_;
  BodyBuffer buffer_;
  const std::string request_;
  const Cancellation* const cancel_;
  const std::size_t max_line_;
  const std::shared_ptr<Chunk> chunk_ = std::make_shared<Chunk>();
  std::string pending_;       // bytes received; pending_[consumed_, end) not yet returned as events
  std::size_t consumed_ = 0;  // pending_[0, consumed_) was returned
  std::size_t scanned_ = 0;   // pending_[consumed_, scanned_) holds no newline
  bool eof_ = false;
  bool abandoned_read_ = false;  // a cancelled read still owns chunk_
};

struct Call {
  const char* verb;  // for the observer: get, list, watch, create, update, patch, delete
  http::method method;
  std::string target;  // path and query
  const nlohmann::json* body = nullptr;
  bool idempotent = false;
  bool watch = false;
  const char* content_type = "application/json";
  const CallOptions* options = nullptr;  // null: the client's defaults
};

class HttpApiClient final : public ApiClient {
 public:
  HttpApiClient(const KubeConfig& config, std::unique_ptr<CredentialSource> credentials,
                const Clock& clock, ApiClientOptions options)
      : options_(std::move(options)),
        server_(config.server),
        ca_pem_(config.ca_pem),
        server_host_(HostOf(config.server)),
        server_authority_(Authority(config.server)),
        server_port_(web::uri(config.server).port() > 0 ? web::uri(config.server).port() : 443),
        tls_(std::make_shared<TlsPeer>(
            config.tls_server_name.empty() ? server_host_ : config.tls_server_name,
            !config.tls_server_name.empty())),
        credentials_(std::move(credentials)),
        clock_(clock),
        bucket_(options_.qps, options_.burst, clock),
        io_(HttpIo::Instance()),
        connections_(std::make_shared<Connections>(server_, ca_pem_, tls_,
                                                   config.client_certificate_pem,
                                                   config.client_key_pem, options_)) {}

  // Returns once cpprestsdk's I/O thread has finished with the requests stopped so far (they end
  // at its next step), so that a process exiting next leaves nothing of theirs queued (HttpIo).
  ~HttpApiClient() override {
    if (io_ != nullptr) io_->WaitIdle(kStoppedRequestsDrainLimit);
  }

  ApiResult<nlohmann::json> Get(const std::string& path, const Cancellation* cancel) override {
    return Exchange({"get", http::methods::GET, path, nullptr, true, false}, cancel);
  }

  ApiResult<nlohmann::json> List(const std::string& path, const ListOptions& options,
                                 const Cancellation* cancel) override {
    QueryBuilder query(path);
    if (options.limit > 0) query.Add("limit", std::to_string(options.limit));
    query.Add("continue", options.continue_token)
        .Add("resourceVersion", options.resource_version)
        .Add("labelSelector", options.label_selector)
        .Add("fieldSelector", options.field_selector);
    return Exchange({"list", http::methods::GET, query.str(), nullptr, true, false}, cancel);
  }

  ApiResult<nlohmann::json> Create(const std::string& path, const nlohmann::json& body,
                                   const Cancellation* cancel) override {
    return Exchange({"create", http::methods::POST, path, &body, false, false}, cancel);
  }

  ApiResult<nlohmann::json> Update(const std::string& path, const nlohmann::json& body,
                                   const Cancellation* cancel) override {
    return Exchange({"update", http::methods::PUT, path, &body, false, false}, cancel);
  }

  ApiResult<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                  const Cancellation* cancel, const CallOptions& options) override {
    return Exchange({"patch", http::methods::PATCH, path, &patch, false, false,
                     "application/merge-patch+json", &options},
                    cancel);
  }

  ApiResult<nlohmann::json> Delete(const std::string& path, const Cancellation* cancel) override {
    return Exchange({"delete", http::methods::DEL, path, nullptr, false, false}, cancel);
  }

  ApiResult<std::unique_ptr<WatchStream>> Watch(const std::string& path,
                                                const WatchOptions& options,
                                                const Cancellation* cancel) override {
    QueryBuilder query(path);
    query.Add("watch", "1")
        .Add("resourceVersion", options.resource_version)
        .Add("allowWatchBookmarks", options.allow_bookmarks ? "true" : "")
        .Add("timeoutSeconds",
             options.timeout.count() > 0 ? std::to_string(options.timeout.count()) : "")
        .Add("labelSelector", options.label_selector)
        .Add("fieldSelector", options.field_selector);
    const Call call{"watch", http::methods::GET, query.str(), nullptr, true, true};
    auto open = Send(call, cancel, nullptr);
    if (!open.ok()) return open.error();
    return std::unique_ptr<WatchStream>(std::make_unique<HttpWatchStream>(
        std::move(*open), "GET " + call.target, cancel, options_.max_watch_line_bytes));
  }

 private:
  // Credentials for the next request, and the connection pools presenting their certificate.
  ApiResult<std::pair<Credentials, std::shared_ptr<Connections>>> CurrentCredentials(
      const std::string& request) {
    auto credentials = credentials_->Current();
    if (!credentials.ok()) {
      return TransportError(ApiErrorCode::kCredentialsUnavailable,
                            request + ": no credentials: " + credentials.error().message);
    }
    MutexLock lock(connections_mutex_);
    if (connections_->cert_pem != credentials->client_certificate_pem ||
        connections_->key_pem != credentials->client_key_pem) {
      try {
        connections_ = std::make_shared<Connections>(server_, ca_pem_, tls_,
                                                     credentials->client_certificate_pem,
                                                     credentials->client_key_pem, options_);
      } catch (const std::exception& e) {
        return TransportError(ApiErrorCode::kConnectionFailed,
                              request + ": cannot set up connections: " + e.what());
      }
    }
    return std::make_pair(std::move(*credentials), connections_);
  }

  // What went wrong on the way to the server: its code, and words naming the server and the cause.
  ApiError TransportFailure(const std::string& request, const std::exception& e) {
    if (std::string reason = tls_->TakeFailure(); !reason.empty()) {
      return TransportError(
          ApiErrorCode::kTlsVerifyFailed,
          request + ": TLS handshake with " + server_authority_ + " failed: " + reason);
    }
    if (const auto* failure = dynamic_cast<const http::http_exception*>(&e)) {
      // cpprestsdk reports every failed connect as EHOSTUNREACH ("Failed to connect to any
      // resolved endpoint"): one plain connect of our own finds the real cause.
      const int code = failure->error_code().value() == EHOSTUNREACH
                           ? ProbeConnect(server_host_, server_port_)
                           : failure->error_code().value();
      switch (code) {
        case ECONNREFUSED:
          return TransportError(ApiErrorCode::kConnectionFailed,
                                request + ": connection refused to " + server_authority_);
        case ETIMEDOUT:
          return TransportError(ApiErrorCode::kTimeout,
                                request + ": connection to " + server_authority_ + " timed out");
        case EHOSTUNREACH:
        case ENETUNREACH:
          return TransportError(ApiErrorCode::kConnectionFailed,
                                request + ": no route to " + server_authority_);
        default:
          break;
      }
    }
    return TransportError(ApiErrorCode::kConnectionFailed,
                          request + ": " + server_authority_ + ": " + e.what());
  }

  bool Wait(std::chrono::nanoseconds delay, const Cancellation* cancel) {
    if (delay <= std::chrono::nanoseconds(0)) return cancel == nullptr || !cancel->cancelled();
    if (cancel != nullptr) return cancel->SleepFor(clock_, delay);
    const Cancellation never;  // nothing cuts this wait short
    return never.SleepFor(clock_, delay);
  }

  // Reads a whole body, refusing more than max_response_bytes: past the cap (or when the
  // Content-Length announces more) cpprestsdk's I/O thread stops at its next read and closes the
  // connection (IoThreadStop), so cpprestsdk stops buffering what the server keeps sending.
  // Throws on a dropped connection.
  ApiResult<std::string> ReadBody(OpenResponse& open, const std::string& request,
                                  const Cancellation* cancel) {
    auto too_large = [&] {
      open.stop->Stop();
      return TransportError(ApiErrorCode::kResponseTooLarge,
                            request + ": response larger than " +
                                std::to_string(options_.max_response_bytes) +
                                " bytes (connection closed)");
    };
    // 0 when the header is absent (chunked): the loop below enforces the cap then.
    if (open.response.headers().content_length() > options_.max_response_bytes) return too_large();
    BodyBuffer buffer = open.response.body().streambuf();
    // Read straight into the body, grown by what has arrived: no 64 KiB chunk to allocate, zero
    // and copy out of per request. Shared, so that an abandoned read still has it to write into.
    const auto body = std::make_shared<std::string>();
    body->reserve(open.response.headers().content_length());  // within the cap, checked above
    try {
      while (true) {
        const std::size_t had = body->size();
        const std::size_t room = std::clamp<std::size_t>(buffer.in_avail(), 1, kReadChunk);
        body->resize(had + room);
        const std::optional<std::size_t> n = PullInto(
            buffer, reinterpret_cast<std::uint8_t*>(body->data() + had), room, body, cancel);
        if (!n) {
          open.stop->Stop();
          return CanceledError(request);
        }
        body->resize(had + *n);
        if (*n == 0) break;
        if (body->size() > options_.max_response_bytes) return too_large();
      }
    } catch (const std::exception&) {
      // The I/O thread stopped the body past the cap before this loop saw that many bytes.
      if (open.stop->body_cap_exceeded()) return too_large();
      throw;
    }
    return std::move(*body);
  }

  // Sends `call` with pacing, credentials and retries (see ApiClient). On success the response
  // is 2xx; its body is in *body when body != nullptr, else left unread (watch).
  ApiResult<OpenResponse> Send(const Call& call, const Cancellation* cancel, std::string* body) {
    const std::string request = std::string(call.method) + " " + call.target;
    std::optional<ExponentialBackoff> backoff;  // seeded on the first retry: most calls need none
    bool refreshed_after_401 = false;
    const int max_attempts = call.options != nullptr && call.options->max_attempts > 0
                                 ? call.options->max_attempts
                                 : options_.max_attempts;
    for (int attempt = 1;; ++attempt) {
      if (!Wait(bucket_.Reserve(), cancel)) return CanceledError(request);
      if (call.options != nullptr && call.options->may_send && !call.options->may_send()) {
        return CanceledError(request);
      }
      auto current = CurrentCredentials(request);
      if (!current.ok()) return current.error();
      const Credentials& credentials = current->first;

      http::http_request message(call.method);
      message.set_request_uri(call.target);
      auto& headers = message.headers();
      headers.add(http::header_names::accept, "application/json");
      headers.add(http::header_names::user_agent, options_.user_agent);
      if (!credentials.bearer_token.empty()) {
        headers.add(http::header_names::authorization, "Bearer " + credentials.bearer_token);
      }
      if (call.body != nullptr) {
        message.set_body(call.body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         call.content_type);
      }

      OpenResponse open;
      open.connections = current->second;
      // A watch's stream has no total cap (HttpWatchStream caps each line); its error body has.
      open.stop = std::make_shared<IoThreadStop>(
          call.watch ? std::numeric_limits<std::uint64_t>::max() : options_.max_response_bytes,
          io_);
      int code = 0;
      std::string received;
      std::optional<ApiError> failure;
      try {
        auto& client = call.watch ? open.connections->watches : open.connections->requests;
        // A cancelled wait stops the request on the I/O thread (IoThreadStop).
        auto pending = IoThreadStop::Send(client, message, open.stop);
        if (!AwaitUnlessCancelled(pending, cancel)) {
          open.stop->Stop();  // before the request body is written, when it has one
          if (options_.observer) options_.observer(call.verb, code);
          return CanceledError(request);
        }
        open.response = pending.get();
        code = open.response.status_code();
        const bool success = code >= 200 && code < 300;
        if (!success || body != nullptr) {
          auto read = ReadBody(open, request, cancel);
          if (!read.ok() && read.error().code == ApiErrorCode::kCanceled) {
            if (options_.observer) options_.observer(call.verb, code);
            return read.error();
          }
          if (!read.ok()) {
            failure = read.error();
          } else {
            received = std::move(*read);
          }
        }
        if (!failure && !success) {
          failure = DecodeApiError(code, received,
                                   open.response.headers().has("Retry-After")
                                       ? open.response.headers()["Retry-After"]
                                       : std::string(),
                                   request);
        }
      } catch (const std::exception& e) {
        if (cancel != nullptr && cancel->cancelled()) {
          if (options_.observer) options_.observer(call.verb, code);
          return CanceledError(request);
        }
        failure = TransportFailure(request, e);
      }
      if (options_.observer) options_.observer(call.verb, code);
      if (!failure) {
        if (body != nullptr) *body = std::move(received);
        return open;
      }

      const ApiError& error = *failure;
      const bool can_retry = attempt < max_attempts;
      if (error.code == ApiErrorCode::kUnauthorized && !refreshed_after_401) {
        refreshed_after_401 = true;
        credentials_->Invalidate();
        continue;
      }
      if (!backoff) backoff.emplace(options_.retry_backoff);
      std::chrono::nanoseconds delay = backoff->Next();
      if (error.retry_after) {
        delay = std::min<std::chrono::nanoseconds>(*error.retry_after, options_.max_retry_after);
      }
      const bool retry =
          can_retry &&
          (error.code == ApiErrorCode::kThrottled ||
           (error.transient() && call.idempotent && error.code != ApiErrorCode::kUnauthorized));
      if (!retry) return error;
      spdlog::debug("{}; retrying in {} ms", error.message,
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
      if (!Wait(delay, cancel)) return CanceledError(request);
    }
  }

  ApiResult<nlohmann::json> Exchange(const Call& call, const Cancellation* cancel) {
    std::string body;
    auto open = Send(call, cancel, &body);
    if (!open.ok()) return open.error();
    if (body.empty()) return nlohmann::json();
    nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) {
      return TransportError(
          ApiErrorCode::kInvalidResponse,
          std::string(call.method) + " " + call.target + ": response is not JSON");
    }
    return parsed;
  }

  const ApiClientOptions options_;
  const std::string server_;
  const std::string ca_pem_;
  const std::string server_host_;
  const std::string server_authority_;  // host:port, for errors
  const int server_port_;
  const std::shared_ptr<TlsPeer> tls_;
  const std::unique_ptr<CredentialSource> credentials_;
  const Clock& clock_;  // times the rate limit and retry waits
  TokenBucket bucket_;
  HttpIo* const io_;  // null: cpprestsdk's pool is not our one thread (IoThreadStop)
  Mutex connections_mutex_;
  std::shared_ptr<Connections> connections_ KCA_GUARDED_BY(connections_mutex_);  // never null
};

}  // namespace

bool StartHttpIoThread() { return HttpIo::Instance() != nullptr; }

Result<std::unique_ptr<ApiClient>> NewApiClient(const KubeConfig& config,
                                                std::unique_ptr<CredentialSource> credentials,
                                                const Clock& clock, ApiClientOptions options) {
  const std::string source = config.source.empty() ? "API client" : config.source;
  try {
    const web::uri server(config.server);
    if (server.scheme() != "https" || server.host().empty()) {
      return Error{source + ": server \"" + config.server + "\" must be an https:// URL"};
    }
  } catch (const std::exception& e) {
    return Error{source + ": server \"" + config.server + "\" is not a URL: " + e.what()};
  }
  if (!config.ca_pem.empty() && ParseCertificates(config.ca_pem).empty()) {
    return Error{source + ": certificate authority: no PEM CERTIFICATE found"};
  }
  if (!config.client_certificate_pem.empty()) {
    if (Status s =
            CheckClientCertificate(config.client_certificate_pem, config.client_key_pem, source);
        !s.ok()) {
      return s.error();
    }
  }
  if (!credentials) return Error{source + ": no credential source given"};
  try {
    return std::unique_ptr<ApiClient>(
        std::make_unique<HttpApiClient>(config, std::move(credentials), clock, std::move(options)));
  } catch (const std::exception& e) {
    return Error{source + ": cannot create the HTTP client: " + e.what()};
  }
}

}  // namespace kca::kube
