// ApiClient over cpprestsdk. See shared/reference/libraries.md for the pitfalls heeded here:
// blocking .get() only on caller threads, bodies read incrementally with our own caps, a fresh
// X509_STORE so only the cluster CA is trusted, cancellation through pplx tokens.
#include <cpprest/http_client.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>  // before Boost: asio/awaitable.hpp needs std::exchange under C++20

#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {
namespace {

namespace http = web::http;
using BodyBuffer = concurrency::streams::streambuf<std::uint8_t>;

constexpr std::size_t kReadChunk = 64 << 10;

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

// Pulls whatever has arrived (at least one byte, at most kReadChunk); 0 at the end of the body.
// Throws what cpprestsdk throws on a dropped or cancelled connection.
std::size_t PullChunk(BodyBuffer& buffer, std::uint8_t* out) {
  const std::size_t available = buffer.in_avail();
  const std::size_t want = std::clamp<std::size_t>(available, 1, kReadChunk);
  return buffer.getn(out, want).get();
}

ApiError TransportError(std::string reason, std::string message, bool transient) {
  ApiError error;
  error.reason = std::move(reason);
  error.message = std::move(message);
  error.transient = transient;
  return error;
}

ApiError CanceledError(const std::string& request) {
  return TransportError("Canceled", request + ": cancelled", false);
}

// Runs on a cpprestsdk thread for each new connection: must not block or throw.
void ConfigureTls(boost::asio::ssl::context& context, const std::string& ca_pem,
                  const std::string& cert_pem, const std::string& key_pem) {
  if (!ca_pem.empty()) {
    // A fresh store: the system CAs cpprestsdk loaded must not vouch for the API server.
    X509_STORE* store = X509_STORE_new();
    for (const auto& cert : ParseCertificates(ca_pem)) X509_STORE_add_cert(store, cert.get());
    SSL_CTX_set_cert_store(context.native_handle(), store);
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
  Connections(const std::string& server, const std::string& ca_pem, std::string cert,
              std::string key, const ApiClientOptions& options)
      : cert_pem(std::move(cert)),
        key_pem(std::move(key)),
        requests(server, Config(options.request_timeout, ca_pem)),
        watches(server, Config(options.watch_inactivity_timeout, ca_pem)) {}

  http::client::http_client_config Config(std::chrono::seconds timeout,
                                          const std::string& ca_pem) const {
    http::client::http_client_config config;
    config.set_timeout(timeout);
    config.set_validate_certificates(true);
    // By value: the callback may outlive this object inside cpprestsdk's connection pool.
    config.set_ssl_context_callback(
        [ca_pem, cert = cert_pem, key = key_pem](boost::asio::ssl::context& context) {
          ConfigureTls(context, ca_pem, cert, key);
        });
    return config;
  }

  const std::string cert_pem;
  const std::string key_pem;
  http::client::http_client requests;
  http::client::http_client watches;
};

// An open response, with what keeps its connection pool and cancellation wired up.
struct OpenResponse {
  std::shared_ptr<Connections> connections;
  http::http_response response;
  pplx::cancellation_token_source cts;
  Cancellation::Subscription subscription;
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
    // Closes the socket now instead of leaving the server streaming into an unread buffer.
    open_.cts.cancel();
  }

  ApiResult<std::optional<WatchEvent>> Next() override {
    std::uint8_t chunk[kReadChunk];
    while (true) {
      const auto newline = pending_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        return Parse(line);
      }
      scanned_ = pending_.size();
      if (pending_.size() > max_line_) {
        return TransportError(
            "BadResponse",
            request_ + ": watch event longer than " + std::to_string(max_line_) + " bytes", true);
      }
      if (eof_) {
        if (pending_.empty()) return std::optional<WatchEvent>();
        std::string line;
        line.swap(pending_);
        return Parse(line);
      }
      std::size_t n = 0;
      try {
        n = PullChunk(buffer_, chunk);
      } catch (const std::exception& e) {
        if (cancel_ != nullptr && cancel_->cancelled()) return CanceledError(request_);
        return TransportError("NetworkError", request_ + ": watch connection lost: " + e.what(),
                              true);
      }
      if (n == 0) {
        eof_ = true;
      } else {
        pending_.append(reinterpret_cast<const char*>(chunk), n);
      }
    }
  }

