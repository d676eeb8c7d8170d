#include "kube_csr_approver/kube/csr_informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "fake_api_client.h"
#include "fake_clock.h"

namespace kca::kube {
namespace {

using ::testing::ElementsAre;
using testing::FakeApiClient;
using testing::WatchScript;

// Records what the informer reports, as "upsert:NAME@RV", "delete:NAME", "synced".
class RecordingHandler final : public CsrEventHandler {
 public:
  void OnUpsert(const CsrObject& csr) override {
    Record("upsert:" + csr.name + "@" + csr.resource_version);
  }
  void OnDelete(const std::string& name) override { Record("delete:" + name); }
  void OnSynced() override { Record("synced"); }

  std::vector<std::string> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  bool WaitForSize(std::size_t size, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return log_.size() >= size; });
  }

 private:
  void Record(std::string entry) {
    std::lock_guard lock(mutex_);
    log_.push_back(std::move(entry));
    changed_.notify_all();
  }
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> log_;
};

// A CSR as list items carry it: without kind and apiVersion.
nlohmann::json Csr(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"name", name}, {"resourceVersion", rv}, {"uid", "uid-" + name}}},
          {"spec",
           {{"request", "cmVxdWVzdA=="},
            {"signerName", "kubernetes.io/kube-apiserver-client"},
            {"usages", {"client auth"}},
            {"username", "alice"}}},
          {"status", nlohmann::json::object()}};
}

nlohmann::json Page(std::vector<nlohmann::json> items, const std::string& rv,
                    const std::string& continue_token = "") {
  nlohmann::json metadata = {{"resourceVersion", rv}};
  if (!continue_token.empty()) metadata["continue"] = continue_token;
  return {{"kind", "CertificateSigningRequestList"},
          {"apiVersion", "certificates.k8s.io/v1"},
          {"metadata", metadata},
          {"items", items}};
}

ApiResult<std::optional<WatchEvent>> Event(const std::string& type, nlohmann::json object) {
  nlohmann::json full = object;
  if (type != "ERROR") {
    full["kind"] = "CertificateSigningRequest";
    full["apiVersion"] = "certificates.k8s.io/v1";
  }
  return std::optional<WatchEvent>(WatchEvent{type, full});
}

ApiResult<std::optional<WatchEvent>> Bookmark(const std::string& rv) {
  return Event("BOOKMARK", {{"metadata", {{"resourceVersion", rv}}}});
}

ApiResult<std::optional<WatchEvent>> Expired() {
  return Event("ERROR", {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"status", "Failure"},
                         {"message", "too old resource version: 1 (9)"},
                         {"reason", "Expired"},
                         {"code", 410}});
}

// Waits happen on the fake clock: a backoff advances it at once. With a time budget, the first
// wait past it reports "stopped", so a server stuck in one behaviour can be measured over a span
// of fake time.
class CsrInformerTest : public ::testing::Test {
 protected:
  CsrInformerTest() {
    options_.seed = 7;
    options_.clock = &clock_;
    options_.sleep = [this](std::chrono::nanoseconds delay, const Cancellation& stop) {
      std::lock_guard lock(mutex_);
      sleeps_.push_back(delay);
      clock_.Advance(delay);
      if (budget_ && clock_.SteadyNow() - start_ > *budget_) {
        budget_spent_ = true;
        slept_.notify_all();
        return false;
      }
      return !stop.cancelled();
    };
    options_.on_watch_restart = [this](WatchRestartReason reason) {
      std::lock_guard lock(mutex_);
      restarts_.emplace_back(ToString(reason));
    };
    options_.on_sync_state = [this](bool in_touch) {
      std::lock_guard lock(mutex_);
      sync_states_.push_back(in_touch);
    };
    options_.on_unexpected_error = [this] {
      std::lock_guard lock(mutex_);
      ++unexpected_errors_;
    };
  }
  std::vector<std::string> restarts() {
    std::lock_guard lock(mutex_);
    return restarts_;
  }
  std::vector<std::chrono::nanoseconds> sleeps() {
    std::lock_guard lock(mutex_);
    return sleeps_;
  }
  std::vector<bool> sync_states() {
    std::lock_guard lock(mutex_);
    return sync_states_;
  }
  int unexpected_errors() {
    std::lock_guard lock(mutex_);
    return unexpected_errors_;
  }
  // Lets the informer run for `budget` of fake time (its waits end it), then stops it.
  // False when it made more than `max_requests` requests first: a tight loop.
  bool RunFor(std::chrono::seconds budget, std::size_t max_requests) {
    {
      std::lock_guard lock(mutex_);
      budget_ = budget;
      start_ = clock_.SteadyNow();
    }
    Start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::unique_lock lock(mutex_);
    while (!budget_spent_ && std::chrono::steady_clock::now() < deadline &&
           client_.list_calls().size() + client_.watch_calls().size() <= max_requests) {
      slept_.wait_for(lock, std::chrono::milliseconds(10));
    }
    lock.unlock();
    informer_->Stop();
    return client_.list_calls().size() + client_.watch_calls().size() <= max_requests;
  }
  void Start() {
    informer_ = std::make_unique<CsrInformer>(client_, handler_, options_);
    informer_->Start();
  }

