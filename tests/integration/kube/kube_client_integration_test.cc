// The real HTTP client and informer against kube-apiserver-emulator over TLS: what unit tests
// with fakes cannot show (headers, chunked watch streams, TLS verification, token rotation).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "csr_factory.h"
#include "emulator_process.h"
#include "fake_clock.h"
#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/csr_informer.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "kube_csr_approver/observability/health.h"
#include "request_counter.h"

namespace kca::kube {
namespace {

using ::testing::HasSubstr;

const std::string kCsrs(kCsrCollectionPath);

// Remembers the informer's view: names it holds and how often it synced.
class ViewHandler final : public CsrEventHandler {
 public:
  void OnUpsert(const CsrObject& csr) override {
    std::lock_guard lock(mutex_);
    names_.insert(csr.name);
    if (!csr.conditions.empty()) decided_.insert(csr.name);
    changed_.notify_all();
  }
  void OnDelete(const std::string& name) override {
    std::lock_guard lock(mutex_);
    names_.erase(name);
    changed_.notify_all();
  }
  void OnSynced() override {
    std::lock_guard lock(mutex_);
    ++syncs_;
    changed_.notify_all();
  }
  // Waits until `predicate(names, decided, syncs)` holds, up to 20 s.
  bool WaitFor(const std::function<bool(const std::set<std::string>&, const std::set<std::string>&,
                                        int)>& predicate) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20),
                             [&] { return predicate(names_, decided_, syncs_); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::string> names_;
  std::set<std::string> decided_;
  int syncs_ = 0;
};

class KubeClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartEmulator({"--bookmark-interval", "1", "--token-grace-seconds", "0"});
  }

  void StartEmulator(std::vector<std::string> args) {
    emulator::EmulatorProcess::Options options;
    options.extra_args = std::move(args);
    auto started = emulator::EmulatorProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.error().message;
    emulator_ = std::move(*started);
    admin_ = Client("admin");
    ASSERT_NE(admin_, nullptr);
  }

  std::unique_ptr<ApiClient> Client(const std::string& identity, ApiClientOptions options = {}) {
    auto config = LoadKubeconfigFile(emulator_->kubeconfig(identity));
    EXPECT_TRUE(config.ok()) << config.error().message;
    if (!config.ok()) return nullptr;
    return ClientFor(*config, std::move(options));
  }

  std::unique_ptr<ApiClient> ClientFor(const KubeConfig& config, ApiClientOptions options = {},
                                       const Clock& clock = RealClock::Instance()) {
    options.qps = 0;  // tests measure behaviour, not pacing
    options.retry_backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(50), 2.0,
                             0.1};
    auto client = NewApiClient(config, NewCredentialSource(config, RealClock::Instance()), clock,
                               std::move(options));
    EXPECT_TRUE(client.ok()) << client.error().message;
    return client.ok() ? std::move(*client) : nullptr;
  }

  nlohmann::json CreateCsr(const std::string& name) {
    testing::CsrObjectSpec spec;
    spec.name = name;
    testing::RequestSpec request;
    request.subject = {{"CN", "alice"}};
    spec.request_pem = testing::MakeRequestPem(request);
    nlohmann::json object = testing::MakeCsrObject(spec);
    object["metadata"].erase("resourceVersion");
    object["metadata"].erase("uid");
    object.erase("status");
    auto created = admin_->Create(kCsrs, object);
    EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().message);
    return created.ok() ? *created : nlohmann::json();
  }

  void SetFaults(const nlohmann::json& faults) {
    auto set = admin_->Create("/emulator/v1/faults", faults);
    ASSERT_TRUE(set.ok()) << set.error().message;
  }

  std::unique_ptr<emulator::EmulatorProcess> emulator_;
  std::unique_ptr<ApiClient> admin_;
  std::mutex mutex_;
  std::condition_variable polled_;  // never notified: a bounded pause between polls
};

