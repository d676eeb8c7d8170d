#include "kube_csr_approver/controller/approval_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_api_client.h"
#include "fake_clock.h"
#include "kube_csr_approver/controller/decision_sink.h"
#include "test_support.h"

namespace kca::controller {
namespace {

TEST(TruncateTest, CutsAtACharacterBoundaryAndMarksTheCut) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("abcdefghij", 8), "abcde...");
  // "é" is two bytes: a cut in its middle backs up before it.
  const std::string text =
      "abcd\xC3\xA9"
      "fgh";
  const std::string cut = Truncate(text, 8);
  EXPECT_EQ(cut, "abcd...");
  EXPECT_LE(cut.size(), 8u);
}

TEST(DecisionMessageTest, NamesTheRuleOrTheDefaultAndStaysBounded) {
  Decision approve{Action::kApprove, "ci", {}, {}, "other"};
  EXPECT_EQ(DecisionMessage(approve), "Approved by kube-csr-approver: rule \"ci\"");
  Decision deny{Action::kDeny, std::nullopt, {"no rule selects this CSR"}, {}, "other"};
  EXPECT_EQ(DecisionMessage(deny),
            "Denied by kube-csr-approver: defaultAction: no rule selects this CSR");
  Decision flood{
      Action::kDeny, "r", std::vector<std::string>(500, "organization x not allowed"), {}, "other"};
  const std::string message = DecisionMessage(flood);
  EXPECT_EQ(message.size(), kMaxMessageBytes);
  EXPECT_TRUE(message.ends_with("..."));
}

// A CSR as another tool leaves it: labels, annotations, a finalizer, an owner and a condition.
nlohmann::json CsrWithOthersMetadata() {
  nlohmann::json object = testing::CsrJson("a", "alice", "alice", "team-a", "42");
  object["metadata"]["labels"] = {{"team", "a"}};
  object["metadata"]["annotations"] = {{"example.com/ticket", "T-1"}};
  object["metadata"]["finalizers"] = {"example.com/keep"};
  object["metadata"]["ownerReferences"] = {
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "owner"}, {"uid", "owner-uid"}}};
  object["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
  object["metadata"]["generation"] = 1;
  object["status"]["conditions"] = {{{"type", "Failed"},
                                     {"status", "False"},
                                     {"reason", "R"},
                                     {"message", "M"},
                                     {"lastUpdateTime", "2026-01-01T00:00:00Z"},
                                     {"lastTransitionTime", "2026-01-01T00:00:01Z"}}};
  return object;
}

Decision Approve() {
  Decision decision;
  decision.action = Action::kApprove;
  decision.rule = "alice-clients";
  return decision;
}

// Issue 9 item 1: the old write PUT an object rebuilt from name/uid/resourceVersion only, and
// kube-apiserver takes an /approval update's metadata from the body, so other tools' labels,
// annotations, finalizers and owners were removed. The patch names nothing but the conditions
// and the preconditions: merged into the stored object (RFC 7386, as
// staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go does) only the conditions change.
TEST(ApprovalPatchTest, ChangesNothingButTheConditions) {
  const nlohmann::json stored = CsrWithOthersMetadata();
  const CsrObject csr = testing::MustDecode(stored);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1798761600));
  const nlohmann::json patch = ApprovalPatch(csr, Approve(), now);

  EXPECT_EQ(patch["metadata"], (nlohmann::json{{"uid", "uid-a"}, {"resourceVersion", "42"}}));
  ASSERT_EQ(patch.size(), 2u);
  ASSERT_EQ(patch["status"].size(), 1u);

  nlohmann::json merged = stored;
  merged.merge_patch(patch);
  const nlohmann::json changes = nlohmann::json::diff(stored, merged);
  ASSERT_EQ(changes.size(), 1u) << changes.dump();
  EXPECT_EQ(changes[0]["op"], "add");
  EXPECT_EQ(changes[0]["path"], "/status/conditions/-") << "appended to the list";
  EXPECT_EQ(changes[0]["value"]["type"], "Approved");
  EXPECT_EQ(changes[0]["value"]["status"], "True");
  EXPECT_EQ(changes[0]["value"]["reason"], "AutoApproved");
  EXPECT_EQ(changes[0]["value"]["lastUpdateTime"], "2027-01-01T00:00:00Z");
  // The existing condition went back exactly as it was (the list is replaced whole).
  EXPECT_EQ(merged["status"]["conditions"][0], stored["status"]["conditions"][0]);
}