  testing::FakeClock clock_;
  FakeApiClient client_;
  RecordingHandler handler_;
  CsrInformerOptions options_;
  std::mutex mutex_;
  std::condition_variable slept_;
  std::vector<std::string> restarts_;
  std::vector<std::chrono::nanoseconds> sleeps_;
  std::vector<bool> sync_states_;
  int unexpected_errors_ = 0;
  std::optional<std::chrono::seconds> budget_;
  std::chrono::steady_clock::time_point start_;
  bool budget_spent_ = false;
  std::unique_ptr<CsrInformer> informer_;
};

TEST_F(CsrInformerTest, ListsEveryPageThenWatchesFromTheListResourceVersion) {
  client_.QueueList(Page({Csr("a", "3"), Csr("b", "5")}, "10", "token-1"));
  client_.QueueList(Page({Csr("c", "8")}, "10"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 1; }));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:a@3", "upsert:b@5", "upsert:c@8", "synced"));
  EXPECT_TRUE(informer_->synced());
  const auto lists = client_.list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].limit, 500);
  EXPECT_EQ(lists[0].continue_token, "");
  EXPECT_EQ(lists[1].continue_token, "token-1");
  const WatchOptions watch = client_.watch_calls()[0];
  EXPECT_EQ(watch.resource_version, "10");
  EXPECT_TRUE(watch.allow_bookmarks);
  EXPECT_GE(watch.timeout.count(), 300);
  EXPECT_LE(watch.timeout.count(), 600);
}

TEST_F(CsrInformerTest, DeliversWatchEventsAndResumesFromTheLastResourceVersion) {
  client_.QueueList(Page({Csr("a", "3")}, "10"));
  client_.QueueWatch(WatchScript{std::nullopt,
                                 {Event("ADDED", Csr("b", "11")), Event("MODIFIED", Csr("a", "12")),
                                  Event("DELETED", Csr("b", "13")), Bookmark("20")},
                                 false,
                                 [this] { clock_.Advance(std::chrono::seconds(600)); }});
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(handler_.log(),
              ElementsAre("upsert:a@3", "synced", "upsert:b@11", "upsert:a@12", "delete:b"));
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "20");
  EXPECT_EQ(informer_->resource_version(), "20");
  EXPECT_THAT(restarts(), ElementsAre("timeout"));
  EXPECT_EQ(client_.list_calls().size(), 1u);  // no relist after a clean end
}

