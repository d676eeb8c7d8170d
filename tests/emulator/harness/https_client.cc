#include "https_client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <sstream>
#include <utility>  // before Boost: Asio 1.74 uses std::exchange without including it

namespace kca::emulator {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Base64Decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '+')
      d = 62;
    else if (c == '/')
      d = 63;
    else
      continue;
    val = (val << 6) + d;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::string KubeconfigField(const std::string& kubeconfig, const std::string& field) {
  size_t pos = kubeconfig.find(field + ": ");
  if (pos == std::string::npos) return "";
  pos += field.size() + 2;
  return kubeconfig.substr(pos, kubeconfig.find('\n', pos) - pos);
}

}  // namespace

Result<Credentials> Credentials::FromDataDir(const std::string& data_dir,
                                             const std::string& identity) {
  Credentials c;
  c.ca_pem = ReadFile(data_dir + "/ca.crt");
  if (c.ca_pem.empty()) return Error{"no CA in " + data_dir + "/ca.crt"};
  if (identity == "approver") {
    c.token = ReadFile(data_dir + "/serviceaccount/token");
  } else if (identity == "admin" || identity == "user" || identity == "alice") {
    std::string kc =
        ReadFile(data_dir + "/" + (identity == "admin" ? "admin" : "user") + ".kubeconfig");
    c.cert_pem = Base64Decode(KubeconfigField(kc, "client-certificate-data"));
    c.key_pem = Base64Decode(KubeconfigField(kc, "client-key-data"));
    if (c.cert_pem.empty()) return Error{"no client certificate for " + identity};
  } else if (identity != "anonymous") {
    return Error{"unknown identity " + identity};
  }
  return c;
}

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

nlohmann::json HttpResponse::Json() const { return nlohmann::json::parse(body, nullptr, false); }

class HttpsClient::Impl {
 public:
  Impl(std::string host, uint16_t port, Credentials credentials)
      : host_(std::move(host)), port_(port), tls_(ssl::context::tls_client) {
    tls_.add_certificate_authority(net::buffer(credentials.ca_pem));
    tls_.set_verify_mode(ssl::verify_peer);
    if (!credentials.cert_pem.empty()) {
      tls_.use_certificate_chain(net::buffer(credentials.cert_pem));
      tls_.use_private_key(net::buffer(credentials.key_pem), ssl::context::pem);
    }
    token_ = credentials.token;
  }

  using Stream = ssl::stream<tcp::socket>;

  // Runs queued async work until `done` or the deadline; on timeout closes the socket.
  bool RunUntil(const bool& done, std::chrono::milliseconds timeout, Stream* stream) {
    io_.restart();
    io_.run_for(timeout);
    if (done) return true;
    boost::system::error_code ec;
    stream->lowest_layer().close(ec);
    io_.restart();
    io_.run();
    return false;
  }

  Result<std::unique_ptr<Stream>> Connect(std::chrono::milliseconds timeout) {
    auto stream = std::make_unique<Stream>(io_, tls_);
    boost::system::error_code ec;
    bool done = false;
    tcp::endpoint endpoint(net::ip::make_address(host_), port_);
    stream->lowest_layer().async_connect(endpoint, [&](boost::system::error_code e) {
      ec = e;
      if (e) {
        done = true;
        return;
      }
      stream->async_handshake(ssl::stream_base::client, [&](boost::system::error_code e2) {
        ec = e2;
        done = true;
      });
    });
    if (!RunUntil(done, timeout, stream.get())) return Error{"timeout"};
    if (ec) return Error{"connect: " + ec.message()};
    stream->lowest_layer().set_option(tcp::no_delay(true));
    return stream;
  }