TEST(ApprovalPatchTest, DenyAddsADeniedCondition) {
  const CsrObject csr = testing::MustDecode(testing::CsrJson("a", "alice", "alice", "team-a"));
  Decision deny;
  deny.action = Action::kDeny;
  deny.reasons = {"organizations: \"x\" not allowed"};
  const nlohmann::json patch = ApprovalPatch(csr, deny, std::chrono::system_clock::now());
  ASSERT_EQ(patch["status"]["conditions"].size(), 1u);
  EXPECT_EQ(patch["status"]["conditions"][0]["type"], "Denied");
  EXPECT_EQ(patch["status"]["conditions"][0]["reason"], "AutoDenied");
  EXPECT_EQ(patch["status"]["conditions"][0]["message"], DecisionMessage(deny));
}

// Issue 9 item 6: approval writes retried inside the HTTP client (429 x Retry-After x 5
// attempts) landed after the leader gate had closed. The writer makes one HTTP attempt per
// call, hands a 429's Retry-After to the queue, asks the gate before every attempt and aborts
// a write in flight when the gate closes.
class ApprovalWriterTest : public ::testing::Test {
 protected:
  ApprovalWriterTest() {
    api_.Store(CsrPath("a"), testing::CsrJson("a", "alice", "alice", "team-a"));
  }
  CsrObject Csr() { return testing::MustDecode(*api_.Object(CsrPath("a"))); }
  static kube::ApiError Throttled() {
    kube::ApiError error = testing::MakeApiError(429, "TooManyRequests");
    error.retry_after = std::chrono::seconds(7);
    return error;
  }

  testing::FakeClock clock_;
  testing::FakeApiClient api_;
  std::atomic<bool> leader_{true};
  WriteGate gate_{[this] { return leader_.load(); }};
  ApprovalWriter writer_{api_, clock_, gate_};
};

TEST_F(ApprovalWriterTest, OneAttemptPerCallAndA429GoesBackToTheQueueWithItsRetryAfter) {
  api_.FailNextWrites(100, Throttled());
  const WriteOutcome outcome = writer_.Write(Csr(), Approve());
  EXPECT_EQ(outcome.kind, WriteOutcome::Kind::kRetry);
  EXPECT_EQ(outcome.retry_after, std::chrono::seconds(7));
  EXPECT_FALSE(outcome.failure.has_value()) << "throttling is not a decision error";
  ASSERT_EQ(api_.CountCalls("patch"), 1);
  EXPECT_EQ(api_.calls()[0].max_attempts, 1) << "the client must not retry it inside";
}

TEST_F(ApprovalWriterTest, LosingLeadershipStopsEveryFurtherWriteAttempt) {
  api_.FailNextWrites(100, Throttled());
  ASSERT_EQ(writer_.Write(Csr(), Approve()).kind, WriteOutcome::Kind::kRetry);
  leader_ = false;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(writer_.Write(Csr(), Approve()).kind, WriteOutcome::Kind::kGateClosed);
  }
  EXPECT_EQ(api_.CountCalls("patch"), 1) << "no write after the gate closed";
}

TEST_F(ApprovalWriterTest, TheClientAsksTheGateAgainRightBeforeSending) {
  // Open for the writer's own check, closed by the time the client would send (e.g. during
  // its rate limiter's wait): nothing goes out.
  int checks = 0;
  WriteGate closes_after_the_first_check([&] { return ++checks == 1; });
  ApprovalWriter writer(api_, clock_, closes_after_the_first_check);
  EXPECT_EQ(writer.Write(Csr(), Approve()).kind, WriteOutcome::Kind::kGateClosed);
  EXPECT_GE(checks, 2);
  EXPECT_EQ(api_.CountCalls("patch"), 0);
}