TEST_F(CsrInformerTest, RelistsAfterAnExpiredErrorEventAndReportsVanishedCsrs) {
  client_.QueueList(Page({Csr("a", "3"), Csr("b", "4")}, "10"));
  client_.QueueWatch(
      WatchScript{std::nullopt, {Event("ADDED", Csr("c", "11")), Expired()}, false, {}});
  client_.QueueList(Page({Csr("a", "3"), Csr("d", "30")}, "40"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  auto log = handler_.log();
  ASSERT_EQ(log.size(), 9u);
  EXPECT_THAT(std::vector<std::string>(log.begin(), log.begin() + 6),
              ElementsAre("upsert:a@3", "upsert:b@4", "synced", "upsert:c@11", "upsert:a@3",
                          "upsert:d@30"));
  // b and c vanished while we were not watching; order among them does not matter.
  EXPECT_THAT(std::vector<std::string>(log.begin() + 6, log.begin() + 8),
              ::testing::UnorderedElementsAre("delete:b", "delete:c"));
  EXPECT_EQ(log[8], "synced");
  EXPECT_THAT(restarts(), ElementsAre("expired"));
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "40");
  EXPECT_EQ(client_.list_calls()[1].resource_version, "");  // a fresh, consistent list
}

TEST_F(CsrInformerTest, RelistsWhenTheWatchIsRefusedWith410) {
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(WatchScript{testing::HttpError(410, "Gone"), {}, false, {}});
  client_.QueueList(Page({Csr("z", "50")}, "50"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(handler_.log(), ElementsAre("synced", "upsert:z@50", "synced"));
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "50");
  EXPECT_THAT(restarts(), ElementsAre("expired"));
}

// client-go's reflector (tools/cache/reflector.go): a cut connection, an unreachable or throttling
// server are watched again from the same resourceVersion after a backoff (isWatchErrorRetriable);
// any other watch error ends ListAndWatch, which relists after a backoff. A cut is an `error`
// restart (a flapping watch must be visible), not a `closed` one.
TEST_F(CsrInformerTest, RewatchesAfterCutsAndThrottlingAndRelistsAfterOtherErrors) {
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(WatchScript{
      std::nullopt, {Event("ADDED", Csr("a", "11")), testing::NetworkError()}, false, {}});
  client_.QueueWatch(WatchScript{testing::HttpError(429, "TooManyRequests"), {}, false, {}});
  client_.QueueWatch(WatchScript{testing::NetworkError(), {}, false, {}});
  client_.QueueWatch(WatchScript{testing::HttpError(500, "InternalError"), {}, false, {}});
  client_.QueueList(Page({Csr("a", "11")}, "30"));
  client_.QueueWatch(WatchScript{
      std::nullopt,
      {Event("ERROR", {{"kind", "Status"}, {"reason", "InternalError"}, {"code", 500}})},
      false,
      {}});
  client_.QueueList(Page({Csr("a", "11")}, "40"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 6; }));
  const auto watches = client_.watch_calls();
  EXPECT_EQ(watches[0].resource_version, "10");
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(watches[i].resource_version, "11") << i;
  EXPECT_EQ(watches[4].resource_version, "30");
  EXPECT_EQ(watches[5].resource_version, "40");
  EXPECT_THAT(restarts(), ElementsAre("error", "error", "error", "error", "error"));
  EXPECT_EQ(client_.list_calls().size(), 3u);
  EXPECT_EQ(sleeps().size(), 5u);  // every one of them waited
}

// The informer branches on ApiError codes only: a stream gone silent past its inactivity timeout
// (kTimeout) is a cut, watched again from where it was; an unreadable line (kInvalidResponse)
// may have hidden a deletion, so a relist follows; an ERROR event whose Status says Expired,
// with no code at all, is an expiry (apimachinery's IsResourceExpired reads the reason).
TEST_F(CsrInformerTest, BranchesOnTheCodeOfEachStreamFailure) {
  auto failure = [](ApiErrorCode code) {
    ApiError error;
    error.code = code;
    error.message = "fake " + std::string(ToString(code));
    return error;
  };
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(WatchScript{
      std::nullopt, {Event("ADDED", Csr("a", "11")), failure(ApiErrorCode::kTimeout)}, false, {}});
  client_.QueueWatch(
      WatchScript{std::nullopt,
                  {Event("ADDED", Csr("b", "12")), failure(ApiErrorCode::kInvalidResponse)},
                  false,
                  {}});
  client_.QueueList(Page({Csr("a", "11"), Csr("b", "12")}, "20"));
  client_.QueueWatch(WatchScript{
      std::nullopt,
      {Event("ERROR", {{"kind", "Status"}, {"reason", "Expired"}, {"message", "too old"}})},
      false,
      {}});
  client_.QueueList(Page({Csr("a", "11"), Csr("b", "12")}, "30"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 4; }));
  const auto watches = client_.watch_calls();
  EXPECT_EQ(watches[1].resource_version, "11") << "a timed-out stream is watched again";
  EXPECT_EQ(watches[2].resource_version, "20") << "an unreadable line is followed by a relist";
  EXPECT_EQ(watches[3].resource_version, "30") << "an Expired ERROR event is followed by a relist";
  EXPECT_THAT(restarts(), ElementsAre("error", "error", "expired"));
  EXPECT_EQ(client_.list_calls().size(), 3u);
}

