#include "kube_csr_approver/controller/policy_holder.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "fake_files.h"
#include "kube/temp_dir.h"
#include "test_support.h"

namespace kca::controller {
namespace {

namespace fs = std::filesystem;
using testing::MetricValue;

constexpr std::string_view kLogOnly =
    "apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\ndefaultAction: log\nrules: []\n";

// A ConfigMap volume: policy.yaml -> ..data/policy.yaml, ..data -> a timestamped directory that
// is replaced by swapping the ..data symlink.
class ConfigMapVolume {
 public:
  explicit ConfigMapVolume(const testing::TempDir& dir) : dir_(dir) {
    fs::create_symlink("..data/policy.yaml", dir_.path() + "/policy.yaml");
  }
  void Publish(std::string_view text) {
    const std::string version = "..v" + std::to_string(++generation_);
    dir_.Write(version + "/policy.yaml", std::string(text));
    const std::string temp = dir_.path() + "/..data_tmp";
    fs::create_symlink(version, temp);
    fs::rename(temp, dir_.path() + "/..data");  // atomic swap, as the kubelet does
  }
  std::string path() const { return dir_.path() + "/policy.yaml"; }

 private:
  const testing::TempDir& dir_;
  int generation_ = 0;
};

class PolicyFileWatcherTest : public ::testing::Test {
 protected:
  double Reloads(const std::string& result) {
    return MetricValue(metrics_,
                       "kube_csr_approver_policy_reloads_total{result=\"" + result + "\"}")
        .value_or(-1);
  }

  testing::CapturedLog log_;
  testing::TempDir dir_;
  ConfigMapVolume volume_{dir_};
  ApproverMetrics metrics_{"test", "test"};
  PolicyHolder holder_;
  int reloaded_ = 0;
  PolicyFileWatcher watcher_{volume_.path(), holder_, metrics_, [this] { ++reloaded_; }};
};

TEST_F(PolicyFileWatcherTest, AnInvalidPolicyAtStartIsAnErrorNamingTheProblem) {
  volume_.Publish("apiVersion: csr.approver.io/v1\nkind: ApprovalPolicy\ndefaultAction: approve\n");
  const Status status = watcher_.LoadInitial();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("defaultAction"), std::string::npos) << status.message();
  EXPECT_EQ(holder_.Current(), nullptr);
}

TEST_F(PolicyFileWatcherTest, AMissingFileAtStartIsAnError) {
  PolicyFileWatcher missing(dir_.path() + "/absent.yaml", holder_, metrics_);
  EXPECT_FALSE(missing.LoadInitial().ok());
}

TEST_F(PolicyFileWatcherTest, ReloadsWhenTheSymlinkSwapsAndKeepsTheLastGoodOnErrors) {
  volume_.Publish(testing::kTeamPolicy);
  ASSERT_TRUE(watcher_.LoadInitial().ok());
  const auto first = holder_.Current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->summary.rule_names, std::vector<std::string>{"alice-clients"});
  EXPECT_EQ(MetricValue(metrics_, "kube_csr_approver_policy_info{rules=\"1\",sha256=\"" +
                                      first->summary.sha256 + "\"}"),
            1);

  EXPECT_FALSE(watcher_.Poll()) << "unchanged content is not a reload";
  EXPECT_EQ(Reloads("success"), 0);

  volume_.Publish("this: is: not: a policy");
  EXPECT_FALSE(watcher_.Poll());
  EXPECT_FALSE(watcher_.Poll());
  EXPECT_EQ(Reloads("failure"), 1) << "one broken version is counted once";
  EXPECT_EQ(holder_.Current(), first) << "the last good policy stays in force";
  EXPECT_NE(log_.text().find("policy reload failed"), std::string::npos);

  volume_.Publish(kLogOnly);
  EXPECT_TRUE(watcher_.Poll());
  EXPECT_EQ(Reloads("success"), 1);
  EXPECT_EQ(reloaded_, 1);
  const auto second = holder_.Current();
  EXPECT_TRUE(second->summary.rule_names.empty());
  EXPECT_NE(second->summary.sha256, first->summary.sha256);
  EXPECT_FALSE(MetricValue(metrics_, "kube_csr_approver_policy_info{rules=\"1\",sha256=\"" +
                                         first->summary.sha256 + "\"}")
                   .has_value());
}

