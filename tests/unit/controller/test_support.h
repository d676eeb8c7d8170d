// Shared helpers of the controller tests: policies, CSR objects, metric values, captured logs.
#pragma once

#include <prometheus/text_serializer.h>
#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "csr_factory.h"
#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/observability/logging.h"
#include "kube_csr_approver/observability/metrics.h"
#include "kube_csr_approver/policy/policy.h"

namespace kca::testing {

// Approves alice's client certificates for team-a, denies anything else she asks, logs the rest.
inline constexpr std::string_view kTeamPolicy = R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
defaultAction: log
rules:
  - name: alice-clients
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client]
      requestor:
        usernames: ["alice"]
    allowed:
      commonName: "alice"
      organizations: ["team-a"]
      usages: [digital signature, client auth]
    required:
      usages: [client auth]
    action: approve
    onViolation: deny
)";

inline std::shared_ptr<const Policy> MustParsePolicy(std::string_view text) {
  auto loaded = ParsePolicy(text, "policy.yaml");
  if (!loaded.errors.empty()) throw std::runtime_error(loaded.errors.front().ToString());
  return loaded.policy;
}

// A pending CSR object as the API server returns it, from `requestor` asking for CN/O.
inline nlohmann::json CsrJson(const std::string& name, const std::string& requestor,
                              const std::string& cn, const std::string& organization,
                              const std::string& resource_version = "1") {
  CsrObjectSpec spec;
  spec.name = name;
  spec.uid = "uid-" + name;
  spec.resource_version = resource_version;
  spec.username = requestor;
  RequestSpec request;
  request.subject = {{"CN", cn}, {"O", organization}};
  spec.request_pem = MakeRequestPem(request);
  return MakeCsrObject(spec);
}

inline CsrObject MustDecode(const nlohmann::json& object) {
  auto decoded = DecodeCsrObject(object);
  if (!decoded.ok()) throw std::runtime_error(decoded.error().message);
  return *decoded;
}

// The value of the sample whose rendered name{labels} is exactly `series`, or nullopt.
inline std::optional<double> MetricValue(const ApproverMetrics& metrics,
                                         const std::string& series) {
  prometheus::TextSerializer serializer;
  const std::string text = serializer.Serialize(metrics.registry()->Collect());
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

// Routes the process logger (JSON lines) into a string for the test's lifetime. Readable while
// other threads log.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<StringSink>()) {
    if (!ConfigureLogging("info", "json", sink_).ok()) throw std::runtime_error("logging");
  }
  ~CapturedLog() { (void)ConfigureLogging("info", "text"); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  std::string text() const { return sink_->text(); }
  int Count(const std::string& needle) const {
    const std::string all = text();
    int count = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }

 private:
  class StringSink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
      spdlog::memory_buf_t formatted;
      formatter_->format(message, formatted);
      text_.append(formatted.data(), formatted.size());
    }
    void flush_() override {}

   private:
    std::string text_;
  };
  std::shared_ptr<StringSink> sink_;
};

}  // namespace kca::testing
