#include "kube_csr_approver/kube/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "exec_plugin.h"
#include "fake_clock.h"
#include "fake_files.h"
#include "temp_dir.h"

namespace kca::kube {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

// Polls `condition` (real time) until it holds or 20 s have passed.
template <typename Condition>
bool WaitFor(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(CredentialSourceTest, StaticTokenAndCertificate) {
  testing::FakeClock clock;
  KubeConfig config;
  config.token = "abc";
  config.client_certificate_pem = "CERT";
  config.client_key_pem = "KEY";
  auto source = NewCredentialSource(config, clock);
  auto credentials = source->Current();
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->bearer_token, "abc");
  EXPECT_EQ(credentials->client_certificate_pem, "CERT");
  EXPECT_EQ(credentials->client_key_pem, "KEY");
  source->Invalidate();
  EXPECT_EQ(source->Current()->bearer_token, "abc");
}

class TokenFileTest : public ::testing::Test {
 protected:
  std::unique_ptr<CredentialSource> Source() {
    KubeConfig config;
    config.token = "static-loses";
    config.token_file = dir_.path() + "/token";
    return NewCredentialSource(config, clock_);
  }
  testing::FakeClock clock_;
  testing::TempDir dir_;
};

TEST_F(TokenFileTest, RereadsAfterTheRefreshPeriod) {
  dir_.Write("token", "first\n");
  auto source = Source();
  EXPECT_EQ(source->Current()->bearer_token, "first");
  dir_.Write("token", "second");
  clock_.Advance(seconds(59));
  EXPECT_EQ(source->Current()->bearer_token, "first");
  clock_.Advance(seconds(1));
  EXPECT_EQ(source->Current()->bearer_token, "second");
}

TEST_F(TokenFileTest, RereadsAtOnceAfterInvalidate) {
  dir_.Write("token", "first");
  auto source = Source();
  EXPECT_EQ(source->Current()->bearer_token, "first");
  dir_.Write("token", "rotated");
  source->Invalidate();
  EXPECT_EQ(source->Current()->bearer_token, "rotated");
}

TEST_F(TokenFileTest, KeepsTheLastGoodTokenWhenTheFileBreaks) {
  dir_.Write("token", "good");
  auto source = Source();
  EXPECT_EQ(source->Current()->bearer_token, "good");
  dir_.Write("token", "  \n");
  clock_.Advance(seconds(61));
  EXPECT_EQ(source->Current()->bearer_token, "good");
  dir_.Write("token", "better");
  source->Invalidate();
  EXPECT_EQ(source->Current()->bearer_token, "better");
}

TEST_F(TokenFileTest, ErrorWhenNeverReadable) {
  auto source = Source();
  auto credentials = source->Current();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.error().message, HasSubstr(dir_.path() + "/token"));
}

class ExecPluginTest : public ::testing::Test {
 protected:
  // A plugin script that prints the ExecCredential in `body` (a shell here-document) and counts
  // its runs in a file, so tests see when it was re-run.
  KubeConfig Config(const std::string& script_body) {
    const std::string script = dir_.Write(
        "plugin.sh", "#!/bin/sh\necho run >> \"" + dir_.path() + "/runs\"\n" + script_body, true);
    KubeConfig config;
    config.server = "https://cluster.example:6443";
    config.ca_pem = "CA";
    config.exec = ExecPluginConfig{};
    config.exec->api_version = "client.authentication.k8s.io/v1";
    config.exec->command = script;
    return config;
  }
  int Runs() {
    std::ifstream in(dir_.path() + "/runs");
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }
  static std::string Credential(const std::string& status) {
    return "cat <<'EOF'\n{\"apiVersion\":\"client.authentication.k8s.io/v1\","
           "\"kind\":\"ExecCredential\",\"status\":" +
           status + "}\nEOF\n";
  }
  testing::FakeClock clock_;
  testing::TempDir dir_;
};

TEST_F(ExecPluginTest, CachesTheTokenUntilShortlyBeforeExpiry) {
  clock_.SetWall(*ParseRfc3339("2030-01-01T00:00:00Z"));
  auto source = NewCredentialSource(
      Config(Credential(R"({"token":"exec-token","expirationTimestamp":"2030-01-01T00:05:00Z"})")),
      clock_);
  auto first = source->Current();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->bearer_token, "exec-token");
  clock_.Advance(seconds(240));
  EXPECT_TRUE(source->Current().ok());
  EXPECT_EQ(Runs(), 1);
  clock_.Advance(seconds(55));  // within the 10 s margin before expiry
  EXPECT_TRUE(source->Current().ok());
  EXPECT_TRUE(WaitFor([&] { return Runs() == 2; })) << "refreshed in the background";
}