TEST_F(PolicyFileWatcherTest, LastReloadSuccessfulFollowsTheFileOnDisk) {
  const std::string gauge = "kube_csr_approver_policy_last_reload_successful";
  EXPECT_EQ(MetricValue(metrics_, gauge), 0) << "nothing in force before the first load";
  volume_.Publish(testing::kTeamPolicy);
  ASSERT_TRUE(watcher_.LoadInitial().ok());
  EXPECT_EQ(MetricValue(metrics_, gauge), 1);
  volume_.Publish("this: is: not: a policy");
  EXPECT_FALSE(watcher_.Poll());
  EXPECT_FALSE(watcher_.Poll());
  EXPECT_EQ(MetricValue(metrics_, gauge), 0) << "stays 0 while the broken file is on disk";
  volume_.Publish(testing::kTeamPolicy);  // the fix: back to the policy in force
  EXPECT_TRUE(watcher_.Poll());
  EXPECT_EQ(MetricValue(metrics_, gauge), 1);
}

TEST_F(PolicyFileWatcherTest, DecisionSeriesOfThePolicyInForceStartAtZero) {
  const std::string approved =
      "kube_csr_approver_decisions_total{decision=\"approved\",rule=\"alice-clients\","
      "signer=\"kubernetes.io/kube-apiserver-client\"}";
  volume_.Publish(testing::kTeamPolicy);
  ASSERT_TRUE(watcher_.LoadInitial().ok());
  EXPECT_EQ(MetricValue(metrics_, approved), 0);
  EXPECT_EQ(MetricValue(metrics_,
                        "kube_csr_approver_decisions_total{decision=\"denied\","
                        "rule=\"alice-clients\",signer=\"kubernetes.io/"
                        "kube-apiserver-client\"}"),
            0);
  volume_.Publish(kLogOnly);  // the rule is gone: so are its unused zero series
  ASSERT_TRUE(watcher_.Poll());
  EXPECT_FALSE(MetricValue(metrics_, approved).has_value());
  EXPECT_EQ(MetricValue(metrics_,
                        "kube_csr_approver_decisions_total{decision=\"logged\","
                        "rule=\"none\",signer=\"other\"}"),
            0);
}

TEST_F(PolicyFileWatcherTest, ATemporarilyMissingFileKeepsThePolicy) {
  volume_.Publish(kLogOnly);
  ASSERT_TRUE(watcher_.LoadInitial().ok());
  const auto first = holder_.Current();
  fs::remove(dir_.path() + "/..data");
  EXPECT_FALSE(watcher_.Poll());
  EXPECT_EQ(holder_.Current(), first);
  volume_.Publish(kLogOnly);
  EXPECT_FALSE(watcher_.Poll()) << "the same content again is no change";
}

// The policy file is read through the FileReader seam.
TEST(PolicyFileSeamTest, ReadsAndReloadsThroughTheFileReader) {
  testing::CapturedLog log;
  testing::FakeFiles files;
  ApproverMetrics metrics{"test", "test"};
  PolicyHolder holder;
  int reloaded = 0;
  PolicyFileWatcher watcher(
      "/etc/policy/policy.yaml", holder, metrics, [&] { ++reloaded; }, files);
  files.Fail("/etc/policy/policy.yaml", "Permission denied");
  const Status unreadable = watcher.LoadInitial();
  ASSERT_FALSE(unreadable.ok());
  EXPECT_NE(unreadable.message().find("cannot read /etc/policy/policy.yaml: Permission denied"),
            std::string::npos)
      << unreadable.message();

  files.Set("/etc/policy/policy.yaml", std::string(testing::kTeamPolicy));
  ASSERT_TRUE(watcher.LoadInitial().ok());
  EXPECT_FALSE(watcher.Poll()) << "unchanged content";
  files.Set("/etc/policy/policy.yaml", std::string(testing::kTeamPolicy) + "# v2\n");
  EXPECT_TRUE(watcher.Poll());
  EXPECT_EQ(reloaded, 1);
}

}  // namespace
}  // namespace kca::controller