TEST_F(KubeClientIntegrationTest, CreatesGetsAndListsInPages) {
  for (int i = 0; i < 7; ++i) CreateCsr("page-" + std::to_string(i));
  auto one = admin_->Get(kCsrs + "/page-3");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ((*one)["metadata"]["name"], "page-3");

  ListOptions options;
  options.limit = 3;
  std::set<std::string> names;
  std::string list_rv;
  int pages = 0;
  do {
    auto page = admin_->List(kCsrs, options);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ++pages;
    const std::string rv = (*page)["metadata"]["resourceVersion"];
    if (list_rv.empty()) list_rv = rv;
    EXPECT_EQ(rv, list_rv);
    for (const auto& item : (*page)["items"]) names.insert(item["metadata"]["name"]);
    options.continue_token = (*page)["metadata"].value("continue", "");
  } while (!options.continue_token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 7u);

  // Selector values are percent-encoded ('=' and ',' survive the trip).
  ListOptions selected;
  selected.field_selector =
      "metadata.name=page-3,spec.signerName=kubernetes.io/kube-apiserver-client";
  auto only = admin_->List(kCsrs, selected);
  ASSERT_TRUE(only.ok()) << only.error().message;
  ASSERT_EQ((*only)["items"].size(), 1u);
  EXPECT_EQ((*only)["items"][0]["metadata"]["name"], "page-3");
}

TEST_F(KubeClientIntegrationTest, MapsServerStatusesToTypedErrors) {
  auto missing = admin_->Get(kCsrs + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ApiErrorCode::kNotFound);
  EXPECT_EQ(missing.error().status_reason, "NotFound");
  EXPECT_THAT(missing.error().message, HasSubstr("GET " + kCsrs + "/nope: HTTP 404 NotFound"));

  // A stale resourceVersion on /approval: 409, for the caller to re-read and re-evaluate.
  nlohmann::json csr = CreateCsr("conflicted");
  nlohmann::json stale = csr;
  stale["metadata"]["resourceVersion"] = "1";
  stale["status"]["conditions"] = {
      {{"type", "Approved"}, {"status", "True"}, {"reason", "AutoApproved"}, {"message", "test"}}};
  auto conflict = admin_->Update(kCsrs + "/conflicted/approval", stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ApiErrorCode::kConflict) << conflict.error().message;
  EXPECT_FALSE(conflict.error().transient());

  // alice may create CSRs but not approve them.
  auto alice = Client("user");
  nlohmann::json fresh = *admin_->Get(kCsrs + "/conflicted");
  fresh["status"]["conditions"] = stale["status"]["conditions"];
  auto forbidden = alice->Update(kCsrs + "/conflicted/approval", fresh);
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().code, ApiErrorCode::kForbidden) << forbidden.error().message;

  // And the approver (a tokenFile service account) may.
  auto approver = Client("approver");
  auto approved = approver->Update(kCsrs + "/conflicted/approval", fresh);
  ASSERT_TRUE(approved.ok()) << approved.error().message;
  EXPECT_EQ((*approved)["status"]["conditions"][0]["type"], "Approved");
}

TEST_F(KubeClientIntegrationTest, RefusesAServerNotSignedByTheConfiguredCa) {
  auto config = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(config.ok());
  config->ca_pem = testing::MakeCertificatePem(testing::KeySpec::Ecdsa("P-256"));
  auto client = ClientFor(*config);
  ASSERT_NE(client, nullptr);
  auto result = client->Get(kCsrs);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().http_status, 0);
  EXPECT_EQ(result.error().code, ApiErrorCode::kTlsVerifyFailed) << result.error().message;
  EXPECT_THAT(result.error().message, HasSubstr("certificate signed by unknown authority"));
}

TEST_F(KubeClientIntegrationTest, RefusesAServerWhoseNameDoesNotMatch) {
  auto config = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(config.ok());
  config->tls_server_name = "not-the-emulator.example";
  auto result = ClientFor(*config)->Get(kCsrs);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ApiErrorCode::kTlsVerifyFailed) << result.error().message;
}