TEST_F(ApprovalWriterTest, AWriteInFlightIsCancelledWhenTheGateCloses) {
  api_.BlockWrites(true);
  std::optional<WriteOutcome> outcome;
  std::thread worker([&] { outcome = writer_.Write(Csr(), Approve()); });
  ASSERT_TRUE(api_.WaitForBlockedWrites(1));
  leader_ = false;
  gate_.Refresh();  // what the controller does on losing leadership
  worker.join();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->kind, WriteOutcome::Kind::kGateClosed);
  EXPECT_TRUE(api_.Object(CsrPath("a")).value()["status"]["conditions"].empty());
}

TEST_F(ApprovalWriterTest, ShutdownCancelsAWriteInFlightAsARetry) {
  api_.BlockWrites(true);
  kube::Cancellation stop;
  std::optional<WriteOutcome> outcome;
  std::thread worker([&] { outcome = writer_.Write(Csr(), Approve(), &stop); });
  ASSERT_TRUE(api_.WaitForBlockedWrites(1));
  stop.Cancel();
  worker.join();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->kind, WriteOutcome::Kind::kRetry);
  EXPECT_FALSE(outcome->failure.has_value()) << "a shutdown is not a decision error";
}

TEST_F(ApprovalWriterTest, ARefreshWhileOpenCancelsNothing) {
  gate_.Refresh();
  EXPECT_FALSE(gate_.Term()->cancelled());
  EXPECT_EQ(writer_.Write(Csr(), Approve()).kind, WriteOutcome::Kind::kWritten);
}

TEST_F(ApprovalWriterTest, ACsrRecreatedUnderTheNameIsNotWrittenWithTheOldDecision) {
  const CsrObject old = Csr();
  api_.Store(CsrPath("a"), testing::CsrJson("a", "alice", "alice", "team-a", "9"));
  nlohmann::json recreated = *api_.Object(CsrPath("a"));
  recreated["metadata"]["uid"] = "uid-other";
  api_.Store(CsrPath("a"), recreated);
  const WriteOutcome outcome = writer_.Write(old, Approve());
  EXPECT_EQ(outcome.kind, WriteOutcome::Kind::kRetry);
  ASSERT_TRUE(outcome.stored.has_value());
  EXPECT_EQ(outcome.stored->uid, "uid-other");
  EXPECT_EQ(api_.CountCalls("patch"), 1);
  EXPECT_TRUE(api_.Object(CsrPath("a")).value()["status"]["conditions"].empty());
}

TEST(AuditFieldsTest, DescribeTheRequestWithoutItsBytes) {
  const nlohmann::json object = testing::CsrJson("a", "alice", "alice", "team-a");
  const CsrObject csr = testing::MustDecode(object);
  const Decision decision{Action::kLog, std::nullopt, {"no rule selects this CSR"}, {}, "other"};
  const auto fields = AuditFields(csr, InspectEncodedRequest(csr.request), decision);
  EXPECT_EQ(fields["csr"], "a");
  EXPECT_EQ(fields["uid"], "uid-a");
  EXPECT_EQ(fields["requestor"], "alice");
  EXPECT_EQ(fields["subject"], "CN=alice, O=team-a");
  EXPECT_EQ(fields["key"], "ECDSA P-256");
  EXPECT_TRUE(fields["rule"].is_null());
  EXPECT_EQ(fields["decision"], "log");
  EXPECT_EQ(fields.dump().find(csr.request), std::string::npos);

  const auto refused = AuditFields(csr, InspectEncodedRequest("bm90IGEgcmVxdWVzdA=="), decision);
  EXPECT_TRUE(refused.contains("request_error"));
}

}  // namespace
}  // namespace kca::controller
