// The command line parsed and dispatched through RunCommandLine, with in-memory streams and a
// recording `run` (the controller itself is tested elsewhere).
#include "cli.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace kca {
namespace {

const std::filesystem::path kExamples = std::filesystem::path(KCA_SOURCE_DIR) / "examples";

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
  std::optional<RunOptions> run;  // what `run` was handed, when it was called
};

Outcome Cli(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out, err;
  Outcome outcome{};
  outcome.exit_code = RunCommandLine(args, {in, out, err}, [&outcome](RunOptions options) {
    outcome.run = std::move(options);
    return 0;
  });
  outcome.out = out.str();
  outcome.err = err.str();
  return outcome;
}

std::string Example(const char* path) { return (kExamples / path).string(); }

TEST(CliTest, VersionFlagPrintsWhatTheVersionCommandPrints) {
  const Outcome flag = Cli({"--version"});
  const Outcome command = Cli({"version"});
  EXPECT_EQ(flag.exit_code, kExitOk) << flag.err;
  EXPECT_EQ(command.exit_code, kExitOk);
  EXPECT_TRUE(flag.out.starts_with("kube-csr-approver 0.1.0 (revision ")) << flag.out;
  EXPECT_EQ(flag.out, command.out);
}

TEST(CliTest, UnknownCommandIsNamedAndExitsTwo) {
  const Outcome outcome = Cli({"frobnicate", "--policy", "x"});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_NE(outcome.err.find("unknown command \"frobnicate\""), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("run, check, validate-policy, version, help"), std::string::npos)
      << outcome.err;
  EXPECT_FALSE(outcome.run);
}

TEST(CliTest, RunRunIsRejectedNotStarted) {
  // What every pod did when the image's ENTRYPOINT already said `run` (issue 10).
  const Outcome outcome = Cli({"run", "run", "--policy=/etc/kube-csr-approver/policy.yaml"});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_FALSE(outcome.run);
}

TEST(CliTest, NoCommandIsAUsageError) {
  const Outcome outcome = Cli({});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_FALSE(outcome.err.empty());
}

TEST(CliTest, HelpListsTheCommands) {
  const Outcome outcome = Cli({"help"});
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  for (const char* command : {"run", "check", "validate-policy", "version", "help"}) {
    EXPECT_NE(outcome.out.find(command), std::string::npos) << command << "\n" << outcome.out;
  }
}

TEST(CliTest, HelpOfACommandShowsItsFlags) {
  const Outcome check = Cli({"help", "check"});
  EXPECT_EQ(check.exit_code, kExitOk) << check.err;
  EXPECT_NE(check.out.find("--ignore-status"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("--expiration-seconds"), std::string::npos) << check.out;
  const Outcome run = Cli({"help", "run"});
  EXPECT_NE(run.out.find("--leader-elect"), std::string::npos) << run.out;
}

TEST(CliTest, HelpOfAnUnknownCommandExitsTwo) {
  const Outcome outcome = Cli({"help", "frobnicate"});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  EXPECT_NE(outcome.err.find("unknown command \"frobnicate\""), std::string::npos) << outcome.err;
}

TEST(CliTest, RunHandsItsFlagsToTheController) {
  const Outcome outcome =
      Cli({"run", "--policy=/etc/kube-csr-approver/policy.yaml", "--leader-elect", "--workers=2"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  ASSERT_TRUE(outcome.run);
  EXPECT_EQ(outcome.run->policy_path, "/etc/kube-csr-approver/policy.yaml");
  EXPECT_TRUE(outcome.run->leader_elect);
  EXPECT_EQ(outcome.run->workers, 2);
}

TEST(CliTest, CheckIgnoreStatusEvaluatesADecidedCsr) {
  const std::string policy = Example("policies/cluster.yaml");
  const std::string approved = Example("csrs/alice-already-approved.yaml");
  const Outcome as_is = Cli({"check", "--policy", policy, "--output", "json", approved});
  ASSERT_EQ(as_is.exit_code, kExitOk) << as_is.err;
  EXPECT_EQ(nlohmann::json::parse(as_is.out)[0].at("decision"), "skip") << as_is.out;

  const Outcome ignored =
      Cli({"check", "--policy", policy, "--output", "json", "--ignore-status", approved});
  ASSERT_EQ(ignored.exit_code, kExitOk) << ignored.err;
  const auto result = nlohmann::json::parse(ignored.out)[0];
  EXPECT_EQ(result.at("decision"), "approve") << ignored.out;
  EXPECT_EQ(result.at("rule"), "devs-own-client-cert") << ignored.out;
  EXPECT_FALSE(result.at("checks").empty());
}

TEST(CliTest, ValidatePolicyJsonForAValidPolicy) {
  const std::string policy = Example("policies/cluster.yaml");
  const Outcome outcome = Cli({"validate-policy", policy, "--output", "json"});
  ASSERT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  const auto report = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(report.at("file"), policy);
  EXPECT_EQ(report.at("valid"), true);
  EXPECT_EQ(report.at("errors"), nlohmann::json::array());
  EXPECT_EQ(report.at("warnings"), nlohmann::json::array());
  EXPECT_EQ(report.at("rules"), 4);
  EXPECT_EQ(report.at("sha256").get<std::string>().size(), 64u);
}

TEST(CliTest, ValidatePolicyJsonListsEveryErrorWithItsPosition) {
  const auto policy = std::filesystem::temp_directory_path() / "kca-cli-test-invalid.yaml";
  std::ofstream(policy) << "apiVersion: csr.approver.io/v1\n"
                           "kind: ApprovalPolicy\n"
                           "defaultAction: approve\n"
                           "rules:\n"
                           "  - name: Bad_Name\n"
                           "    action: approve\n";
  const Outcome outcome = Cli({"validate-policy", "--output=json", policy.string()});
  std::filesystem::remove(policy);
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  const auto report = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(report.at("valid"), false);
  EXPECT_TRUE(report.at("rules").is_null());
  EXPECT_TRUE(report.at("sha256").is_null());
  const auto& errors = report.at("errors");
  ASSERT_EQ(errors.size(), 2u) << outcome.out;
  EXPECT_EQ(errors[0].at("line"), 3);
  EXPECT_EQ(errors[0].at("path"), "defaultAction");
  EXPECT_TRUE(errors[0].at("column").is_number());
  EXPECT_EQ(errors[1].at("line"), 5);
  EXPECT_EQ(errors[1].at("path"), "rules[0].name");
  for (const auto& error : errors) EXPECT_FALSE(error.at("message").get<std::string>().empty());
}

TEST(CliTest, ValidatePolicyJsonForAnUnreadableFileHasNoPosition) {
  const Outcome outcome = Cli({"validate-policy", "--output", "json", "/nonexistent/policy.yaml"});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
  const auto report = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(report.at("valid"), false);
  ASSERT_EQ(report.at("errors").size(), 1u);
  EXPECT_TRUE(report.at("errors")[0].at("line").is_null());
  EXPECT_NE(report.at("errors")[0].at("message").get<std::string>().find("open"), std::string::npos)
      << outcome.out;
}

TEST(CliTest, ValidatePolicyRejectsAnUnknownOutput) {
  const Outcome outcome =
      Cli({"validate-policy", "--output", "yaml", Example("policies/cluster.yaml")});
  EXPECT_EQ(outcome.exit_code, kExitUsageError);
}

}  // namespace
}  // namespace kca