TEST_F(KubeClientIntegrationTest, VerifiesTheConfiguredTlsServerName) {
  auto config = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(config.ok());
  config->tls_server_name = "localhost";  // in the emulator's certificate, unlike the URL's IP
  auto result = ClientFor(*config)->Get(kCsrs);
  EXPECT_TRUE(result.ok()) << result.error().message;
}

TEST_F(KubeClientIntegrationTest, PacesRequestsWithTheTokenBucket) {
  auto config = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(config.ok());
  ApiClientOptions options;  // not through ClientFor, which turns pacing off
  options.qps = 5;
  options.burst = 2;
  auto paced = NewApiClient(*config, NewCredentialSource(*config, RealClock::Instance()),
                            RealClock::Instance(), options);
  ASSERT_TRUE(paced.ok());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*paced)->Get(kCsrs).ok());
  // Two from the burst, then five at 5/s: at least one second.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
}

TEST_F(KubeClientIntegrationTest, DropsAWatchThatStaysSilent) {
  ApiClientOptions options;
  options.watch_inactivity_timeout = std::chrono::seconds(1);
  auto client = Client("admin", options);
  auto list = client->List(kCsrs, {});
  ASSERT_TRUE(list.ok());
  WatchOptions watch;
  watch.resource_version = (*list)["metadata"]["resourceVersion"];
  watch.allow_bookmarks = false;  // nothing will arrive
  watch.timeout = std::chrono::seconds(60);
  auto stream = client->Watch(kCsrs, watch);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  const auto start = std::chrono::steady_clock::now();
  auto next = (*stream)->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code, ApiErrorCode::kTimeout) << next.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// Presents whichever identity the test picks, like an exec plugin handing out a new certificate.