// A list that fails after its first page has delivered CSRs: the next list must still report
// them deleted when they are gone, or they would stay in the controller's cache (a follower
// never looks them up) and in pending_csrs for the life of the process. client-go delivers no
// item before the whole list is in (staging/src/k8s.io/client-go/tools/cache/reflector.go: list()
// pages through, then syncWith → store.Replace), so it cannot lose track this way; we deliver
// page by page and must remember what we delivered.
TEST_F(CsrInformerTest, ReportsDeletedTheCsrsOfAListThatFailedHalfway) {
  client_.QueueList(Page({Csr("a", "3")}, "10", "token-1"));
  client_.QueueList(testing::HttpError(503, "ServiceUnavailable"));
  client_.QueueList(Page({Csr("b", "15")}, "20"));  // a was deleted meanwhile
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 1; }));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:a@3", "upsert:b@15", "delete:a", "synced"));
}

TEST_F(CsrInformerTest, RetriesAFailedListAndSkipsUnreadableObjects) {
  client_.QueueList(testing::HttpError(503, "ServiceUnavailable"));
  nlohmann::json broken = Csr("broken", "4");
  broken["spec"].erase("signerName");
  client_.QueueList(Page({broken, Csr("ok", "5")}, "10"));
  client_.QueueWatch(
      WatchScript{std::nullopt,
                  {Event("ADDED", {{"metadata", {{"name", "x"}, {"resourceVersion", "12"}}}})},
                  false,
                  {}});
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:ok@5", "synced"));
  EXPECT_EQ(client_.list_calls().size(), 2u);
  // The unreadable watched object still moves the resume point past it.
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "12");
}

TEST_F(CsrInformerTest, NotSyncedUntilTheListCompletes) {
  client_.QueueList(Page({Csr("a", "1")}, "10", "more"));
  // The second page never comes: List hangs until Stop().
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.list_calls().size() == 2; }));
  EXPECT_FALSE(informer_->synced());
  EXPECT_EQ(informer_->resource_version(), "");
}

TEST_F(CsrInformerTest, StopsPromptlyWhileWatching) {
  client_.QueueList(Page({}, "10"));
  Start();  // the watch then hangs: a healthy, quiet connection
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  informer_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::seconds(1));  // slack for loaded CI
  EXPECT_TRUE(restarts().empty());     // stopping is not a watch restart
  informer_->Stop();                   // idempotent
}

TEST_F(CsrInformerTest, StopsPromptlyDuringBackoff) {
  options_.sleep = nullptr;  // the real wait, which Stop() must cut short
  options_.backoff = {std::chrono::seconds(60), std::chrono::seconds(60), 2.0, 0.0};
  client_.QueueList(testing::HttpError(500, "InternalError"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.list_calls().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  informer_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::seconds(1));  // slack for loaded CI
}

// Without a sleep hook the backoff is a wait on options.clock: after a failed list, the informer
// lists again only once the clock has moved on by the backoff delay, and not before.
TEST_F(CsrInformerTest, TheBackoffAfterAFailedListWaitsForTheClock) {
  options_.sleep = nullptr;
  options_.backoff = {std::chrono::seconds(4), std::chrono::seconds(4), 2.0, 0.0};
  client_.QueueList(testing::HttpError(500, "InternalError"));
  client_.QueueList(Page({Csr("a", "1")}, "10"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.list_calls().size() == 1; }));
  ASSERT_TRUE(clock_.AwaitWaiterDue(std::chrono::seconds(4)));
  clock_.Advance(std::chrono::seconds(4) - std::chrono::milliseconds(1));
  ASSERT_TRUE(clock_.AwaitWaiterDue(std::chrono::milliseconds(1))) << "still backing off";
  EXPECT_EQ(client_.list_calls().size(), 1u);
  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.list_calls().size() == 2; }));
  ASSERT_TRUE(handler_.WaitForSize(2));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:a@1", "synced"));
  informer_->Stop();
}

// Deeply nested JSON: [[[...]]], built without recursion.
nlohmann::json Nested(std::size_t depth) {
  nlohmann::json value = nlohmann::json::array();
  for (std::size_t i = 0; i < depth; ++i) value = nlohmann::json::array({std::move(value)});
  return value;
}

struct HostileEvent {
  const char* what;
  std::string type;
  nlohmann::json object;
};

