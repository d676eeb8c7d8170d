#include "kube_csr_approver/controller/pending_csr_cache.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

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
  PendingCsrCache cache_{clock_};
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

TEST_F(PendingCsrCacheTest, ContainsAndForEachSeeOnlyPendingCsrs) {
  ASSERT_EQ(cache_.Upsert(Pending("a")), Upsert::kAdded);
  ASSERT_EQ(cache_.Upsert(Pending("b")), Upsert::kAdded);
  cache_.MarkDecided("b", "uid-1");
  EXPECT_TRUE(cache_.Contains("a"));
  EXPECT_FALSE(cache_.Contains("b"));
  std::vector<std::string> seen;
  cache_.ForEach([&](const PendingCsr& pending) { seen.push_back(pending.csr.name); });
  EXPECT_EQ(seen, std::vector<std::string>{"a"});
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
