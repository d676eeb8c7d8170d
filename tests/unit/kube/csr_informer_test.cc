#include "kube_csr_approver/kube/csr_informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_api_client.h"

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

class CsrInformerTest : public ::testing::Test {
 protected:
  CsrInformerTest() {
    options_.backoff = {std::chrono::milliseconds(1), std::chrono::milliseconds(5), 2.0, 0.0};
    options_.seed = 7;
    options_.on_watch_restart = [this](WatchRestartReason reason) {
      std::lock_guard lock(mutex_);
      restarts_.emplace_back(ToString(reason));
    };
  }
  std::vector<std::string> restarts() {
    std::lock_guard lock(mutex_);
    return restarts_;
  }
  void Start() {
    informer_ = std::make_unique<CsrInformer>(client_, handler_, options_);
    informer_->Start();
  }

  FakeApiClient client_;
  RecordingHandler handler_;
  CsrInformerOptions options_;
  std::mutex mutex_;
  std::vector<std::string> restarts_;
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
                                 false});
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
  client_.QueueWatch(WatchScript{std::nullopt, {Event("ADDED", Csr("c", "11")), Expired()}, false});
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
  client_.QueueWatch(WatchScript{testing::HttpError(410, "Gone"), {}, false});
  client_.QueueList(Page({Csr("z", "50")}, "50"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 2; }));
  EXPECT_THAT(handler_.log(), ElementsAre("synced", "upsert:z@50", "synced"));
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "50");
  EXPECT_THAT(restarts(), ElementsAre("expired"));
}

TEST_F(CsrInformerTest, ResumesAfterADroppedConnectionOrServerError) {
  client_.QueueList(Page({}, "10"));
  client_.QueueWatch(
      WatchScript{std::nullopt, {Event("ADDED", Csr("a", "11")), testing::NetworkError()}, false});
  client_.QueueWatch(WatchScript{testing::HttpError(500, "InternalError"), {}, false});
  client_.QueueWatch(WatchScript{
      std::nullopt,
      {Event("ERROR", {{"kind", "Status"}, {"reason", "InternalError"}, {"code", 500}})},
      false});
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.watch_calls().size() == 4; }));
  const auto watches = client_.watch_calls();
  EXPECT_EQ(watches[0].resource_version, "10");
  for (std::size_t i = 1; i < watches.size(); ++i) EXPECT_EQ(watches[i].resource_version, "11");
  EXPECT_THAT(restarts(), ElementsAre("closed", "error", "error"));
  EXPECT_EQ(client_.list_calls().size(), 1u);
}

TEST_F(CsrInformerTest, RetriesAFailedListAndSkipsUnreadableObjects) {
  client_.QueueList(testing::HttpError(503, "ServiceUnavailable"));
  nlohmann::json broken = Csr("broken", "4");
  broken["spec"].erase("signerName");
  client_.QueueList(Page({broken, Csr("ok", "5")}, "10"));
  client_.QueueWatch(
      WatchScript{std::nullopt,
                  {Event("ADDED", {{"metadata", {{"name", "x"}, {"resourceVersion", "12"}}}})},
                  false});
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
  options_.backoff = {std::chrono::seconds(60), std::chrono::seconds(60), 2.0, 0.0};
  client_.QueueList(testing::HttpError(500, "InternalError"));
  Start();
  ASSERT_TRUE(client_.WaitFor([](const FakeApiClient& c) { return c.list_calls().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  informer_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::seconds(1));  // slack for loaded CI
}

}  // namespace
}  // namespace kca::kube
