#include "kube_csr_approver/controller/approval_writer.h"

#include <gtest/gtest.h>

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

TEST(EncodeCsrObjectTest, RoundTripsThroughTheDecoder) {
  nlohmann::json object = testing::CsrJson("a", "alice", "alice", "team-a", "42");
  object["spec"]["expirationSeconds"] = 3600;
  object["spec"]["extra"] = {{"scopes", {"x", "y"}}};
  object["status"]["conditions"] = {{{"type", "Failed"},
                                     {"status", "False"},
                                     {"reason", "R"},
                                     {"message", "M"},
                                     {"lastUpdateTime", "2026-01-01T00:00:00Z"},
                                     {"lastTransitionTime", "2026-01-01T00:00:01Z"}}};
  const CsrObject csr = testing::MustDecode(object);
  const CsrObject again = testing::MustDecode(EncodeCsrObject(csr));
  EXPECT_EQ(again.name, "a");
  EXPECT_EQ(again.resource_version, "42");
  EXPECT_EQ(again.request, csr.request);
  EXPECT_EQ(again.usages, csr.usages);
  EXPECT_EQ(again.groups, csr.groups);
  EXPECT_EQ(again.extra, csr.extra);
  EXPECT_EQ(again.expiration_seconds, 3600);
  ASSERT_EQ(again.conditions.size(), 1u);
  EXPECT_EQ(again.conditions[0].last_transition_time, "2026-01-01T00:00:01Z");
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
