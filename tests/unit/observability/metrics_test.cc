#include "kube_csr_approver/observability/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace kca {
namespace {

std::string Render(const ApproverMetrics& metrics) {
  prometheus::TextSerializer serializer;
  auto families = metrics.registry()->Collect();
  auto process = metrics.process_collector()->Collect();
  families.insert(families.end(), process.begin(), process.end());
  return serializer.Serialize(families);
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ApproverMetricsTest, DecisionsAreCountedByDecisionRuleAndSigner) {
  ApproverMetrics metrics("1.2.3", "abc");
  metrics.CountDecision(Action::kApprove, "devs", "kubernetes.io/kube-apiserver-client");
  metrics.CountDecision(Action::kApprove, "devs", "kubernetes.io/kube-apiserver-client");
  metrics.CountDecision(Action::kDeny, "", "other");
  metrics.CountDecision(Action::kSkip, "devs", "other");     // skips are not decisions
  metrics.CountDecision(Action::kPending, "devs", "other");  // nor are waits for a Node
  const std::string text = Render(metrics);
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"approved\",rule=\"devs\","
                  "signer=\"kubernetes.io/kube-apiserver-client\"} 2"))
      << text;
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"denied\",rule=\"none\","
                  "signer=\"other\"} 1"))
      << text;
  EXPECT_EQ(text.find("skipped"), std::string::npos) << text;
  EXPECT_EQ(text.find("pending\""), std::string::npos) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_build_info{revision=\"abc\",version=\"1.2.3\"} 1"));
}

TEST(ApproverMetricsTest, ZeroSeriesExistBeforeTheFirstEvent) {
  ApproverMetrics metrics("v", "r");
  const std::string text = Render(metrics);
  EXPECT_TRUE(Has(text, "kube_csr_approver_policy_reloads_total{result=\"failure\"} 0")) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_watch_restarts_total{reason=\"expired\"} 0"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_decision_errors_total{reason=\"conflict\"} 0"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_leader 0"));
}

TEST(ApproverMetricsTest, PreparedDecisionsStartAtZeroAndCountedOnesSurviveAReload) {
  ApproverMetrics metrics("v", "r");
  metrics.PrepareDecisions({{"devs", Action::kApprove, "example.com/a"},
                            {"devs", Action::kDeny, "example.com/a"},
                            {"none", Action::kLog, "other"}});
  std::string text = Render(metrics);
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"approved\",rule=\"devs\","
                  "signer=\"example.com/a\"} 0"))
      << text;
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"logged\",rule=\"none\","
                  "signer=\"other\"} 0"));
  metrics.CountDecision(Action::kDeny, "devs", "example.com/a");
  metrics.PrepareDecisions({{"ops", Action::kApprove, "example.com/b"}});
  text = Render(metrics);
  EXPECT_EQ(text.find("decision=\"approved\",rule=\"devs\""), std::string::npos) << text;
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"denied\",rule=\"devs\","
                  "signer=\"example.com/a\"} 1"))
      << "a counted series is never dropped: " << text;
  EXPECT_TRUE(Has(text,
                  "kube_csr_approver_decisions_total{decision=\"approved\",rule=\"ops\","
                  "signer=\"example.com/b\"} 0"));
}

TEST(ApproverMetricsTest, PolicyLastReloadSuccessful) {
  ApproverMetrics metrics("v", "r");
  EXPECT_TRUE(Has(Render(metrics), "kube_csr_approver_policy_last_reload_successful 0"));
  metrics.SetPolicyLastReloadSuccessful(true);
  EXPECT_TRUE(Has(Render(metrics), "kube_csr_approver_policy_last_reload_successful 1"));
}

TEST(ApproverMetricsTest, UnexpectedErrorsAreCountedByABoundedThreadName) {
  ApproverMetrics metrics("v", "r");
  EXPECT_TRUE(
      Has(Render(metrics), "kube_csr_approver_unexpected_errors_total{thread=\"worker\"} 0"));
  metrics.CountUnexpectedError("informer");
  metrics.CountUnexpectedError("something invented");
  const std::string text = Render(metrics);
  EXPECT_TRUE(Has(text, "kube_csr_approver_unexpected_errors_total{thread=\"informer\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_unexpected_errors_total{thread=\"other\"} 1")) << text;
  EXPECT_EQ(text.find("something invented"), std::string::npos);
}