class SwitchableCredentials final : public CredentialSource {
 public:
  explicit SwitchableCredentials(Credentials initial) : current_(std::move(initial)) {}
  void Set(Credentials next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }
  Result<Credentials> Current() override {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void Invalidate() override {}

 private:
  std::mutex mutex_;
  Credentials current_;
};

TEST_F(KubeClientIntegrationTest, PresentsANewClientCertificateOnNewConnections) {
  auto alice = LoadKubeconfigFile(emulator_->kubeconfig("user"));
  auto admin = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(alice.ok() && admin.ok());
  ASSERT_FALSE(alice->client_certificate_pem.empty());
  auto source = std::make_unique<SwitchableCredentials>(
      Credentials{"", alice->client_certificate_pem, alice->client_key_pem});
  SwitchableCredentials& switchable = *source;
  ApiClientOptions options;
  options.qps = 0;
  auto client = NewApiClient(*alice, std::move(source), RealClock::Instance(), options);
  ASSERT_TRUE(client.ok()) << client.error().message;

  nlohmann::json csr = CreateCsr("by-certificate");
  csr["status"]["conditions"] = {
      {{"type", "Approved"}, {"status", "True"}, {"reason", "AutoApproved"}, {"message", "test"}}};
  auto as_alice = (*client)->Update(kCsrs + "/by-certificate/approval", csr);
  ASSERT_FALSE(as_alice.ok());
  EXPECT_EQ(as_alice.error().code, ApiErrorCode::kForbidden) << as_alice.error().message;

  switchable.Set(Credentials{"", admin->client_certificate_pem, admin->client_key_pem});
  auto as_admin = (*client)->Update(kCsrs + "/by-certificate/approval", csr);
  EXPECT_TRUE(as_admin.ok()) << as_admin.error().message;
}

TEST_F(KubeClientIntegrationTest, RereadsTheTokenFileAfterA401) {
  kca::testing::RequestCounter log;
  ApiClientOptions options;
  options.observer = log.Observer();
  auto approver = Client("approver", options);
  ASSERT_TRUE(approver->List(kCsrs, {}).ok());
  // Rotation with no grace: the token the client holds is now refused.
  auto rotated = admin_->Create("/emulator/v1/tokens/rotate", nlohmann::json::object());
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  auto after = approver->List(kCsrs, {});
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(log.Count("list 401"), 1);
  EXPECT_EQ(log.Count("list 200"), 2);
}

// The retry after a 429 waits its Retry-After on the client's clock (a fake one here, which only
// the test moves): the request is repeated once the clock has moved on by 1 s, and not before.
TEST_F(KubeClientIntegrationTest, HonoursRetryAfterOn429OnTheClientsClock) {
  kca::testing::RequestCounter log;
  kca::testing::FakeClock clock;
  ApiClientOptions options;
  options.observer = log.Observer();
  auto config = LoadKubeconfigFile(emulator_->kubeconfig("admin"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto client = ClientFor(*config, options, clock);
  ASSERT_NE(client, nullptr);
  SetFaults({{"throttleNextRequests", 2}, {"retryAfterSeconds", 1}});
  std::optional<ApiResult<nlohmann::json>> result;
  std::thread lister([&] { result = client->List(kCsrs, {}); });
  ASSERT_TRUE(clock.AwaitWaiterDue(std::chrono::seconds(1))) << "waits Retry-After on the clock";
  EXPECT_EQ(log.Count("list 429"), 1);
  clock.Advance(std::chrono::milliseconds(999));
  ASSERT_TRUE(clock.AwaitWaiterDue(std::chrono::milliseconds(1))) << "not retried before";
  EXPECT_EQ(log.Count("list 429"), 1);
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(clock.AwaitWaiterDue(std::chrono::seconds(1))) << "the second 429, and its wait";
  EXPECT_EQ(log.Count("list 429"), 2);
  EXPECT_EQ(log.Count("list 200"), 0);
  clock.Advance(std::chrono::seconds(1));
  lister.join();
  ASSERT_TRUE(result->ok()) << result->error().message;
  EXPECT_EQ(log.Count("list 200"), 1);
}

// Issue 9 items 1 and 6 over real HTTP: a merge PATCH of /approval changes only the conditions
// (labels stay), its resourceVersion is a precondition, and with CallOptions max_attempts 1 a
// 429 is returned at once with its Retry-After instead of being retried inside the client.
TEST_F(KubeClientIntegrationTest, PatchesApprovalOnceWithPreconditionAndNoInnerRetry) {
  kca::testing::RequestCounter log;
  ApiClientOptions options;
  options.observer = log.Observer();
  auto client = Client("admin", options);
  nlohmann::json csr = CreateCsr("patched");
  nlohmann::json labelled = csr;
  labelled["metadata"]["labels"] = {{"team", "a"}};
  auto updated = client->Update(kCsrs + "/patched", labelled);
  ASSERT_TRUE(updated.ok()) << updated.error().message;

  nlohmann::json patch = {
      {"metadata", {{"resourceVersion", csr["metadata"]["resourceVersion"]}}},
      {"status",
       {{"conditions", {{{"type", "Approved"}, {"status", "True"}, {"reason", "AutoApproved"}}}}}}};
  auto stale = client->Patch(kCsrs + "/patched/approval", patch);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ApiErrorCode::kConflict) << stale.error().message;

  SetFaults({{"throttleNextRequests", 3}, {"retryAfterSeconds", 4}});
  patch["metadata"]["resourceVersion"] = (*updated)["metadata"]["resourceVersion"];
  CallOptions once;
  once.max_attempts = 1;
  auto throttled = client->Patch(kCsrs + "/patched/approval", patch, nullptr, once);
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.error().code, ApiErrorCode::kThrottled);
  EXPECT_EQ(throttled.error().retry_after, std::chrono::seconds(4));
  EXPECT_EQ(log.Count("patch 429"), 1) << "one attempt only";
  SetFaults({{"throttleNextRequests", 0}});

  int asked = 0;
  auto refused = client->Patch(kCsrs + "/patched/approval", patch, nullptr,
                               CallOptions{.max_attempts = 1, .may_send = [&] {
                                             ++asked;
                                             return false;
                                           }});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ApiErrorCode::kCanceled);
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(log.Count("patch 409") + log.Count("patch 429") + log.Count("patch 200"), 2)
      << "a call the gate refuses sends nothing";