// A refresh due by the margin runs while readers keep getting the still-valid credential: a
// slow plugin (here: one that waits for the test's go-ahead) must not hold up requests.
TEST_F(ExecPluginTest, ASlowRefreshDoesNotBlockReadersWhileTheCredentialIsValid) {
  clock_.SetWall(*ParseRfc3339("2030-01-01T00:00:00Z"));
  dir_.Write("first",
             R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
             R"("status":{"token":"first","expirationTimestamp":"2030-01-01T00:05:00Z"}})");
  dir_.Write("second",
             R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
             R"("status":{"token":"second","expirationTimestamp":"2030-01-01T01:00:00Z"}})");
  const std::string d = dir_.path();
  CredentialOptions options;
  options.exec_timeout = std::chrono::milliseconds(20000);
  auto source =
      NewCredentialSource(Config("if [ \"$(wc -l < " + d +
                                 "/runs)\" -gt 1 ]; then\n"
                                 "  i=0; while [ ! -e " +
                                 d +
                                 "/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
                                 "  cat " +
                                 d + "/second\nelse cat " + d + "/first; fi\n"),
                          clock_, options);
  ASSERT_EQ(source->Current()->bearer_token, "first");
  clock_.Advance(seconds(295));  // 5 s before expiry: a refresh is due
  for (int i = 0; i < 3; ++i) {
    auto current = source->Current();
    ASSERT_TRUE(current.ok()) << current.error().message;
    EXPECT_EQ(current->bearer_token, "first") << "served from the cache while the plugin runs";
  }
  EXPECT_TRUE(WaitFor([&] { return Runs() == 2; })) << "the refresh started";
  dir_.Write("go", "");
  EXPECT_TRUE(WaitFor([&] { return source->Current()->bearer_token == "second"; }));
  EXPECT_EQ(Runs(), 2) << "one refresh, however many readers asked meanwhile";
}

TEST_F(ExecPluginTest, WaitsForThePluginWhenTheCachedCredentialExpired) {
  clock_.SetWall(*ParseRfc3339("2030-01-01T00:00:00Z"));
  auto source = NewCredentialSource(
      Config(Credential(R"({"token":"t","expirationTimestamp":"2030-01-01T00:05:00Z"})")), clock_);
  ASSERT_TRUE(source->Current().ok());
  clock_.Advance(seconds(400));  // expired: nothing usable, so the caller waits for the run
  ASSERT_TRUE(source->Current().ok());
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, RerunsAfterInvalidate) {
  auto source = NewCredentialSource(Config(Credential(R"({"token":"no-expiry"})")), clock_);
  EXPECT_TRUE(source->Current().ok());
  EXPECT_TRUE(source->Current().ok());
  EXPECT_EQ(Runs(), 1);
  source->Invalidate();
  EXPECT_TRUE(source->Current().ok());
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, ReturnsClientCertificates) {
  auto source = NewCredentialSource(
      Config(Credential(R"({"clientCertificateData":"CERT PEM","clientKeyData":"KEY PEM"})")),
      clock_);
  auto credentials = source->Current();
  ASSERT_TRUE(credentials.ok()) << credentials.error().message;
  EXPECT_EQ(credentials->bearer_token, "");
  EXPECT_EQ(credentials->client_certificate_pem, "CERT PEM");
  EXPECT_EQ(credentials->client_key_pem, "KEY PEM");
}

TEST_F(ExecPluginTest, PassesArgsEnvAndClusterInfo) {
  KubeConfig config = Config(
      "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"%s|%s|%s\"}}' \"$1\" \"$REGION\" "
      "\"$(echo \"$KUBERNETES_EXEC_INFO\" | grep -c cluster.example)\"\n");
  config.exec->args = {"first arg"};
  config.exec->env = {{"REGION", "eu-1"}};
  config.exec->provide_cluster_info = true;
  auto credentials = NewCredentialSource(config, clock_)->Current();
  ASSERT_TRUE(credentials.ok()) << credentials.error().message;
  EXPECT_EQ(credentials->bearer_token, "first arg|eu-1|1");
}

TEST_F(ExecPluginTest, ReportsFailureWithStderr) {
  auto credentials =
      NewCredentialSource(Config("echo 'please log in' >&2\nexit 3\n"), clock_)->Current();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.error().message, HasSubstr("exited with status 3: please log in"));
}

TEST_F(ExecPluginTest, KillsAHangingPlugin) {
  CredentialOptions options;
  options.exec_timeout = std::chrono::milliseconds(200);
  auto credentials = NewCredentialSource(Config("exec sleep 30\n"), clock_, options)->Current();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.error().message, HasSubstr("no answer within 200 ms"));
}

TEST_F(ExecPluginTest, ReportsAMissingCommandWithTheInstallHint) {
  KubeConfig config = Config("");
  config.exec->command = dir_.path() + "/does-not-exist";
  config.exec->install_hint = "install the widget";
  auto credentials = NewCredentialSource(config, clock_)->Current();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.error().message, HasSubstr("cannot start"));
  EXPECT_THAT(credentials.error().message, HasSubstr("install the widget"));
}