TEST(ApproverMetricsTest, PendingReplacesTheWholeSet) {
  ApproverMetrics metrics("v", "r");
  metrics.SetPending({{"a", {3, 12.5}}, {"b", {1, 4}}});
  std::string text = Render(metrics);
  EXPECT_TRUE(Has(text, "kube_csr_approver_pending_csrs{signer=\"a\"} 3")) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_oldest_pending_csr_age_seconds{signer=\"a\"} 12.5"));
  metrics.SetPending({{"b", {2, 9}}});
  text = Render(metrics);
  EXPECT_EQ(text.find("signer=\"a\""), std::string::npos) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_pending_csrs{signer=\"b\"} 2")) << text;
}

TEST(ApproverMetricsTest, PolicyInfoShowsOnlyThePolicyInForce) {
  ApproverMetrics metrics("v", "r");
  metrics.SetPolicyInfo("aaa", 3);
  metrics.SetPolicyInfo("bbb", 4);
  metrics.CountPolicyReload(true);
  const std::string text = Render(metrics);
  EXPECT_EQ(text.find("sha256=\"aaa\""), std::string::npos) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_policy_info{rules=\"4\",sha256=\"bbb\"} 1")) << text;
  EXPECT_TRUE(Has(text, "kube_csr_approver_policy_reloads_total{result=\"success\"} 1"));
}

TEST(ApproverMetricsTest, ApiRequestsWatchRestartsLatencyAndLeader) {
  ApproverMetrics metrics("v", "r");
  metrics.CountApiRequest("put", "200");
  metrics.CountApiRequest("put", "409");
  metrics.CountApiRequest("put", "200");
  metrics.CountWatchRestart("expired");
  metrics.ObserveDecisionLatency(Action::kApprove, 0.02);
  metrics.SetLeader(true);
  metrics.CountDecisionError("conflict");
  const std::string text = Render(metrics);
  EXPECT_TRUE(Has(text, "kube_csr_approver_api_requests_total{code=\"200\",verb=\"put\"} 2"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_api_requests_total{code=\"409\",verb=\"put\"} 1"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_watch_restarts_total{reason=\"expired\"} 1"));
  EXPECT_TRUE(
      Has(text, "kube_csr_approver_decision_latency_seconds_count{decision=\"approved\"} 1"));
  EXPECT_TRUE(Has(
      text,
      "kube_csr_approver_decision_latency_seconds_bucket{decision=\"approved\",le=\"0.025\"} 1"))
      << text;
  EXPECT_TRUE(Has(
      text,
      "kube_csr_approver_decision_latency_seconds_bucket{decision=\"approved\",le=\"0.01\"} 0"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_leader 1"));
  EXPECT_TRUE(Has(text, "kube_csr_approver_decision_errors_total{reason=\"conflict\"} 1"));
}

TEST(ProcessCollectorTest, ReportsThisProcess) {
  auto families = MakeProcessCollector()->Collect();
  std::map<std::string, double> values;
  for (const auto& family : families) {
    ASSERT_EQ(family.metric.size(), 1u);
    values[family.name] = family.type == prometheus::MetricType::Counter
                              ? family.metric[0].counter.value
                              : family.metric[0].gauge.value;
  }
  EXPECT_GT(values["process_resident_memory_bytes"], 1024 * 1024);
  EXPECT_GE(values["process_virtual_memory_bytes"], values["process_resident_memory_bytes"]);
  EXPECT_GE(values["process_open_fds"], 3);
  EXPECT_GE(values["process_max_fds"], values["process_open_fds"]);
  EXPECT_GE(values["process_cpu_seconds_total"], 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(values["process_start_time_seconds"], now, 3600);
}

}  // namespace
}  // namespace kca