  auto approved = client->Patch(kCsrs + "/patched/approval", patch);
  ASSERT_TRUE(approved.ok()) << approved.error().message;
  EXPECT_EQ((*approved)["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ((*approved)["metadata"]["labels"]["team"], "a");
}

TEST_F(KubeClientIntegrationTest, RetriesReadsButNotWritesOn5xx) {
  kca::testing::RequestCounter log;
  ApiClientOptions options;
  options.observer = log.Observer();
  auto client = Client("admin", options);
  SetFaults({{"errorFraction", 1.0}, {"errorCode", 503}});
  auto read = client->List(kCsrs, {});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ApiErrorCode::kServerError);
  EXPECT_TRUE(read.error().transient());
  EXPECT_EQ(log.Count("list 503"), 5);  // ApiClientOptions::max_attempts
  auto write = client->Delete(kCsrs + "/anything");
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(log.Count("delete 503"), 1);
}

TEST_F(KubeClientIntegrationTest, WatchStreamsEventsAndBookmarks) {
  auto list = admin_->List(kCsrs, {});
  ASSERT_TRUE(list.ok());
  WatchOptions options;
  options.resource_version = (*list)["metadata"]["resourceVersion"];
  options.timeout = std::chrono::seconds(30);
  Cancellation cancel;
  auto stream = admin_->Watch(kCsrs, options, &cancel);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  CreateCsr("watched");
  bool added = false, bookmark = false;
  while (!(added && bookmark)) {
    auto event = (*stream)->Next();
    ASSERT_TRUE(event.ok()) << event.error().message;
    ASSERT_TRUE(event->has_value());
    if ((*event)->type == "ADDED") {
      EXPECT_EQ((*event)->object["metadata"]["name"], "watched");
      added = true;
    }
    if ((*event)->type == "BOOKMARK") bookmark = true;
  }
  // Cancelling unblocks a reader waiting on a quiet stream.
  std::thread canceller([&] { cancel.Cancel(); });
  ApiResult<std::optional<WatchEvent>> next = std::optional<WatchEvent>();
  do {
    next = (*stream)->Next();
  } while (next.ok() && next->has_value());
  canceller.join();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code, ApiErrorCode::kCanceled);
}

