#include "kube_csr_approver/controller/event_recorder.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "kube_csr_approver/controller/approval_writer.h"
#include "kube_csr_approver/logging.h"
#include "time_format.h"

namespace kca::controller {
namespace {

// Object names are DNS subdomains: at most 253 characters.
constexpr std::size_t kMaxNameLength = 253;

std::string EventName(const std::string& csr_name, std::chrono::system_clock::time_point now) {
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), ".%llx", static_cast<unsigned long long>(nanos));
  const std::size_t room = kMaxNameLength - std::char_traits<char>::length(suffix);
  return csr_name.substr(0, room) + suffix;
}

}  // namespace

nlohmann::json MakeDecisionEvent(const CsrObject& csr, const Decision& decision,
                                 const EventRecorderOptions& options,
                                 std::chrono::system_clock::time_point now) {
  const bool approve = decision.action == Action::kApprove;
  nlohmann::json regarding = {{"apiVersion", "certificates.k8s.io/v1"},
                              {"kind", "CertificateSigningRequest"},
                              {"name", csr.name}};
  if (!csr.uid.empty()) regarding["uid"] = csr.uid;
  return {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", EventName(csr.name, now)}, {"namespace", options.event_namespace}}},
      {"regarding", std::move(regarding)},
      {"reason", approve ? "AutoApproved" : "AutoDenied"},
      {"action", approve ? "Approve" : "Deny"},
      {"note", DecisionMessage(decision)},
      {"type", approve ? "Normal" : "Warning"},
      {"reportingController", kReportingController},
      {"reportingInstance", options.reporting_instance},
      {"eventTime", FormatMicroTime(now)}};
}

EventRecorder::EventRecorder(kube::ApiClient& client, const Clock& clock,
                             EventRecorderOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      pace_(options_.qps, options_.burst, clock),
      thread_([this] {
        // Run() returns when stopping; after an exception it carries on with the next Event.
        while (!RunGuarded(
            "events", [this] { Run(); }, options_.on_unexpected_error)) {
          if (!stop_.SleepFor(std::chrono::seconds(1))) return;
        }
      }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  stop_.Cancel();
  thread_.join();
}

bool EventRecorder::Record(const CsrObject& csr, const Decision& decision) {
  if (decision.action != Action::kApprove && decision.action != Action::kDeny) return false;
  nlohmann::json event = MakeDecisionEvent(csr, decision, options_, clock_.WallNow());
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(event));
  }
  wake_.notify_one();
  return true;
}

void EventRecorder::Run() {
  const std::string path =
      "/apis/events.k8s.io/v1/namespaces/" + options_.event_namespace + "/events";
  while (true) {
    nlohmann::json event;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    if (const auto wait = pace_.Reserve(); wait.count() > 0 && !stop_.SleepFor(wait)) return;
    auto created = client_.Create(path, event, &stop_);
    std::lock_guard lock(mutex_);
    if (created.ok()) {
      ++sent_;
    } else {
      ++failed_;
      if (!created.error().canceled()) {
        // Events are a courtesy: a warning, not a retry (the audit log has the decision).
        spdlog::warn("could not record an Event for CSR {}: {}",
                     event["regarding"]["name"].get<std::string>(), created.error().message);
      }
    }
  }
}

std::uint64_t EventRecorder::sent() const {
  std::lock_guard lock(mutex_);
  return sent_;
}

std::uint64_t EventRecorder::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::uint64_t EventRecorder::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

}  // namespace kca::controller