// Watch events whose fields have types no decoder expects. Each must leave the informer running:
// no exception reaches its guard, and it carries on (relisting when the event was an ERROR).
std::vector<HostileEvent> HostileEvents() {
  const nlohmann::json status = {{"kind", "Status"}, {"status", "Failure"}};
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json object = status;
    object[key] = std::move(value);
    return object;
  };
  nlohmann::json bad_rv = Csr("bad-rv", "1");
  bad_rv["metadata"]["resourceVersion"] = 12;
  nlohmann::json rv_object = Csr("rv-object", "1");
  rv_object["metadata"]["resourceVersion"] = {{"a", 1}};
  nlohmann::json name_number = Csr("x", "1");
  name_number["metadata"]["name"] = 7;
  nlohmann::json nested_spec = Csr("nested", "1");
  nested_spec["spec"]["usages"] = Nested(100000);
  nlohmann::json huge = Csr("huge", "1");
  huge["metadata"]["annotations"] = {{"a", std::string(8 << 20, 'x')}};
  // Built by moving: copying deeply nested JSON recurses once per level.
  std::vector<HostileEvent> events;
  auto add = [&](const char* what, std::string type, nlohmann::json object) {
    events.push_back(HostileEvent{what, std::move(type), std::move(object)});
  };
  add("ERROR code as a string", "ERROR", with("code", "410"));
  add("ERROR code as a float", "ERROR", with("code", 1e300));
  add("ERROR code negative", "ERROR", with("code", -1));
  add("ERROR code too large", "ERROR", with("code", std::numeric_limits<std::uint64_t>::max()));
  add("ERROR reason as a list", "ERROR", with("reason", {1, 2}));
  add("ERROR message as an object", "ERROR", with("message", {{"a", "b"}}));
  add("ERROR kind as a number", "ERROR", {{"kind", 5}, {"code", 500}});
  add("ERROR details as a string", "ERROR", with("details", "causes"));
  add("ERROR causes of wrong types", "ERROR",
      with("details", {{"causes", {1, "x", {{"reason", 5}, {"message", nullptr}}}}}));
  add("ERROR object as a list", "ERROR", nlohmann::json::array({1, 2}));
  add("ERROR object as a string", "ERROR", "boom");
  add("ERROR object null", "ERROR", nullptr);
  add("ERROR nested garbage", "ERROR", with("message", Nested(100000)));
  add("ADDED metadata as a string", "ADDED", {{"metadata", "m"}, {"spec", 1}});
  add("ADDED object as a list", "ADDED", nlohmann::json::array({1}));
  add("ADDED resourceVersion as a number", "ADDED", bad_rv);
  add("MODIFIED resourceVersion as an object", "MODIFIED", rv_object);
  add("DELETED name as a number", "DELETED", name_number);
  add("DELETED object as a number", "DELETED", 3);
  add("BOOKMARK metadata as a list", "BOOKMARK", {{"metadata", {1, 2}}});
  add("ADDED nested garbage", "ADDED", std::move(nested_spec));
  add("ADDED with an 8 MiB annotation", "ADDED", std::move(huge));
  add("an unknown type", "SURPRISE", {{"metadata", {{"resourceVersion", 5}}}});
  return events;
}

TEST_F(CsrInformerTest, SurvivesWatchEventsOfUnexpectedTypes) {
  for (HostileEvent& hostile : HostileEvents()) {
    SCOPED_TRACE(hostile.what);
    FakeApiClient client;
    RecordingHandler handler;
    client.QueueList(Page({}, "10"));
    WatchScript script;  // filled by moving (an initializer list would copy the nesting)
    script.steps.emplace_back(
        std::optional<WatchEvent>(WatchEvent{hostile.type, std::move(hostile.object)}));
    script.steps.push_back(Event("ADDED", Csr("after", "20")));
    client.QueueWatch(std::move(script));
    client.QueueList(Page({Csr("after", "20")}, "30"));  // taken only by a relist
    const int unexpected_before = unexpected_errors();
    CsrInformer informer(client, handler, options_);
    informer.Start();
    // A relist followed only an ERROR; either way the informer watches again, having seen "after".
    ASSERT_TRUE(client.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
    EXPECT_THAT(handler.log(), ::testing::Contains("upsert:after@20"));
    EXPECT_EQ(client.list_calls().size(), hostile.type == "ERROR" ? 2u : 1u);
    informer.Stop();
    EXPECT_EQ(unexpected_errors(), unexpected_before);  // type-checked, not caught
  }
}

TEST_F(CsrInformerTest, SurvivesListAnswersOfUnexpectedTypes) {
  nlohmann::json rv_number = Page({}, "1");
  rv_number["metadata"]["resourceVersion"] = 5;
  nlohmann::json continue_number = Page({Csr("a", "1")}, "9");
  continue_number["metadata"]["continue"] = 42;
  continue_number["items"].push_back(17);
  continue_number["items"].push_back(Nested(100000));
  for (nlohmann::json answer :
       {nlohmann::json::array({1}), nlohmann::json("list"), nlohmann::json(),
        nlohmann::json{{"metadata", "m"}, {"items", nlohmann::json::array()}},
        nlohmann::json{{"metadata", nlohmann::json::object()}, {"items", {{"a", 1}}}}, rv_number}) {
    client_.QueueList(std::move(answer));
  }
  client_.QueueList(std::move(continue_number));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 1; }));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:a@1", "synced"));
  EXPECT_EQ(client_.watch_calls()[0].resource_version, "9");
  EXPECT_THAT(restarts(), ElementsAre("error", "error", "error", "error", "error", "error"));
  EXPECT_EQ(unexpected_errors(), 0);
}

