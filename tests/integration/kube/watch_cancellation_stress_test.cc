// Watches destroyed and cancelled at random moments while a loopback TLS server floods them with
// events: the moments when cpprestsdk's I/O thread is between two TLS reads of the stream.
// Stopping a response from our thread (pplx cancellation_token_source::cancel closes the socket
// there) races with that I/O thread; the client must instead stop it on the I/O thread
// (src/kube/http_api_client.cc, IoThreadStop). Run many iterations, under TSan and ASan too
// (docs/reliability.md records the counts). KCA_WATCH_STRESS_ITERATIONS and
// KCA_WATCH_STRESS_SEED override the defaults; the seed is printed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>  // before Boost: asio/awaitable.hpp needs std::exchange under C++20

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "pki.h"

namespace kca::kube {
namespace {

namespace asio = boost::asio;

constexpr char kWatchPath[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
constexpr std::size_t kMaxBytesPerConnection = 1u << 30;  // bounds a connection nobody closes

// Iterations by default: fewer under a sanitizer (several times slower), to stay well inside
// CTest's 120 s per test on a loaded 2-core machine; KCA_WATCH_STRESS_ITERATIONS for long runs.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kDefaultIterations = 50;
#else
constexpr int kDefaultIterations = 150;
#endif

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

// Accepts TLS connections on 127.0.0.1 until Stop(); each one gets a chunked 200 and then
// bookmark events, 32 per chunk, as fast as the socket takes them, until the client hangs up
// (or kMaxBytesPerConnection). Counts connections still open.
class FloodingWatchServer {
 public:
  // `events_per_connection` > 0: that many events, then silence until the client or Stop()
  // ends the connection (an idle watch); < 0: no answer at all, only silence.
  explicit FloodingWatchServer(const emulator::KeyPair& serving, int events_per_connection = 0)
      : events_per_connection_(events_per_connection),
        context_(asio::ssl::context::tls_server),
        acceptor_(io_) {
    context_.use_certificate_chain(asio::buffer(serving.cert_pem));
    context_.use_private_key(asio::buffer(serving.key_pem), asio::ssl::context::pem);
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~FloodingWatchServer() { Stop(); }

  int port() const { return port_; }

  // Waits until every accepted connection has ended; false at the deadline.
  bool WaitUntilNoneOpen(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return open_fds_.empty(); });
  }
  // Waits until `count` requests have been read in all; false at the deadline.
  bool WaitUntilRequestsRead(int count, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return requests_read_ >= count; });
  }
  std::size_t open() {
    std::lock_guard lock(mutex_);
    return open_fds_.size();
  }
  int accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }

  // Ends the accept loop and every connection (shutdown(2) wakes their blocked calls; the fds
  // stay theirs to close), then joins all threads.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    accept_thread_.join();
    for (auto& connection : connections_) connection.thread.join();
  }

 private:
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop() {
    while (true) {
      asio::ip::tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      std::lock_guard lock(mutex_);
      if (error || stopping_) return;
      JoinEnded();
      ++accepted_;
      open_fds_.insert(socket.native_handle());
      auto& connection = connections_.emplace_back();
      connection.thread = std::thread([this, &connection, socket = std::move(socket)]() mutable {
        Flood(socket);
        std::lock_guard lock(mutex_);
        open_fds_.erase(socket.native_handle());
        boost::system::error_code ignored;
        socket.close(ignored);
        connection.done = true;
        changed_.notify_all();
      });
    }
  }

  // With mutex_ held: joins the threads of ended connections, so they do not pile up.
  void JoinEnded() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (!it->done) {
        ++it;
        continue;
      }
      it->thread.join();
      it = connections_.erase(it);
    }
  }

  void Flood(asio::ip::tcp::socket& socket) {
    boost::system::error_code error;
    asio::ssl::stream<asio::ip::tcp::socket&> tls(socket, context_);
    tls.handshake(asio::ssl::stream_base::server, error);
    if (error) return;
    asio::streambuf request;
    asio::read_until(tls, request, "\r\n\r\n", error);
    if (error) return;
    {
      std::lock_guard lock(mutex_);
      ++requests_read_;
      changed_.notify_all();
    }
    if (events_per_connection_ < 0) return WaitForHangUp(tls);
    asio::write(tls,
                asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n")),
                error);
    std::size_t sent = 0;
    const int per_chunk = events_per_connection_ > 0 ? events_per_connection_ : 32;
    for (std::uint64_t version = 1; !error && sent < kMaxBytesPerConnection;) {
      if (events_per_connection_ > 0 && version > static_cast<std::uint64_t>(per_chunk)) {
        return WaitForHangUp(tls);
      }
      std::string events;
      for (int i = 0; i < per_chunk; ++i, ++version) {
        events += R"({"type":"BOOKMARK","object":{"kind":"CertificateSigningRequest",)"
                  R"("apiVersion":"certificates.k8s.io/v1","metadata":{"resourceVersion":")" +
                  std::to_string(version) + "\"}}}\n";
      }
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", events.size());
      sent += asio::write(tls, asio::buffer(size + events + "\r\n"), error);
    }
    if (!error) asio::write(tls, asio::buffer(std::string("0\r\n\r\n")), error);
  }

  // Until the client hangs up, or Stop().
  static void WaitForHangUp(asio::ssl::stream<asio::ip::tcp::socket&>& tls) {
    boost::system::error_code error;
    char byte;
    tls.read_some(asio::buffer(&byte, 1), error);
  }

  const int events_per_connection_;
  asio::io_context io_;
  asio::ssl::context context_;
  asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;              // guarded by mutex_
  int accepted_ = 0;                   // guarded by mutex_
  int requests_read_ = 0;              // guarded by mutex_
  std::set<int> open_fds_;             // guarded by mutex_
  std::list<Connection> connections_;  // guarded by mutex_ (until Stop joins them)
};