  http::request<http::string_body> MakeRequest(
      const std::string& method, const std::string& target, const std::string& body,
      const std::vector<std::pair<std::string, std::string>>& headers) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_ + ":" + std::to_string(port_));
    req.set(http::field::accept, "application/json");
    bool has_content_type = false;
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), "content-type") == 0) has_content_type = true;
      req.set(k, v);
    }
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) {
      if (!has_content_type) req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  template <typename Body>
  static HttpResponse Convert(const http::response<Body>& res) {
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return out;
  }

  Result<HttpResponse> Request(const std::string& method, const std::string& target,
                               const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               std::chrono::milliseconds timeout) {
    // One retry on a fresh connection when a kept-alive one turns out to be closed.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fresh = false;
      if (!conn_) {
        Result<std::unique_ptr<Stream>> c = Connect(timeout);
        if (!c.ok()) return c.error();
        conn_ = std::move(*c);
        buffer_.clear();
        fresh = true;
      }
      auto req = MakeRequest(method, target, body, headers);
      http::response<http::string_body> res;
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      boost::system::error_code ec;
      bool done = false;
      http::async_write(*conn_, req, [&](boost::system::error_code e, size_t) {
        if (e) {
          ec = e;
          done = true;
          return;
        }
        http::async_read(*conn_, buffer_, parser, [&](boost::system::error_code e2, size_t) {
          ec = e2;
          done = true;
        });
      });
      if (!RunUntil(done, timeout, conn_.get())) {
        conn_.reset();
        return Error{"timeout"};
      }
      if (ec) {
        conn_.reset();
        if (!fresh) continue;
        return Error{method + " " + target + ": " + ec.message()};
      }
      res = parser.release();
      HttpResponse out = Convert(res);
      out.body = std::move(res.body());
      if (!res.keep_alive()) conn_.reset();
      return out;
    }
    return Error{"connection closed"};
  }

  Result<HttpResponse> StartWatch(const std::string& target, std::chrono::milliseconds timeout) {
    Result<std::unique_ptr<Stream>> c = Connect(timeout);
    if (!c.ok()) return c.error();
    watch_ = std::move(*c);
    watch_buffer_.clear();
    pending_.clear();
    watch_parser_ = std::make_unique<http::response_parser<http::string_body>>();
    watch_parser_->body_limit(std::uint64_t{1} << 40);  // a watch body has no natural end
    watch_req_ = MakeRequest("GET", target, "", {});
    boost::system::error_code ec;
    bool done = false;
    http::async_write(*watch_, watch_req_, [&](boost::system::error_code e, size_t) {
      if (e) {
        ec = e;
        done = true;
        return;
      }
      http::async_read_header(*watch_, watch_buffer_, *watch_parser_,
                              [&](boost::system::error_code e2, size_t) {
                                ec = e2;
                                done = true;
                              });
    });
    if (!RunUntil(done, timeout, watch_.get())) return Error{"timeout"};
    if (ec) return Error{"watch: " + ec.message()};
    HttpResponse out = Convert(watch_parser_->get());
    if (out.status != 200) {
      // Errors come as a complete (non-streamed) Status body.
      done = false;
      http::async_read(*watch_, watch_buffer_, *watch_parser_,
                       [&](boost::system::error_code e, size_t) {
                         ec = e;
                         done = true;
                       });
      RunUntil(done, timeout, watch_.get());
      out.body = watch_parser_->get().body();
    }
    return out;
  }

  Result<std::string> NextLine(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      if (!watch_ || !watch_parser_) return Error{"no watch"};
      if (watch_parser_->is_done()) return Error{"eof"};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Error{"timeout"};
      boost::system::error_code ec;
      bool done = false;
      http::async_read_some(*watch_, watch_buffer_, *watch_parser_,
                            [&](boost::system::error_code e, size_t) {
                              ec = e;
                              done = true;
                            });
      if (!RunUntil(done, left, watch_.get())) {
        watch_.reset();
        return Error{"timeout"};
      }
      pending_ += watch_parser_->get().body();
      watch_parser_->get().body().clear();
      if (ec) {
        if (pending_.find('\n') != std::string::npos) continue;
        if (ec == http::error::end_of_stream) return Error{"eof"};
        return Error{"broken: " + ec.message()};
      }
    }
  }

 private:
  std::string host_;
  uint16_t port_;
  std::string token_;
  net::io_context io_;
  ssl::context tls_;
  std::unique_ptr<Stream> conn_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<Stream> watch_;
  boost::beast::flat_buffer watch_buffer_;
  std::unique_ptr<http::response_parser<http::string_body>> watch_parser_;
  http::request<http::string_body> watch_req_;
  std::string pending_;
};

HttpsClient::HttpsClient(std::string host, uint16_t port, Credentials credentials)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(credentials))) {}
HttpsClient::~HttpsClient() = default;

Result<HttpResponse> HttpsClient::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
  return impl_->Request(method, target, body, headers, timeout);
}

Result<HttpResponse> HttpsClient::StartWatch(const std::string& target,
                                             std::chrono::milliseconds timeout) {
  return impl_->StartWatch(target, timeout);
}

Result<std::string> HttpsClient::NextLine(std::chrono::milliseconds timeout) {
  return impl_->NextLine(timeout);
}

}  // namespace kca::emulator