// Events are lines: several in one read, one split over reads, CRLF endings and blank lines
// between them, the last one ended by the end of the stream instead of a newline.
TEST_F(KubeClientIntegrationTest, WatchStreamSplitsLinesWhereverTheReadsEnd) {
  const auto event = [](const std::string& name) {
    return R"({"type":"ADDED","object":{"metadata":{"name":")" + name + R"("}}})";
  };
  const std::string third = event("c");
  SetFaults({{"nextWatchRawChunks",
              {event("a") + "\r\n\n" + event("b") + "\n" + third.substr(0, 20),
               third.substr(20) + "\r\n", "\n", event("d")}}});
  Cancellation cancel;
  auto stream = admin_->Watch(kCsrs, WatchOptions{}, &cancel);
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  std::vector<std::string> names;
  while (true) {
    auto next = (*stream)->Next();
    ASSERT_TRUE(next.ok()) << next.error().message;
    if (!next->has_value()) break;
    EXPECT_EQ((*next)->type, "ADDED");
    names.push_back((*next)->object["metadata"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(KubeClientIntegrationTest, InformerFollowsTheServerThroughExpiryAndDrops) {
  CreateCsr("before-1");
  CreateCsr("before-2");
  std::mutex mutex;
  std::condition_variable restarted;
  std::multiset<std::string> restarts;
  CsrInformerOptions options;
  options.page_size = 1;
  options.min_watch_timeout = options.max_watch_timeout = std::chrono::seconds(1);
  options.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(100), 2.0, 0.1};
  options.on_watch_restart = [&](WatchRestartReason reason) {
    std::lock_guard lock(mutex);
    restarts.insert(std::string(ToString(reason)));
    restarted.notify_all();
  };
  auto approver = Client("approver");
  ViewHandler view;
  CsrInformer informer(*approver, view, options);
  informer.Start();
  ASSERT_TRUE(
      view.WaitFor([](auto& names, auto&, int syncs) { return syncs == 1 && names.size() == 2; }));
  EXPECT_TRUE(informer.synced());

  CreateCsr("during-watch");
  ASSERT_TRUE(admin_->Delete(kCsrs + "/before-1").ok());
  ASSERT_TRUE(view.WaitFor([](auto& names, auto&, int) {
    return names == std::set<std::string>{"before-2", "during-watch"};
  }));

  // Watches end every second, so faults set now apply to the next one. It is answered 410:
  // the informer must relist (sync #2) and carry on.
  SetFaults({{"expireNextWatches", 1}});
  ASSERT_TRUE(view.WaitFor([](auto&, auto&, int syncs) { return syncs >= 2; }));
  // Then every watch is cut after one event; each CSR must still arrive.
  SetFaults({{"dropWatchAfterEvents", 1}});
  {
    // Faults apply to watches started after them: wait for the current one to end.
    std::unique_lock lock(mutex);
    const std::size_t seen = restarts.size();
    ASSERT_TRUE(
        restarted.wait_for(lock, std::chrono::seconds(10), [&] { return restarts.size() > seen; }));
  }
  for (const char* name : {"dropped-1", "dropped-2", "dropped-3"}) CreateCsr(name);
  ASSERT_TRUE(view.WaitFor([](auto& names, auto&, int) {
    return names.contains("dropped-1") && names.contains("dropped-2") &&
           names.contains("dropped-3");
  }));
  informer.Stop();
  std::lock_guard lock(mutex);
  EXPECT_GE(restarts.count("expired"), 1u);
  EXPECT_GE(restarts.count("timeout"), 1u);
  EXPECT_GE(restarts.count("error"), 1u);  // the cut watches (a flapping watch must show)
}

// Deeply nested JSON text: [[[...]]].
std::string NestedText(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// What a hostile or broken server may send down a watch, through the real HTTP client's line
// framing and the informer: each must leave the process and the informer running; it relists
// and carries on (a CSR created afterwards arrives). Before: wrong types in an ERROR event threw
// from the JSON library on the informer's thread (std::terminate).
TEST_F(KubeClientIntegrationTest, InformerSurvivesHostileWatchLines) {
  const std::string status = R"({"type":"ERROR","object":{"kind":"Status","code":)";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"ERROR code as a string",
       {status + R"("410","reason":7,"message":{"a":1}}})"
                 "\n"}},
      {"ERROR kind as a number",
       {R"({"type":"ERROR","object":{"kind":5,"code":500}})"
        "\n"}},
      {"ERROR details of wrong types",
       {status + R"(504,"reason":"Timeout","details":{"causes":[1,"x",{"reason":5}]}}})"
                 "\n"}},
      {"ERROR nested garbage", {status + "500,\"message\":" + NestedText(100000) + "}}\n"}},
      {"type as a number",
       {R"({"type":7,"object":{}})"
        "\n"}},
      {"object as a list",
       {R"({"type":"ADDED","object":[1,2]})"
        "\n"}},
      {"not an object", {"[1,2,3]\n", "\"str\"\n"}},
      {"not JSON", {"}{ garbage\n"}},
      {"metadata.resourceVersion as an object",
       {R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":{"a":1}}}})"
        "\n"}},
      {"a line split across chunks and truncated", {R"({"type":"ADD)", R"(ED","obj)"}},
      {"a line longer than the cap",
       {R"({"type":"ADDED","object":{"x":")" + std::string(512 << 10, 'x') + "\"}}\n"}},
  };
  std::mutex mutex;
  std::condition_variable restarted;
  std::size_t restarts = 0;
  int unexpected = 0;
  CsrInformerOptions options;
  options.min_watch_timeout = options.max_watch_timeout = std::chrono::seconds(1);
  options.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(100), 2.0, 0.1};
  options.on_watch_restart = [&](WatchRestartReason reason) {
    std::lock_guard lock(mutex);
    if (reason != WatchRestartReason::kTimeout) ++restarts;
    restarted.notify_all();
  };
  options.on_unexpected_error = [&] {
    std::lock_guard lock(mutex);
    ++unexpected;
  };
  ApiClientOptions client_options;
  client_options.max_watch_line_bytes = 256 << 10;
  auto approver = Client("approver", client_options);
  ViewHandler view;
  CsrInformer informer(*approver, view, options);
  informer.Start();
  ASSERT_TRUE(view.WaitFor([](auto&, auto&, int syncs) { return syncs >= 1; }));
  int n = 0;
  for (const auto& [what, chunks] : cases) {
    SCOPED_TRACE(what);
    SetFaults({{"nextWatchRawChunks", chunks}});
    // Until a watch has taken the chunks (every watch ends within a second).
    bool taken = false;
    for (int polls = 0; !taken && polls < 200; ++polls) {
      std::unique_lock lock(mutex);
      const std::size_t seen = restarts;
      restarted.wait_for(lock, std::chrono::milliseconds(100), [&] { return restarts > seen; });
      lock.unlock();
      auto faults = admin_->Get("/emulator/v1/faults");
      taken = faults.ok() && faults->is_object() && faults->contains("nextWatchRawChunks") &&
              (*faults)["nextWatchRawChunks"].empty();
    }
    ASSERT_TRUE(taken);
    const std::string name = "after-" + std::to_string(++n);
    CreateCsr(name);
    ASSERT_TRUE(view.WaitFor([&](auto& names, auto&, int) { return names.contains(name); }));
  }
  informer.Stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(unexpected, 0);  // type-checked, not caught by the guard
}

// /readyz follows the informer: unready once it has been out of touch with the server for longer
// than the bound, ready again once a list succeeds.
TEST_F(KubeClientIntegrationTest, ReadinessFollowsTheInformerThroughAnOutage) {
  HealthState health(RealClock::Instance(), std::chrono::minutes(2), std::chrono::seconds(1));
  health.SetPolicyLoaded(true);
  CsrInformerOptions options;
  options.min_watch_timeout = options.max_watch_timeout = std::chrono::seconds(1);
  options.backoff = {std::chrono::milliseconds(50), std::chrono::milliseconds(200), 2.0, 0.1};
  options.on_sync_state = [&](bool in_touch) { health.RecordSyncState(in_touch); };
  ApiClientOptions client_options;
  client_options.max_attempts = 1;
  auto approver = Client("approver", client_options);
  ViewHandler view;
  CsrInformer informer(*approver, view, options);
  informer.Start();
  ASSERT_TRUE(view.WaitFor([](auto&, auto&, int syncs) { return syncs >= 1; }));
  health.SetSynced(true);
  auto readiness_becomes = [&](int status) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (health.Readiness().status == status) return true;
      std::unique_lock lock(mutex_);
      polled_.wait_for(lock, std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_TRUE(readiness_becomes(200));
  SetFaults({{"errorFraction", 1.0}, {"errorCode", 503}});
  EXPECT_TRUE(readiness_becomes(503)) << health.Readiness().body;
  EXPECT_NE(health.Readiness().body.find("out of touch"), std::string::npos);
  ASSERT_TRUE(admin_->Delete("/emulator/v1/faults").ok());
  EXPECT_TRUE(readiness_becomes(200)) << health.Readiness().body;
  informer.Stop();
}

}  // namespace
}  // namespace kca::kube