// What a reader thread saw: how many events, and how its stream ended.
struct ReaderLog {
  std::mutex mutex;
  std::condition_variable changed;
  int events = 0;
  bool finished = false;
  std::optional<ApiError> error;  // the error that ended it (none: the stream ended cleanly)
  std::string unexpected;         // an event that was not one of the server's bookmarks
};

void ReadUntilTheEnd(WatchStream& stream, ReaderLog& log) {
  while (true) {
    auto next = stream.Next();
    std::lock_guard lock(log.mutex);
    if (!next.ok() || !next->has_value()) {
      if (!next.ok()) log.error = next.error();
      log.finished = true;
      log.changed.notify_all();
      return;
    }
    if ((*next)->type != "BOOKMARK") log.unexpected = (*next)->type;
    ++log.events;
    log.changed.notify_all();
  }
}

class WatchCancellationStressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "kca-stress-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto ca = emulator::LoadOrCreateCa(dir_);
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    auto serving = emulator::IssueCertificate(*ca, "loopback", {}, true);
    ASSERT_TRUE(serving.ok()) << serving.error().message;
    serving_ = *serving;
    server_ = std::make_unique<FloodingWatchServer>(serving_, events_per_connection_);
    KubeConfig config;
    config.server = "https://127.0.0.1:" + std::to_string(server_->port());
    config.ca_pem = ca->cert_pem;
    config.token = "t";
    ApiClientOptions options;
    options.max_attempts = 1;
    options.qps = 0;
    // Far past every wait here: only the client's own stop may close a connection in a test.
    options.request_timeout = std::chrono::seconds(600);
    options.watch_inactivity_timeout = std::chrono::seconds(600);
    auto client = NewApiClient(config, NewCredentialSource(config, RealClock::Instance()),
                               RealClock::Instance(), options);
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(*client);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  int events_per_connection_ = 0;  // set before SetUp by a test of an idle watch
  std::string dir_;
  emulator::KeyPair serving_;
  std::unique_ptr<FloodingWatchServer> server_;
  std::unique_ptr<ApiClient> client_;
};