// A handler that throws stands for any bug the guard must contain.
class ThrowingHandler final : public CsrEventHandler {
 public:
  void OnUpsert(const CsrObject& csr) override {
    if (throws_ > 0) {
      --throws_;
      throw std::runtime_error("handler failed on " + csr.name);
    }
    names_.push_back(csr.name);
  }
  void OnDelete(const std::string&) override {}
  void OnSynced() override { ++syncs_; }
  std::atomic<int> throws_{1};
  std::vector<std::string> names_;
  std::atomic<int> syncs_{0};
};

TEST_F(CsrInformerTest, ItsGuardContainsAnExceptionAndRelistsAfterABackoff) {
  ThrowingHandler handler;
  client_.QueueList(Page({Csr("a", "1")}, "10"));  // OnUpsert throws here
  client_.QueueList(Page({Csr("a", "1")}, "10"));
  CsrInformer informer(client_, handler, options_);
  informer.Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 1; }));
  informer.Stop();
  EXPECT_EQ(handler.syncs_.load(), 1);
  EXPECT_EQ(handler.names_, std::vector<std::string>{"a"});
  EXPECT_EQ(unexpected_errors(), 1);
  EXPECT_EQ(sleeps().size(), 1u);
}

// A server answering every list with 410 (or any error) must not be listed in a tight loop: the
// delays grow, as client-go's backoff manager's do, up to 30 s. 600 s of fake time allow
// 0.8+1.6+3.2+6.4+12.8+25.6 s and then one list per >= 30 s: fewer than 30 lists.
TEST_F(CsrInformerTest, BacksOffWhenEveryListIsAnswered410) {
  client_.SetListFallback(testing::HttpError(410, "Expired"));
  ASSERT_TRUE(RunFor(std::chrono::seconds(600), 30));
  EXPECT_GE(client_.list_calls().size(), 6u);
  EXPECT_TRUE(client_.watch_calls().empty());
  const auto delays = sleeps();
  ASSERT_GE(delays.size(), 6u);
  EXPECT_GE(delays[0], std::chrono::milliseconds(800));
  for (std::size_t i = 1; i < 5; ++i) EXPECT_GT(delays[i], delays[i - 1]) << i;
  for (auto delay : delays) EXPECT_LE(delay, std::chrono::seconds(30));
  EXPECT_FALSE(informer_->synced());
  EXPECT_THAT(sync_states(), ElementsAre(false));
}

// A list that works and a watch answered 410 at once: relist, watch, 410, ... also backs off.
TEST_F(CsrInformerTest, BacksOffWhenEveryWatchExpiresAtOnce) {
  client_.SetListFallback(Page({}, "10"));
  client_.SetWatchFallback(WatchScript{std::nullopt, {Expired()}, false, {}});
  ASSERT_TRUE(RunFor(std::chrono::seconds(600), 60));
  EXPECT_GE(client_.watch_calls().size(), 6u);
}

// An L7 proxy that ends every watch at once with no event: client-go's "very short watch" is an
// error, so it is not reconnected to at once (before: ~20 reconnects a second).
TEST_F(CsrInformerTest, TreatsAWatchEndingAtOnceWithNoEventAsAnError) {
  client_.SetListFallback(Page({}, "10"));
  client_.SetWatchFallback(WatchScript{std::nullopt, {}, false, {}});
  ASSERT_TRUE(RunFor(std::chrono::seconds(600), 60));
  EXPECT_GE(client_.watch_calls().size(), 6u);
  for (const std::string& reason : restarts()) EXPECT_EQ(reason, "error");
  const auto delays = sleeps();
  ASSERT_GE(delays.size(), 5u);
  for (std::size_t i = 1; i < 5; ++i) EXPECT_GT(delays[i], delays[i - 1]) << i;
}