TEST(ParseExecCredentialTest, RefusesMalformedOutput) {
  const std::string v1 = "client.authentication.k8s.io/v1";
  auto error_of = [&](const std::string& text) {
    auto parsed = ParseExecCredential(text, v1);
    return parsed.ok() ? std::string("<ok>") : parsed.error().message;
  };
  EXPECT_THAT(error_of("not json"), HasSubstr("not a JSON"));
  EXPECT_THAT(error_of(R"({"kind":"Other","apiVersion":")" + v1 + R"(","status":{"token":"x"}})"),
              HasSubstr("kind must be ExecCredential"));
  EXPECT_THAT(
      error_of(
          R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"x"}})"),
      HasSubstr("apiVersion must be"));
  EXPECT_THAT(error_of(R"({"kind":"ExecCredential","apiVersion":")" + v1 + R"(","status":{}})"),
              HasSubstr("neither token nor"));
  EXPECT_THAT(error_of(R"({"kind":"ExecCredential","apiVersion":")" + v1 +
                       R"(","status":{"clientCertificateData":"C"}})"),
              HasSubstr("go together"));
  EXPECT_THAT(error_of(R"({"kind":"ExecCredential","apiVersion":")" + v1 +
                       R"(","status":{"token":"x","expirationTimestamp":"tomorrow"}})"),
              HasSubstr("not RFC 3339"));
}

TEST(ParseRfc3339Test, ParsesZuluFractionsAndOffsets) {
  using std::chrono::system_clock;
  const auto base = ParseRfc3339("2030-01-01T00:00:00Z");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(system_clock::to_time_t(*base), 1893456000);
  EXPECT_EQ(*ParseRfc3339("2030-01-01T01:00:00+01:00"), *base);
  EXPECT_EQ(*ParseRfc3339("2030-01-01T00:00:00.5Z") - *base, std::chrono::milliseconds(500));
  for (const char* bad : {"", "2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z",
                          "2030-01-01T00:00:00Zjunk", "2030-01-01T00:00:00.Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

// The token file is read through the FileReader seam: a rotated token is picked up after the
// refresh period, and an unreadable file keeps the last good token.
TEST(TokenFileSeamTest, ReadsTheRotatingTokenThroughTheFileReader) {
  testing::FakeClock clock;
  testing::FakeFiles files;
  files.Set("/sa/token", "first\n");
  KubeConfig config;
  config.token_file = "/sa/token";
  CredentialOptions options;
  options.files = &files;
  auto source = NewCredentialSource(config, clock, options);
  EXPECT_EQ(source->Current()->bearer_token, "first");
  files.Set("/sa/token", "second");
  EXPECT_EQ(source->Current()->bearer_token, "first") << "re-read only after the refresh period";
  clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(source->Current()->bearer_token, "second");
  files.Fail("/sa/token", "Permission denied");
  clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(source->Current()->bearer_token, "second");
  EXPECT_EQ(files.reads("/sa/token"), 3);
}

TEST(TokenFileSeamTest, AnUnreadableTokenFileIsAnErrorNamingItAndTheCause) {
  testing::FakeClock clock;
  testing::FakeFiles files;
  files.Fail("/sa/token", "Permission denied");
  KubeConfig config;
  config.token_file = "/sa/token";
  CredentialOptions options;
  options.files = &files;
  auto credentials = NewCredentialSource(config, clock, options)->Current();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.error().message, HasSubstr("/sa/token: Permission denied"));
}

// Found writing fuzz_exec_credential (its strict-shape invariant): sscanf's %d skipped spaces and
// read signs, so these were accepted (and normalized into other instants).
TEST(ParseRfc3339Test, RefusesWhatIsNotExactlyTheRfc3339Shape) {
  for (const char* bad :
       {" 226-01-01T00:00:00Z", "2030- 1- 1T 1: 1: 1Z", "2030-01-01T-1:00:00Z",
        "+030-01-01T00:00:00Z", "2030-02-31T00:00:00Z", "2031-02-29T00:00:00Z",
        "2030-01-01T00:00:00+1:000", "2030-01-01T00:00:00+24:00", "2030-01-01T00:00:00+-1:00"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ParseRfc3339("2032-02-29T23:59:60Z").has_value()) << "a leap day and a leap second";
}

// Found by fuzz_exec_credential (UBSan: signed overflow in from_time_t): a year the nanosecond
// clock cannot hold.
TEST(ParseRfc3339Test, RefusesYearsTheClockCannotRepresent) {
  for (const char* far : {"1013-01-01T01:02:03.456+02:00", "0001-01-01T00:00:00Z",
                          "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    EXPECT_FALSE(ParseRfc3339(far).has_value()) << far;
  }
  EXPECT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z").has_value());
  EXPECT_TRUE(ParseRfc3339("2200-01-01T00:00:00Z").has_value());
}

}  // namespace
}  // namespace kca::kube