 private:
  ApiResult<std::optional<WatchEvent>> Parse(const std::string& line) {
    nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      return TransportError("BadResponse", request_ + ": watch line is not JSON", true);
    }
    auto type = event.find("type");
    auto object = event.find("object");
    if (type == event.end() || !type->is_string() || object == event.end() ||
        !object->is_object()) {
      return TransportError("BadResponse",
                            request_ + ": watch line lacks a string type and an object", true);
    }
    return std::optional<WatchEvent>(WatchEvent{type->get<std::string>(), std::move(*object)});
  }

  OpenResponse open_;
  BodyBuffer buffer_;
  const std::string request_;
  const Cancellation* const cancel_;
  const std::size_t max_line_;
  std::string pending_;      // bytes received but not yet returned as events
  std::size_t scanned_ = 0;  // pending_[0, scanned_) holds no newline
  bool eof_ = false;
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
        tls_server_name_(config.tls_server_name),
        credentials_(std::move(credentials)),
        bucket_(options_.qps, options_.burst, clock),
        connections_(std::make_shared<Connections>(server_, ca_pem_, config.client_certificate_pem,
                                                   config.client_key_pem, options_)) {}

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
      return TransportError("CredentialsUnavailable",
                            request + ": no credentials: " + credentials.error().message, true);
    }
    std::lock_guard lock(connections_mutex_);
    if (connections_->cert_pem != credentials->client_certificate_pem ||
        connections_->key_pem != credentials->client_key_pem) {
      try {
        connections_ =
            std::make_shared<Connections>(server_, ca_pem_, credentials->client_certificate_pem,
                                          credentials->client_key_pem, options_);
      } catch (const std::exception& e) {
        return TransportError("NetworkError", request + ": cannot set up connections: " + e.what(),
                              true);
      }
    }
    return std::make_pair(std::move(*credentials), connections_);
  }

  bool Wait(std::chrono::nanoseconds delay, const Cancellation* cancel) {
    if (delay <= std::chrono::nanoseconds(0)) return cancel == nullptr || !cancel->cancelled();
    if (cancel != nullptr) return cancel->SleepFor(delay);
    std::this_thread::sleep_for(delay);
    return true;
  }

  // Reads a whole body, refusing more than max_response_bytes. Throws on a dropped connection.
  ApiResult<std::string> ReadBody(http::http_response& response, const std::string& request) {
    BodyBuffer buffer = response.body().streambuf();
    std::string body;
    std::uint8_t chunk[kReadChunk];
    while (std::size_t n = PullChunk(buffer, chunk)) {
      body.append(reinterpret_cast<const char*>(chunk), n);
      if (body.size() > options_.max_response_bytes) {
        return TransportError("BadResponse",
                              request + ": response larger than " +
                                  std::to_string(options_.max_response_bytes) + " bytes",
                              false);
      }
    }
    return body;
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
      if (!tls_server_name_.empty()) headers.add(http::header_names::host, tls_server_name_);
      if (call.body != nullptr) {
        message.set_body(call.body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         call.content_type);
      }

      OpenResponse open;
      open.connections = current->second;
      if (cancel != nullptr) {
        auto cts = open.cts;
        open.subscription = cancel->OnCancel([cts]() mutable { cts.cancel(); });
      }
      int code = 0;
      std::string received;
      std::optional<ApiError> failure;
      try {
        auto& client = call.watch ? open.connections->watches : open.connections->requests;
        open.response = client.request(message, open.cts.get_token()).get();
        code = open.response.status_code();
        const bool success = code >= 200 && code < 300;
        if (!success || body != nullptr) {
          auto read = ReadBody(open.response, request);
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
        failure = TransportError("NetworkError", request + ": " + e.what(), true);
      }
      if (options_.observer) options_.observer(call.verb, code);
      if (!failure) {
        if (body != nullptr) *body = std::move(received);
        return open;
      }

      const ApiError& error = *failure;
      const bool can_retry = attempt < max_attempts;
      if (error.http_status == 401 && !refreshed_after_401) {
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
          can_retry && (error.http_status == 429 ||
                        (error.transient && call.idempotent && error.http_status != 401));
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
      return TransportError("BadResponse",
                            std::string(call.method) + " " + call.target + ": response is not JSON",
                            false);
    }
    return parsed;
  }

  const ApiClientOptions options_;
  const std::string server_;
  const std::string ca_pem_;
  const std::string tls_server_name_;
  const std::unique_ptr<CredentialSource> credentials_;
  TokenBucket bucket_;
  std::mutex connections_mutex_;
  std::shared_ptr<Connections> connections_;  // guarded by connections_mutex_; never null
};

}  // namespace

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