TEST_F(CsrInformerTest, ReconnectsAtOnceAfterAWatchEndedCleanlyAfterASecond) {
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(
      WatchScript{std::nullopt, {}, false, [this] { clock_.Advance(std::chrono::seconds(2)); }});
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(restarts(), ElementsAre("closed"));
  EXPECT_TRUE(sleeps().empty());
}

// The backoff starts over after a quiet period (client-go: 2 minutes without a backoff).
TEST_F(CsrInformerTest, BackoffStartsOverAfterTwoQuietMinutes) {
  client_.QueueList(Page({}, "10"));
  for (int i = 0; i < 3; ++i)
    client_.QueueWatch(WatchScript{testing::NetworkError(), {}, false, {}});
  client_.QueueWatch(WatchScript{
      std::nullopt, {Bookmark("11")}, false, [this] { clock_.Advance(std::chrono::minutes(5)); }});
  client_.QueueWatch(WatchScript{testing::NetworkError(), {}, false, {}});
  options_.backoff.jitter = 0;
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 6; }));
  EXPECT_THAT(sleeps(),
              ElementsAre(std::chrono::milliseconds(800), std::chrono::milliseconds(1600),
                          std::chrono::milliseconds(3200), std::chrono::milliseconds(800)));
}

// "Too large resource version" (an etcd restore: the server is behind our resourceVersion) at the
// watch's open (504 with the cause ResourceVersionTooLarge) or as an ERROR event: watching the
// same resourceVersion again can never succeed; relist with resourceVersion="" (a consistent read,
// client-go's relistResourceVersion after isTooLargeResourceVersionError) and watch from there.
TEST_F(CsrInformerTest, RelistsAfterATooLargeResourceVersion) {
  const std::string too_large =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Timeout: Too large )"
      R"(resource version: 90, current: 40","reason":"Timeout","details":{"causes":[{"reason":)"
      R"("ResourceVersionTooLarge","message":"Too large resource version"}],"retryAfterSeconds":1},)"
      R"("code":504})";
  client_.QueueList(Page({Csr("a", "90")}, "90"));
  client_.QueueWatch(WatchScript{DecodeApiError(504, too_large, "1", "GET watch"), {}, false, {}});
  client_.QueueList(Page({Csr("b", "40")}, "40"));
  client_.QueueWatch(
      WatchScript{std::nullopt,
                  {Event("ERROR", {{"kind", "Status"},
                                   {"status", "Failure"},
                                   {"reason", "Timeout"},
                                   {"message", "Too large resource version: 41, current: 40"},
                                   {"code", 504}})},
                  false,
                  {}});
  client_.QueueList(Page({Csr("b", "40")}, "45"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 3; }));
  const auto lists = client_.list_calls();
  ASSERT_EQ(lists.size(), 3u);
  for (const auto& list : lists) EXPECT_EQ(list.resource_version, "");
  const auto watches = client_.watch_calls();
  EXPECT_EQ(watches[0].resource_version, "90");
  EXPECT_EQ(watches[1].resource_version, "40");
  EXPECT_EQ(watches[2].resource_version, "45");
  EXPECT_THAT(restarts(), ElementsAre("expired", "expired"));
  EXPECT_THAT(handler_.log(), ElementsAre("upsert:a@90", "synced", "upsert:b@40", "delete:a",
                                          "synced", "upsert:b@40", "synced"));
}

// What readiness is built on: in touch after a list or an accepted watch, out after failures.
TEST_F(CsrInformerTest, ReportsWhenItLosesAndRegainsTouchWithTheServer) {
  client_.QueueList(testing::HttpError(403, "Forbidden"));
  client_.QueueList(testing::HttpError(401, "Unauthorized"));
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(WatchScript{testing::HttpError(503, "ServiceUnavailable"), {}, false, {}});
  client_.QueueList(Page({}, "11"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(sync_states(), ElementsAre(false, true, false, true));
  EXPECT_THAT(restarts(), ElementsAre("error", "error", "error"));  // list failures are counted
}

}  // namespace
}  // namespace kca::kube
