// The real HTTP client against a one-connection TLS server on 127.0.0.1 that this test controls
// byte by byte: what it received (Host header, SNI) and how much of a huge body it could send
// before the client hung up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>  // before Boost: asio/awaitable.hpp needs std::exchange under C++20

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/default_trust.h"
#include "pki.h"

namespace kca::kube {
namespace {

namespace asio = boost::asio;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Accepts one TLS connection (within 20 s), reads the request head, answers `head` and then
// either `body` or `flood_bytes` bytes of JSON-ish filler, counting what the socket accepted.
class LoopbackTlsServer {
 public:
  explicit LoopbackTlsServer(const emulator::KeyPair& serving)
      : context_(asio::ssl::context::tls_server), acceptor_(io_) {
    context_.use_certificate_chain(asio::buffer(serving.cert_pem));
    context_.use_private_key(asio::buffer(serving.key_pem), asio::ssl::context::pem);
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    acceptor_.non_blocking(true);
  }
  ~LoopbackTlsServer() {
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return acceptor_.local_endpoint().port(); }

  void Serve(std::string head, std::string body, std::size_t flood_bytes = 0) {
    thread_ = std::thread([this, head = std::move(head), body = std::move(body), flood_bytes] {
      asio::ip::tcp::socket socket(io_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      boost::system::error_code error;
      while (true) {
        acceptor_.accept(socket, error);
        if (error != asio::error::would_block || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (error) return;
      socket.non_blocking(false);
      asio::ssl::stream<asio::ip::tcp::socket&> tls(socket, context_);
      tls.handshake(asio::ssl::stream_base::server, error);
      if (const char* name = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
        std::lock_guard lock(mutex_);
        sni_ = name;
      }
      if (error) return;
      asio::streambuf request;
      asio::read_until(tls, request, "\r\n\r\n", error);
      if (error) return;
      const std::string text(asio::buffers_begin(request.data()),
                             asio::buffers_end(request.data()));
      {
        std::lock_guard lock(mutex_);
        host_ = HeaderValue(text, "host");
      }
      asio::write(tls, asio::buffer(head), error);
      asio::write(tls, asio::buffer(body), error);
      const std::string filler(64 << 10, ' ');
      while (!error && sent_ < flood_bytes) {
        sent_ += asio::write(tls, asio::buffer(filler), error);
      }
      socket.close(error);
    });
  }
  void Join() { thread_.join(); }

  std::string host() {
    std::lock_guard lock(mutex_);
    return host_;
  }
  std::string sni() {
    std::lock_guard lock(mutex_);
    return sni_;
  }
  std::size_t flooded() const { return sent_; }

 private:
  static std::string HeaderValue(const std::string& head, const std::string& name) {
    std::size_t at = 0;
    while ((at = head.find("\r\n", at)) != std::string::npos) {
      at += 2;
      const auto colon = head.find(':', at);
      const auto end = head.find("\r\n", at);
      if (colon == std::string::npos || end == std::string::npos || colon > end) continue;
      std::string key = head.substr(at, colon - at);
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (key != name) continue;
      std::string value = head.substr(colon + 1, end - colon - 1);
      value.erase(0, value.find_first_not_of(' '));
      return value;
    }
    return "";
  }

  asio::io_context io_;
  asio::ssl::context context_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mutex_;
  std::string host_;  // guarded by mutex_
  std::string sni_;   // guarded by mutex_
  std::atomic<std::size_t> sent_{0};
};

class LoopbackTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "kca-tls-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto ca = emulator::LoadOrCreateCa(dir_);
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    ca_ = *ca;
    // SANs 127.0.0.1, ::1 and localhost, like the emulator's.
    auto serving = emulator::IssueCertificate(ca_, "loopback", {}, true);
    ASSERT_TRUE(serving.ok()) << serving.error().message;
    server_ = std::make_unique<LoopbackTlsServer>(*serving);
  }
  void TearDown() override {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<ApiClient> Client(const std::string& tls_server_name,
                                    ApiClientOptions options = {}, std::string ca_pem = "") {
    config_.server = "https://127.0.0.1:" + std::to_string(server_->port());
    config_.ca_pem = ca_pem.empty() ? ca_.cert_pem : ca_pem;
    config_.tls_server_name = tls_server_name;
    config_.token = "t";
    options.max_attempts = 1;
    auto client = NewApiClient(config_, NewCredentialSource(config_, RealClock::Instance()),
                               RealClock::Instance(), options);
    EXPECT_TRUE(client.ok()) << client.error().message;
    return client.ok() ? std::move(*client) : nullptr;
  }

  static constexpr char kJsonHead[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n";

  std::string dir_;
  emulator::KeyPair ca_;
  KubeConfig config_;
  std::unique_ptr<LoopbackTlsServer> server_;
};

// client-go (transport.TLSConfigFor) puts tls-server-name in tls.Config.ServerName: SNI and
// the name verified, never the Host header.
TEST_F(LoopbackTlsTest, TlsServerNameSetsSniAndTheVerifiedNameButNotTheHostHeader) {
  server_->Serve(kJsonHead, "{}");
  auto result = Client("localhost")->Get("/api");
  server_->Join();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(server_->host(), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(server_->sni(), "localhost");
}

TEST_F(LoopbackTlsTest, AWrongTlsServerNameFailsVerificationNamingHostAndName) {
  server_->Serve(kJsonHead, "{}");
  auto result = Client("kubernetes.default.svc")->Get("/api");
  server_->Join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ApiErrorCode::kTlsVerifyFailed);
  EXPECT_THAT(result.error().message,
              HasSubstr("TLS handshake with 127.0.0.1:" + std::to_string(server_->port()) +
                        " failed: x509: certificate is not valid for kubernetes.default.svc"));
  EXPECT_EQ(server_->sni(), "kubernetes.default.svc");
}

TEST_F(LoopbackTlsTest, AnUnknownAuthorityIsNamedAsSuch) {
  std::filesystem::create_directories(dir_ + "/other");
  auto other_ca = emulator::LoadOrCreateCa(dir_ + "/other");
  ASSERT_TRUE(other_ca.ok());
  server_->Serve(kJsonHead, "{}");
  auto result = Client("", {}, other_ca->cert_pem)->Get("/api");
  server_->Join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ApiErrorCode::kTlsVerifyFailed);
  EXPECT_THAT(result.error().message, HasSubstr("x509: certificate signed by unknown authority"));
}

// run() defers OpenSSL's default CA-file load (default_trust.h): a server without a configured CA
// is still verified against that file, which the client then loads itself, and a child process
// gets SSL_CERT_FILE back. (ctest runs each test in a process of its own.)
TEST_F(LoopbackTlsTest, WithoutAConfiguredCaTheDeferredDefaultCaFileIsTrusted) {
  const std::string bundle = dir_ + "/bundle.pem";
  std::ofstream(bundle) << ca_.cert_pem;
  ASSERT_EQ(::setenv("SSL_CERT_FILE", bundle.c_str(), 1), 0);
  DeferDefaultTrustStore();
  EXPECT_EQ(DeferredDefaultCaFile(), bundle);
  EXPECT_STREQ(std::getenv("SSL_CERT_FILE"), "/dev/null");
  std::vector<std::string> child = {"SSL_CERT_FILE=/dev/null", "PATH=/bin"};
  RestoreTrustEnvironment(child);
  EXPECT_THAT(child, ElementsAre("PATH=/bin", "SSL_CERT_FILE=" + bundle));

  server_->Serve(kJsonHead, "{}");
  config_.server = "https://127.0.0.1:" + std::to_string(server_->port());
  config_.ca_pem.clear();
  config_.token = "t";
  ApiClientOptions options;
  options.max_attempts = 1;
  auto client = NewApiClient(config_, NewCredentialSource(config_, RealClock::Instance()),
                             RealClock::Instance(), options);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto result = (*client)->Get("/api");
  server_->Join();
  EXPECT_TRUE(result.ok()) << result.error().message;
}

// A body past max_response_bytes cancels the response: the connection closes, so neither the
// client's buffer nor what the server can push grows with what the server sends.
TEST_F(LoopbackTlsTest, ABodyPastTheCapClosesTheConnection) {
  constexpr std::size_t kFlood = 256u << 20;
  server_->Serve("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
                 "", kFlood);
  ApiClientOptions options;
  options.max_response_bytes = 1u << 20;
  auto result = Client("", options)->Get("/api");
  server_->Join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ApiErrorCode::kResponseTooLarge);
  EXPECT_THAT(result.error().message, HasSubstr("response larger than 1048576 bytes"));
  EXPECT_LT(server_->flooded(), 32u << 20) << "the server could push the body into our buffer";
}

TEST_F(LoopbackTlsTest, AnAnnouncedOversizedBodyIsRefusedBeforeReadingIt) {
  server_->Serve("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(256u << 20) + "\r\n\r\n",
                 "", 256u << 20);
  ApiClientOptions options;
  options.max_response_bytes = 1u << 20;
  auto result = Client("", options)->Get("/api");
  server_->Join();
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("response larger than"));
  EXPECT_LT(server_->flooded(), 32u << 20);
}

// A redirect is reported, not followed: cpprestsdk would otherwise send the request again, with
// its Authorization header, to wherever Location points (here a port where nothing listens, so a
// followed redirect shows up as a refused connection to it).
TEST_F(LoopbackTlsTest, ARedirectIsAnErrorAndIsNotFollowed) {
  int elsewhere_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    elsewhere_port = closed.local_endpoint().port();
  }  // nothing listens there any more
  server_->Serve("HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:" +
                     std::to_string(elsewhere_port) + "/stolen\r\nContent-Length: 0\r\n\r\n",
                 "");
  auto result = Client("")->Get("/api");
  server_->Join();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().code, ApiErrorCode::kConnectionFailed) << result.error().message;
  EXPECT_THAT(result.error().message, HasSubstr("302"));
}

TEST_F(LoopbackTlsTest, ConnectionRefusedNamesTheAddress) {
  const int port = server_->port();
  server_.reset();  // nothing listens there any more
  config_.server = "https://127.0.0.1:" + std::to_string(port);
  config_.ca_pem = ca_.cert_pem;
  ApiClientOptions options;
  options.max_attempts = 1;
  auto client = NewApiClient(config_, NewCredentialSource(config_, RealClock::Instance()),
                             RealClock::Instance(), options);
  ASSERT_TRUE(client.ok());
  auto result = (*client)->Get("/api");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ApiErrorCode::kConnectionFailed);
  EXPECT_THAT(result.error().message,
              HasSubstr("connection refused to 127.0.0.1:" + std::to_string(port)));
}

}  // namespace
}  // namespace kca::kube
