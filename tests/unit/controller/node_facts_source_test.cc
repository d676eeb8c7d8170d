#include "kube_csr_approver/controller/node_facts_source.h"

#include <gtest/gtest.h>

#include "fake_api_client.h"
#include "fake_clock.h"

namespace kca::controller {
namespace {

using namespace std::chrono_literals;

nlohmann::json ReadyNode(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"resourceVersion", "7"}}},
          {"status", {{"addresses", {{{"type", "Hostname"}, {"address", name + ".nodes"}}}}}}};
}

class ApiNodeFactsSourceTest : public ::testing::Test {
 protected:
  NodeFact Lookup(const std::string& node) {
    FactsNeeded needed;
    needed.node_name = node;
    return source_.Fetch(needed, nullptr).node;
  }
  int Gets(const std::string& node) {
    int gets = 0;
    for (const auto& call : api_.calls())
      gets += call.verb == "get" && call.path == "/api/v1/nodes/" + node;
    return gets;
  }

  testing::FakeClock clock_;
  testing::FakeApiClient api_;
  ApproverMetrics metrics_{"test", "test"};
  NodeFactsOptions options_{.cache_ttl = 2s, .qps = 0, .burst = 1};
  ApiNodeFactsSource source_{api_, metrics_, clock_, options_};
};

TEST_F(ApiNodeFactsSourceTest, AFoundNodeIsReusedWithinItsTtl) {
  api_.Store("/api/v1/nodes/n1", ReadyNode("n1"));
  EXPECT_EQ(Lookup("n1").state, FactState::kKnown);
  clock_.Advance(1s);
  EXPECT_EQ(Lookup("n1").state, FactState::kKnown);
  EXPECT_EQ(Gets("n1"), 1);
  clock_.Advance(1s);
  EXPECT_EQ(Lookup("n1").state, FactState::kKnown);
  EXPECT_EQ(Gets("n1"), 2);
}

// A cluster that replaces its machines sees every kubelet once: the Nodes looked up long ago
// must not stay cached (the approver runs for months). Before, each stayed until its own name
// was looked up again, so this held 1001 entries.
TEST_F(ApiNodeFactsSourceTest, ExpiredNodesOfOtherNamesAreDropped) {
  for (int i = 0; i < 1000; ++i) {
    const std::string name = "old-" + std::to_string(i);
    api_.Store("/api/v1/nodes/" + name, ReadyNode(name));
    ASSERT_EQ(Lookup(name).state, FactState::kKnown);
  }
  EXPECT_EQ(source_.cached_facts(), 1000u);
  clock_.Advance(options_.cache_ttl);
  api_.Store("/api/v1/nodes/new", ReadyNode("new"));
  ASSERT_EQ(Lookup("new").state, FactState::kKnown);
  EXPECT_EQ(source_.cached_facts(), 1u);
}

TEST_F(ApiNodeFactsSourceTest, FreshNodesStayWhenOthersExpire) {
  api_.Store("/api/v1/nodes/a", ReadyNode("a"));
  api_.Store("/api/v1/nodes/b", ReadyNode("b"));
  api_.Store("/api/v1/nodes/c", ReadyNode("c"));
  ASSERT_EQ(Lookup("a").state, FactState::kKnown);
  clock_.Advance(1500ms);
  ASSERT_EQ(Lookup("b").state, FactState::kKnown);
  clock_.Advance(1s);  // a expired, b still fresh
  ASSERT_EQ(Lookup("c").state, FactState::kKnown);
  EXPECT_EQ(source_.cached_facts(), 2u);
  EXPECT_EQ(Lookup("b").state, FactState::kKnown);
  EXPECT_EQ(Gets("b"), 1);  // served from the cache
}

}  // namespace
}  // namespace kca::controller
