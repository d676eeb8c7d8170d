#include "kube_csr_approver/controller/pending_csr_cache.h"

#include <gtest/gtest.h>

#include "kube/fake_clock.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;
using Upsert = PendingCsrCache::UpsertResult;

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

CsrObject WithCondition(CsrObject csr, const std::string& type, const std::string& status) {
  csr.conditions.push_back({type, status, "Test", "", "", ""});
  return csr;
}

class PendingCsrCacheTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  PendingCsrCache cache_{clock_, [](const CsrObject& csr) {
                           return csr.signer_name == "example.com/signer" ? csr.signer_name
                                                                          : std::string("other");
                         }};
};

TEST(IsDecidedTest, OnlyTrueTerminalConditionsOrACertificateDecide) {
  EXPECT_FALSE(IsDecided(Pending("a")));
  EXPECT_TRUE(IsDecided(WithCondition(Pending("a"), "Approved", "True")));
  EXPECT_TRUE(IsDecided(WithCondition(Pending("a"), "Denied", "True")));
  EXPECT_TRUE(IsDecided(WithCondition(Pending("a"), "Failed", "True")));
  EXPECT_FALSE(IsDecided(WithCondition(Pending("a"), "Approved", "False")));
  EXPECT_FALSE(IsDecided(WithCondition(Pending("a"), "SomethingNew", "True")));
  CsrObject issued = Pending("a");
  issued.has_certificate = true;
  EXPECT_TRUE(IsDecided(issued));
}

TEST_F(PendingCsrCacheTest, KeepsPendingAndDropsDecided) {
  EXPECT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  EXPECT_EQ(cache_.Upsert(Pending("a")), Upsert::kUnchanged);
  EXPECT_EQ(cache_.Upsert(Pending("a", "2")), Upsert::kChanged);
  EXPECT_EQ(cache_.Get("a")->csr.resource_version, "2");
  EXPECT_EQ(cache_.Upsert(WithCondition(Pending("a", "3"), "Denied", "True")), Upsert::kRemoved);
  EXPECT_FALSE(cache_.Get("a").has_value());
  EXPECT_EQ(cache_.Upsert(WithCondition(Pending("b"), "Approved", "True")), Upsert::kIgnored);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(PendingCsrCacheTest, FirstSeenSurvivesUpdatesButNotANewUid) {
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  const auto first = cache_.Get("a")->first_seen;
  clock_.Advance(5s);
  ASSERT_EQ(cache_.Upsert(Pending("a", "2")), Upsert::kChanged);
  EXPECT_EQ(cache_.Get("a")->first_seen, first);
  ASSERT_EQ(cache_.Upsert(Pending("a", "9", "uid-2")), Upsert::kChanged);
  EXPECT_EQ(cache_.Get("a")->first_seen, first + 5s);
}

TEST_F(PendingCsrCacheTest, AStaleCopyOfACsrWeDecidedIsIgnoredUntilDeleted) {
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  cache_.MarkDecided("a", "uid-1");
  EXPECT_FALSE(cache_.Get("a").has_value());
  EXPECT_EQ(cache_.Upsert(Pending("a")), Upsert::kIgnored);
  // The name reused by a new object is a new CSR.
  EXPECT_EQ(cache_.Upsert(Pending("a", "5", "uid-2")), Upsert::kAdded);
  cache_.MarkDecided("a", "uid-2");
  cache_.Remove("a");
  EXPECT_EQ(cache_.Upsert(Pending("a", "7", "uid-2")), Upsert::kAdded);
}

TEST_F(PendingCsrCacheTest, AuditsOncePerPolicyVersion) {
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  EXPECT_TRUE(cache_.MarkAudited("a", "sha-1"));
  EXPECT_FALSE(cache_.MarkAudited("a", "sha-1"));
  ASSERT_EQ(cache_.Upsert(Pending("a", "2")), Upsert::kChanged);
  EXPECT_FALSE(cache_.MarkAudited("a", "sha-1"));
  EXPECT_TRUE(cache_.MarkAudited("a", "sha-2"));
}

TEST_F(PendingCsrCacheTest, PendingGaugesBySignerLabel) {
  CsrObject other = Pending("b");
  other.signer_name = "attacker.example/x";
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  clock_.Advance(10s);
  ASSERT_EQ(cache_.Upsert(other), Upsert::kAdded);
  ASSERT_EQ(cache_.Upsert(Pending("c")), Upsert::kAdded);
  clock_.Advance(5s);
  auto gauges = cache_.PendingBySigner();
  ASSERT_EQ(gauges.size(), 2u);
  EXPECT_EQ(gauges["example.com/signer"].count, 2);
  EXPECT_DOUBLE_EQ(gauges["example.com/signer"].oldest_age_seconds, 15);
  EXPECT_EQ(gauges["other"].count, 1);
  EXPECT_DOUBLE_EQ(gauges["other"].oldest_age_seconds, 5);

  cache_.SetSignerLabel("b", "attacker.example/*");
  gauges = cache_.PendingBySigner();
  EXPECT_EQ(gauges.count("other"), 0u);
  EXPECT_EQ(gauges["attacker.example/*"].count, 1);
}

TEST_F(PendingCsrCacheTest, PendingAgeCountsFromCreationTimestampAcrossRestarts) {
  // A CSR created 10 minutes before this process (just restarted) first saw it.
  clock_.SetWall(std::chrono::system_clock::from_time_t(1'800'000'600));
  CsrObject old = Pending("old");
  old.creation_timestamp = "2027-01-15T08:00:00Z";  // 1'800'000'000
  ASSERT_EQ(cache_.Upsert(old), Upsert::kAdded);
  clock_.Advance(5s);
  EXPECT_DOUBLE_EQ(cache_.PendingBySigner()["example.com/signer"].oldest_age_seconds, 605);

  CsrObject skewed = Pending("skewed");  // created "in the future" by a skewed clock
  skewed.signer_name = "x.example/y";
  skewed.creation_timestamp = "2030-01-01T00:00:00Z";
  ASSERT_EQ(cache_.Upsert(skewed), Upsert::kAdded);
  EXPECT_DOUBLE_EQ(cache_.PendingBySigner()["other"].oldest_age_seconds, 0);
}

TEST_F(PendingCsrCacheTest, KeysNameTheRequestor) {
  CsrObject bob = Pending("b");
  bob.username = "bob";
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  ASSERT_EQ(cache_.Upsert(bob), Upsert::kAdded);
  auto keys = cache_.Keys();
  ASSERT_EQ(keys.size(), 2u);
  std::map<std::string, std::string> by_name;
  for (const auto& key : keys) by_name[key.name] = key.requestor;
  EXPECT_EQ(by_name["a"], "alice");
  EXPECT_EQ(by_name["b"], "bob");
}

}  // namespace
}  // namespace kca::controller
