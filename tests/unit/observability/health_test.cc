#include "kube_csr_approver/observability/health.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_clock.h"

namespace kca {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

using testing::FakeClock;

TEST(HealthStateTest, ReadyOnlyWithPolicyAndSync) {
  FakeClock clock;
  HealthState health(clock, minutes(2));
  EXPECT_EQ(health.Readiness().status, 503);
  EXPECT_EQ(health.Readiness().body, "policy not loaded");
  health.SetPolicyLoaded(true);
  EXPECT_EQ(health.Readiness().body, "initial CSR list not synced yet");
  health.SetSynced(true);
  EXPECT_EQ(health.Readiness().status, 200);
}

TEST(HealthStateTest, AnIdleLoopStaysAlive) {
  FakeClock clock;
  HealthState health(clock, minutes(2));
  clock.Advance(std::chrono::hours(5));
  EXPECT_EQ(health.Liveness().status, 200);
  // Work appearing after a long idle time starts the clock afresh.
  health.RecordBacklog(3);
  clock.Advance(seconds(30));
  EXPECT_EQ(health.Liveness().status, 200);
}

TEST(HealthStateTest, WaitingWorkWithoutProgressIsStuck) {
  FakeClock clock;
  HealthState health(clock, minutes(2));
  health.RecordBacklog(4);
  clock.Advance(seconds(119));
  EXPECT_EQ(health.Liveness().status, 200);
  clock.Advance(seconds(2));
  const ProbeResult stuck = health.Liveness();
  EXPECT_EQ(stuck.status, 500);
  EXPECT_EQ(stuck.body, "work loop stuck: 4 CSRs waiting, no progress for 121 s");
  health.RecordProgress(3);
  EXPECT_EQ(health.Liveness().status, 200);
  health.RecordProgress(0);
  clock.Advance(minutes(10));
  EXPECT_EQ(health.Liveness().status, 200);
}

// A minimal HTTP/1.1 GET over a loopback socket: status code and body.
std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return {-1, ""};
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<size_t>(n));
  close(fd);
  const auto space = response.find(' ');
  const auto body = response.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) return {-1, response};
  return {std::stoi(response.substr(space + 1, 3)), response.substr(body + 4)};
}

TEST(ProbeServerTest, AnswersTheRegisteredRoutesOnly) {
  FakeClock clock;
  HealthState health(clock, minutes(2));
  auto server = ProbeServer::Start("127.0.0.1:0", HealthRoutes(health));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  EXPECT_EQ(HttpGet(port, "/healthz"), std::make_pair(200, std::string("ok\n")));
  EXPECT_EQ(HttpGet(port, "/readyz"), std::make_pair(503, std::string("policy not loaded\n")));
  health.SetPolicyLoaded(true);
  health.SetSynced(true);
  EXPECT_EQ(HttpGet(port, "/readyz"), std::make_pair(200, std::string("ok\n")));
  EXPECT_EQ(HttpGet(port, "/healthz/extra").first, 404);
  EXPECT_EQ(HttpGet(port, "/metrics").first, 404);
}

TEST(ProbeServerTest, RefusesBadOrBusyAddresses) {
  FakeClock clock;
  HealthState health(clock, minutes(2));
  for (const char* bad : {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ""}) {
    auto server = ProbeServer::Start(bad, HealthRoutes(health));
    ASSERT_FALSE(server.ok()) << bad;
    EXPECT_NE(server.error().message.find("must be HOST:PORT"), std::string::npos)
        << server.error().message;
  }
  auto first = ProbeServer::Start("127.0.0.1:0", HealthRoutes(health));
  ASSERT_TRUE(first.ok());
  auto second =
      ProbeServer::Start("127.0.0.1:" + std::to_string((*first)->port()), HealthRoutes(health));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos)
      << second.error().message;
}

// An informer that cannot list or watch for longer than the bound makes the replica unready
// (before: /readyz stayed green while the informer re-watched a dead resourceVersion for ever).
TEST(HealthStateTest, UnreadyWhileTheInformerIsOutOfTouchForLongerThanTheBound) {
  FakeClock clock;
  HealthState health(clock, minutes(2), seconds(120));
  health.SetPolicyLoaded(true);
  health.SetSynced(true);
  health.RecordSyncState(false);
  clock.Advance(seconds(100));
  health.RecordSyncState(false);  // a later failure does not restart the clock
  clock.Advance(seconds(20));
  EXPECT_EQ(health.Readiness().status, 200);
  clock.Advance(seconds(1));
  const ProbeResult unready = health.Readiness();
  EXPECT_EQ(unready.status, 503);
  EXPECT_NE(unready.body.find("out of touch with the API server for 121 s"), std::string::npos)
      << unready.body;
  health.RecordSyncState(true);
  EXPECT_EQ(health.Readiness().status, 200);
  // A new outage starts from zero.
  health.RecordSyncState(false);
  clock.Advance(seconds(60));
  EXPECT_EQ(health.Readiness().status, 200);
}

}  // namespace
}  // namespace kca
