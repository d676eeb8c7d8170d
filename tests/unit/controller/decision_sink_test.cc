#include "kube_csr_approver/controller/decision_sink.h"

#include <gtest/gtest.h>

#include "fake_clock.h"
#include "test_support.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

CsrObject Pending(const std::string& name, const std::string& rv = "1",
                  const std::string& uid = "uid-1") {
  CsrObject csr;
  csr.name = name;
  csr.uid = uid;
  csr.resource_version = rv;
  csr.request = "UkVRVUVTVA==";
  csr.signer_name = "example.com/signer";
  csr.username = "alice";
  return csr;
}

LoadedPolicy PolicyVersion(const std::string& sha256) {
  LoadedPolicy policy;
  policy.summary.sha256 = sha256;
  return policy;
}

class DecisionSinkTest : public ::testing::Test {
 protected:
  bool Audit(const CsrObject& csr, const std::string& sha256) {
    Decision decision;
    decision.action = Action::kLog;
    return sink_.Audited(csr, Error{"not inspected"}, decision, PolicyVersion(sha256), false);
  }

  testing::CapturedLog log_;
  testing::FakeClock clock_;
  ApproverMetrics metrics_{"test", "test"};
  DecisionSink sink_{metrics_, clock_, nullptr};
  PendingCsrCache cache_{clock_};
};

// Log and dry-run decisions reach the audit log once per CSR and policy version, not on every
// resync or new resourceVersion; a CSR re-created under the name (new uid) is audited again.
TEST_F(DecisionSinkTest, AuditsOncePerCsrAndPolicyVersion) {
  EXPECT_TRUE(Audit(Pending("a"), "sha-1"));
  EXPECT_FALSE(Audit(Pending("a"), "sha-1"));
  EXPECT_FALSE(Audit(Pending("a", "2"), "sha-1")) << "a new resourceVersion is the same CSR";
  EXPECT_TRUE(Audit(Pending("a", "2"), "sha-2")) << "a new policy version is audited again";
  EXPECT_TRUE(Audit(Pending("a", "3", "uid-2"), "sha-2")) << "a new uid is another CSR";
  EXPECT_TRUE(Audit(Pending("b"), "sha-2"));
  EXPECT_EQ(log_.Count("\"csr decided\""), 4);
  EXPECT_EQ(testing::MetricValue(metrics_,
                                 "kube_csr_approver_decisions_total{decision=\"logged\","
                                 "rule=\"none\",signer=\"other\"}"),
            4);
}

// The marks of CSRs that left the cache are forgotten (bounded memory); a CSR seen again after
// that is audited again, as a new arrival is.
TEST_F(DecisionSinkTest, ForgetsTheAuditMarksOfCsrsNoLongerPending) {
  ASSERT_EQ(cache_.Upsert(Pending("kept")), PendingCsrCache::UpsertResult::kAdded);
  EXPECT_TRUE(Audit(Pending("kept"), "sha-1"));
  EXPECT_TRUE(Audit(Pending("gone"), "sha-1"));
  sink_.ForgetAuditsExcept([&](const std::string& name) { return cache_.Contains(name); });
  EXPECT_FALSE(Audit(Pending("kept"), "sha-1"));
  EXPECT_TRUE(Audit(Pending("gone"), "sha-1"));
}

TEST_F(DecisionSinkTest, PendingGaugesBySignerLabel) {
  CsrObject other = Pending("b");
  other.signer_name = "attacker.example/x";
  ASSERT_EQ(cache_.Upsert(Pending("a")), PendingCsrCache::UpsertResult::kAdded);
  clock_.Advance(10s);
  ASSERT_EQ(cache_.Upsert(other), PendingCsrCache::UpsertResult::kAdded);
  ASSERT_EQ(cache_.Upsert(Pending("c")), PendingCsrCache::UpsertResult::kAdded);
  clock_.Advance(5s);
  auto label = [](const CsrObject& csr) {
    return csr.signer_name == "example.com/signer" ? csr.signer_name : std::string("other");
  };
  auto gauges = PendingGauges(cache_, label, clock_);
  ASSERT_EQ(gauges.size(), 2u);
  EXPECT_EQ(gauges["example.com/signer"].count, 2);
  EXPECT_DOUBLE_EQ(gauges["example.com/signer"].oldest_age_seconds, 15);
  EXPECT_EQ(gauges["other"].count, 1);
  EXPECT_DOUBLE_EQ(gauges["other"].oldest_age_seconds, 5);

  // The labels follow the labeller (the policy in force), not what the cache saw first.
  gauges = PendingGauges(
      cache_,
      [](const CsrObject& csr) {
        return csr.signer_name == "attacker.example/x" ? std::string("attacker.example/*")
                                                       : csr.signer_name;
      },
      clock_);
  EXPECT_EQ(gauges.count("other"), 0u);
  EXPECT_EQ(gauges["attacker.example/*"].count, 1);
}

TEST_F(DecisionSinkTest, PendingAgeCountsFromCreationTimestampAcrossRestarts) {
  auto label = [](const CsrObject& csr) {
    return csr.signer_name == "example.com/signer" ? csr.signer_name : std::string("other");
  };
  // A CSR created 10 minutes before this process (just restarted) first saw it.
  clock_.SetWall(std::chrono::system_clock::from_time_t(1'800'000'600));
  CsrObject old = Pending("old");
  old.creation_timestamp = "2027-01-15T08:00:00Z";  // 1'800'000'000
  ASSERT_EQ(cache_.Upsert(old), PendingCsrCache::UpsertResult::kAdded);
  clock_.Advance(5s);
  EXPECT_DOUBLE_EQ(PendingGauges(cache_, label, clock_)["example.com/signer"].oldest_age_seconds,
                   605);

  CsrObject skewed = Pending("skewed");  // created "in the future" by a skewed clock
  skewed.signer_name = "x.example/y";
  skewed.creation_timestamp = "2030-01-01T00:00:00Z";
  ASSERT_EQ(cache_.Upsert(skewed), PendingCsrCache::UpsertResult::kAdded);
  EXPECT_DOUBLE_EQ(PendingGauges(cache_, label, clock_)["other"].oldest_age_seconds, 0);
}

}  // namespace
}  // namespace kca::controller