TEST_F(WatchCancellationStressTest, WatchesDestroyedOrCancelledAtRandomMomentsEndCleanly) {
  const int iterations = EnvInt("KCA_WATCH_STRESS_ITERATIONS", kDefaultIterations);
  const unsigned seed = static_cast<unsigned>(EnvInt("KCA_WATCH_STRESS_SEED", 0)) != 0
                            ? static_cast<unsigned>(EnvInt("KCA_WATCH_STRESS_SEED", 0))
                            : std::random_device{}();
  std::printf("watch stress: %d iterations, seed %u (KCA_WATCH_STRESS_SEED)\n", iterations, seed);
  std::mt19937 random(seed);
  int destroyed = 0, cancelled_reading = 0, cancelled_opening = 0;

  for (int i = 0; i < iterations; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i) + ", seed " + std::to_string(seed));
    const int moment = static_cast<int>(random() % 3);
    const int events_first = static_cast<int>(random() % 64);
    Cancellation cancel;
    WatchOptions options;

    if (moment == 0) {
      // The stream's owner drops it mid-stream (the informer after a bad line, or at its end).
      auto stream = client_->Watch(kWatchPath, options, (random() % 2) ? &cancel : nullptr);
      ASSERT_TRUE(stream.ok()) << stream.error().message;
      for (int e = 0; e < events_first; ++e) {
        auto next = (*stream)->Next();
        ASSERT_TRUE(next.ok()) << next.error().message;
        ASSERT_TRUE(next->has_value());
      }
      stream->reset();
      ++destroyed;
      continue;
    }

    // Shutdown: another thread cancels while this reader is inside Next() (moment 1, after some
    // events) or inside Watch() or just after it (moment 2, 0-3 ms after it began).
    ReaderLog log;
    std::optional<ApiError> open_error;
    std::thread reader([&] {
      auto stream = client_->Watch(kWatchPath, options, &cancel);
      if (!stream.ok()) {
        std::lock_guard lock(log.mutex);
        open_error = stream.error();
        log.finished = true;
        log.changed.notify_all();
        return;
      }
      ReadUntilTheEnd(**stream, log);
    });
    if (moment == 1) {
      std::unique_lock lock(log.mutex);
      const bool reached = log.changed.wait_for(lock, std::chrono::seconds(30), [&] {
        return log.events >= events_first || log.finished;
      });
      EXPECT_TRUE(reached) << "the reader never got " << events_first << " events";
      ++cancelled_reading;
    } else {
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::microseconds(random() % 3000);
      while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
      ++cancelled_opening;
    }
    cancel.Cancel();
    {
      std::unique_lock lock(log.mutex);
      const bool ended =
          log.changed.wait_for(lock, std::chrono::seconds(30), [&] { return log.finished; });
      if (!ended) {
        ADD_FAILURE() << "a cancelled watch kept its reader blocked for 30 s";
        std::abort();  // the reader thread cannot be joined; stop here rather than hang
      }
    }
    reader.join();
    EXPECT_EQ(log.unexpected, "");
    const std::optional<ApiError>& error = open_error ? open_error : log.error;
    ASSERT_TRUE(error.has_value()) << "a cancelled watch ended as if the server had ended it ("
                                   << (moment == 1 ? "while reading" : "while opening")
                                   << ", after " << log.events << " events)";
    EXPECT_EQ(error->code, ApiErrorCode::kCanceled) << error->message;
  }
  std::printf("watch stress: %d destroyed, %d cancelled while reading, %d while opening\n",
              destroyed, cancelled_reading, cancelled_opening);

  // Nothing the client gave up on keeps streaming: every connection is closed by the client.
  EXPECT_TRUE(server_->WaitUntilNoneOpen(std::chrono::seconds(60)))
      << server_->open() << " of " << server_->accepted() << " connections still open";
}

class IdleWatchTest : public WatchCancellationStressTest {
 protected:
  IdleWatchTest() { events_per_connection_ = 3; }
};

