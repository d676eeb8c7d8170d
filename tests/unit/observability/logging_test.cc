#include "kube_csr_approver/observability/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <stdexcept>

namespace kca {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> Sink() {
    return std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
  }
  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::ostringstream out_;
};

TEST_F(LoggingTest, JsonLinesCarryFieldsAndStayValidWhateverTheInput) {
  ASSERT_TRUE(ConfigureLogging("info", "json", Sink()).ok());
  const std::string hostile = "CN=\"evil\"\n{\"level\":\"fake\"}\xff\xfe";
  LogEvent(spdlog::level::info, "decision", {{"csr", hostile}, {"decision", "deny"}, {"n", 3}});
  spdlog::warn("plain {} message", "warning");
  spdlog::debug("not shown at info");

  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first.at("msg"), "decision");
  EXPECT_EQ(first.at("level"), "info");
  EXPECT_EQ(first.at("decision"), "deny");
  EXPECT_EQ(first.at("n"), 3);
  EXPECT_NE(first.at("csr").get<std::string>().find("CN=\"evil\"\n"), std::string::npos);
  EXPECT_TRUE(first.at("ts").get<std::string>().ends_with("Z"));
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second.at("msg"), "plain warning message");
  EXPECT_EQ(second.at("level"), "warning");
  EXPECT_FALSE(second.contains("csr")) << "fields must not leak into the next line";
}

TEST_F(LoggingTest, AuditLinesAreWrittenWhateverTheLevel) {
  for (const char* level : {"error", "off"}) {
    out_.str("");
    ASSERT_TRUE(ConfigureLogging(level, "json", Sink()).ok());
    LogEvent(spdlog::level::info, "ordinary", {{"k", 1}});
    LogAudit("csr decided", {{"csr", "a"}, {"decision", "approve"}});
    const auto lines = Lines();
    ASSERT_EQ(lines.size(), 1u) << level << ": " << out_.str();
    const auto audit = nlohmann::json::parse(lines[0]);
    EXPECT_EQ(audit.at("msg"), "csr decided");
    EXPECT_EQ(audit.at("level"), "info");
    EXPECT_EQ(audit.at("audit"), true);
    EXPECT_EQ(audit.at("csr"), "a");
  }
}

TEST_F(LoggingTest, FieldsCannotOverrideTheEnvelope) {
  ASSERT_TRUE(ConfigureLogging("info", "json", Sink()).ok());
  LogEvent(spdlog::level::info, "real", {{"msg", "forged"}, {"level", "forged"}});
  const auto line = nlohmann::json::parse(Lines().at(0));
  EXPECT_EQ(line.at("msg"), "real");
  EXPECT_EQ(line.at("level"), "info");
}

// The JSON line is one object whose keys come in byte order, the envelope's (level, msg, ts)
// among the event's fields, each value serialized as nlohmann::json dumps it.
TEST_F(LoggingTest, JsonLinesKeepTheirKeyOrderAndValueSpelling) {
  ASSERT_TRUE(ConfigureLogging("info", "json", Sink()).ok());
  LogEvent(spdlog::level::info, "real \"one\"",
           {{"zz", {1, "two", nullptr}},
            {"a", "x\xff"},
            {"msg", "forged"},
            {"n", -3.5},
            {"m", {{"k", true}}},
            {"level", "forged"}});
  std::string line = Lines().at(0);
  const auto ts = line.find(",\"ts\":\"");
  ASSERT_NE(ts, std::string::npos) << line;
  const auto ts_end = line.find('"', ts + 7);
  ASSERT_NE(ts_end, std::string::npos) << line;
  line.replace(ts + 7, ts_end - ts - 7, "T");
  EXPECT_EQ(line,
            "{\"a\":\"x\xEF\xBF\xBD\",\"level\":\"info\",\"m\":{\"k\":true},\"msg\":\"real "
            "\\\"one\\\"\",\"n\":-3.5,\"ts\":\"T\",\"zz\":[1,\"two\",null]}");
}

TEST_F(LoggingTest, TextLinesAreOneLinePerEvent) {
  ASSERT_TRUE(ConfigureLogging("debug", "text", Sink()).ok());
  LogEvent(spdlog::level::info, "decision\nforged line",
           {{"csr", "alice-client"}, {"subject", "CN=alice, O=devs"}});
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u) << out_.str();
  EXPECT_NE(
      lines[0].find(" info decision\\nforged line csr=alice-client subject=\"CN=alice, O=devs\""),
      std::string::npos)
      << lines[0];
}

TEST_F(LoggingTest, RefusesUnknownLevelsAndFormats) {
  const Status bad_level = ConfigureLogging("verbose", "json", Sink());
  ASSERT_FALSE(bad_level.ok());
  EXPECT_NE(bad_level.message().find("--log-level \"verbose\""), std::string::npos);
  const Status bad_format = ConfigureLogging("info", "xml", Sink());
  ASSERT_FALSE(bad_format.ok());
  EXPECT_NE(bad_format.message().find("--log-format \"xml\" is not one of text, json"),
            std::string::npos);
  EXPECT_TRUE(ConfigureLogging("off", "text", Sink()).ok());
}

TEST_F(LoggingTest, RunGuardedContainsAnyExceptionLogsAndReportsIt) {
  ASSERT_TRUE(ConfigureLogging("info", "text", Sink()).ok());
  int reported = 0;
  int ran = 0;
  EXPECT_TRUE(RunGuarded(
      "worker", [&] { ++ran; }, [&] { ++reported; }));
  EXPECT_FALSE(RunGuarded(
      "worker", [] { throw std::runtime_error("boom"); }, [&] { ++reported; }));
  EXPECT_FALSE(RunGuarded(
      "events", [] { throw 42; }, nullptr));
  EXPECT_FALSE(RunGuarded(
      "probe", [] { throw std::logic_error("x"); }, [] { throw std::runtime_error("metric"); }));
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(reported, 1);
  const auto lines = Lines();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_NE(lines[0].find("worker thread: unexpected failure"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("boom"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("an exception of unknown type"), std::string::npos) << lines[1];
}

}  // namespace
}  // namespace kca