// A reader blocked in Next() on a watch with nothing arriving returns kCanceled at once when
// cancelled: our thread abandons its wait and leaves the socket to cpprestsdk's I/O thread,
// which closes it (AStoppedIdleWatchClosesItsConnectionAtOnce). Stopping the server after
// that is survived too.
TEST_F(IdleWatchTest, ACancelledIdleWatchReturnsAtOnce) {
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    Cancellation cancel;
    auto stream = client_->Watch(kWatchPath, WatchOptions{}, &cancel);
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    ReaderLog log;
    std::thread reader([&] { ReadUntilTheEnd(**stream, log); });
    {
      std::unique_lock lock(log.mutex);
      ASSERT_TRUE(log.changed.wait_for(lock, std::chrono::seconds(30),
                                       [&] { return log.events == 3 || log.finished; }));
      ASSERT_FALSE(log.finished) << "the idle watch ended before it was cancelled";
    }
    cancel.Cancel();
    {
      std::unique_lock lock(log.mutex);
      if (!log.changed.wait_for(lock, std::chrono::seconds(30), [&] { return log.finished; })) {
        ADD_FAILURE() << "a cancelled idle watch kept its reader blocked for 30 s";
        std::abort();
      }
    }
    reader.join();
    ASSERT_TRUE(log.error.has_value());
    EXPECT_EQ(log.error->code, ApiErrorCode::kCanceled) << log.error->message;
    stream->reset();
  }
  EXPECT_EQ(server_->accepted(), 20);
  server_->Stop();
  EXPECT_EQ(server_->open(), 0u);
}

// A stopped watch on which nothing arrives closes its connection at once, not when the server
// next speaks or the inactivity timeout (600 s here) fires: cpprestsdk's one I/O thread closes
// it (src/kube/http_api_client.cc, IoThreadStop). The server sees each connection end while the
// stream still exists (cancelled) or right after it is dropped (never cancelled).
TEST_F(IdleWatchTest, AStoppedIdleWatchClosesItsConnectionAtOnce) {
  ASSERT_TRUE(StartHttpIoThread()) << "cpprestsdk's pool was started before the client";
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    const bool cancelled = i % 2 == 0;
    Cancellation cancel;
    auto stream = client_->Watch(kWatchPath, WatchOptions{}, cancelled ? &cancel : nullptr);
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    if (cancelled) {
      ReaderLog log;
      std::thread reader([&] { ReadUntilTheEnd(**stream, log); });
      bool idle = false;
      {
        std::unique_lock lock(log.mutex);
        idle = log.changed.wait_for(lock, std::chrono::seconds(30), [&] {
          return log.events == 3 || log.finished;
        }) && !log.finished;
      }
      cancel.Cancel();
      reader.join();  // at once: ACancelledIdleWatchReturnsAtOnce
      ASSERT_TRUE(idle) << "the watch never reached its 3 events, or ended first";
      ASSERT_TRUE(log.error.has_value());
      EXPECT_EQ(log.error->code, ApiErrorCode::kCanceled) << log.error->message;
    } else {
      for (int e = 0; e < 3; ++e) {
        auto next = (*stream)->Next();
        ASSERT_TRUE(next.ok() && next->has_value());
      }
      stream->reset();
    }
    ASSERT_TRUE(server_->WaitUntilNoneOpen(std::chrono::seconds(30)))
        << (cancelled ? "a cancelled" : "a dropped") << " idle watch kept its connection open";
  }
  EXPECT_EQ(server_->accepted(), 10);
}

class SilentServerTest : public WatchCancellationStressTest {
 protected:
  SilentServerTest() { events_per_connection_ = -1; }
};

// A request cancelled while it waits for an answer that never comes closes its connection at
// once, rather than at the request timeout (600 s here).
TEST_F(SilentServerTest, ARequestCancelledAwaitingItsAnswerClosesItsConnectionAtOnce) {
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    Cancellation cancel;
    std::optional<ApiError> error;
    std::thread caller([&] {
      if (i % 2 == 0) {
        auto got = client_->Get(kWatchPath, &cancel);
        if (!got.ok()) error = got.error();
      } else {
        auto watch = client_->Watch(kWatchPath, WatchOptions{}, &cancel);
        if (!watch.ok()) error = watch.error();
      }
    });
    const bool read = server_->WaitUntilRequestsRead(i + 1, std::chrono::seconds(30));
    cancel.Cancel();
    caller.join();
    ASSERT_TRUE(read) << "the request never reached the server";
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code, ApiErrorCode::kCanceled) << error->message;
    ASSERT_TRUE(server_->WaitUntilNoneOpen(std::chrono::seconds(30)))
        << "a request cancelled before its answer kept its connection open";
  }
}

}  // namespace
}  // namespace kca::kube
