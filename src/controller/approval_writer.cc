#include "kube_csr_approver/controller/approval_writer.h"

#include <cassert>
#include <memory>
#include <utility>

#include "kube_csr_approver/controller/pending_csr_cache.h"
#include "time_format.h"

namespace kca::controller {
namespace {

constexpr std::string_view kCsrCollection =
    "/apis/certificates.k8s.io/v1/certificatesigningrequests";

nlohmann::json EncodeCondition(const CsrCondition& condition) {
  nlohmann::json encoded = {{"type", condition.type}, {"status", condition.status}};
  if (!condition.reason.empty()) encoded["reason"] = condition.reason;
  if (!condition.message.empty()) encoded["message"] = condition.message;
  if (!condition.last_update_time.empty()) encoded["lastUpdateTime"] = condition.last_update_time;
  if (!condition.last_transition_time.empty()) {
    encoded["lastTransitionTime"] = condition.last_transition_time;
  }
  return encoded;
}

WriteOutcome Ended(WriteOutcome::Kind kind, const kube::ApiError* error = nullptr,
                   std::optional<WriteFailure> failure = std::nullopt) {
  WriteOutcome outcome;
  outcome.kind = kind;
  outcome.failure = failure;
  if (error != nullptr) outcome.error = *error;
  return outcome;
}

WriteOutcome WithStored(WriteOutcome::Kind kind, CsrObject stored) {
  WriteOutcome outcome = Ended(kind);
  outcome.stored = std::move(stored);
  return outcome;
}

}  // namespace

std::string_view MetricLabel(WriteFailure failure) {
  switch (failure) {
    case WriteFailure::kConflict:
      return "conflict";
    case WriteFailure::kForbidden:
      return "forbidden";
    case WriteFailure::kParse:
      return "parse";
    case WriteFailure::kApi:
      break;
  }
  return "api";
}

std::string CsrPath(const std::string& name) { return std::string(kCsrCollection) + "/" + name; }

std::string ApprovalPath(const std::string& name) { return CsrPath(name) + "/approval"; }

std::string Truncate(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  constexpr std::string_view kMark = "...";
  std::size_t cut = max_bytes > kMark.size() ? max_bytes - kMark.size() : 0;
  // Back up over continuation bytes (10xxxxxx) so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + std::string(kMark.substr(0, max_bytes - cut));
}

std::string DecisionMessage(const Decision& decision) {
  std::string message = decision.action == Action::kApprove ? "Approved" : "Denied";
  message += " by kube-csr-approver: ";
  message += decision.rule ? "rule \"" + *decision.rule + "\"" : std::string("defaultAction");
  for (std::size_t i = 0; i < decision.reasons.size(); ++i) {
    message += i == 0 ? ": " : "; ";
    message += decision.reasons[i];
    if (message.size() > kMaxMessageBytes) break;
  }
  return Truncate(message, kMaxMessageBytes);
}

nlohmann::json ApprovalPatch(const CsrObject& csr, const Decision& decision,
                             std::chrono::system_clock::time_point now) {
  assert(decision.action == Action::kApprove || decision.action == Action::kDeny);
  const bool approve = decision.action == Action::kApprove;
  nlohmann::json metadata = nlohmann::json::object();
  if (!csr.uid.empty()) metadata["uid"] = csr.uid;
  if (!csr.resource_version.empty()) metadata["resourceVersion"] = csr.resource_version;
  nlohmann::json conditions = nlohmann::json::array();
  for (const auto& condition : csr.conditions) conditions.push_back(EncodeCondition(condition));
  conditions.push_back({{"type", approve ? "Approved" : "Denied"},
                        {"status", "True"},
                        {"reason", approve ? "AutoApproved" : "AutoDenied"},
                        {"message", DecisionMessage(decision)},
                        {"lastUpdateTime", FormatRfc3339(now)}});
  return {{"metadata", std::move(metadata)}, {"status", {{"conditions", std::move(conditions)}}}};
}

ApprovalWriter::ApprovalWriter(kube::ApiClient& client, const Clock& clock, WriteGate& gate,
                               ApprovalWriterOptions options)
    : client_(client), clock_(clock), gate_(gate), options_(options) {}

WriteOutcome ApprovalWriter::Write(const CsrObject& csr, const Decision& decision,
                                   const kube::Cancellation* stop) {
  const std::string path = ApprovalPath(csr.name);
  CsrObject target = csr;
  for (int conflicts = 0;;) {
    // The term first: a close after the IsOpen() check still cancels this attempt.
    const auto term = gate_.Term();
    if (!gate_.IsOpen()) return Ended(WriteOutcome::Kind::kGateClosed);
    // One Cancellation for this attempt, fired by shutdown or by the gate closing. Shared with
    // the callbacks, which may still run after this attempt is over.
    auto attempt = std::make_shared<kube::Cancellation>();
    auto on_close = term->OnCancel([attempt] { attempt->Cancel(); });
    kube::Cancellation::Subscription on_stop;
    if (stop != nullptr) on_stop = stop->OnCancel([attempt] { attempt->Cancel(); });
    const auto aborted = [&](const kube::ApiError& error) -> std::optional<WriteOutcome> {
      if (error.code != kube::ApiErrorCode::kCanceled) return std::nullopt;
      if (term->cancelled() || !gate_.IsOpen()) {
        return Ended(WriteOutcome::Kind::kGateClosed, &error);
      }
      return Ended(WriteOutcome::Kind::kRetry, &error);  // shutdown
    };

    const kube::CallOptions once{.max_attempts = 1, .may_send = [this] { return gate_.IsOpen(); }};
    auto written =
        client_.Patch(path, ApprovalPatch(target, decision, clock_.WallNow()), attempt.get(), once);
    if (written.ok()) {
      WriteOutcome outcome = Ended(WriteOutcome::Kind::kWritten);
      if (auto decoded = DecodeCsrObject(*written); decoded.ok()) outcome.stored = *decoded;
      return outcome;
    }
    const kube::ApiError& error = written.error();
    if (auto outcome = aborted(error)) return *outcome;
    switch (error.code) {
      case kube::ApiErrorCode::kNotFound:
        return Ended(WriteOutcome::Kind::kGone, &error);
      case kube::ApiErrorCode::kThrottled: {
        WriteOutcome outcome = Ended(WriteOutcome::Kind::kRetry, &error);
        outcome.retry_after = error.retry_after;
        return outcome;
      }
      case kube::ApiErrorCode::kForbidden:
        return Ended(WriteOutcome::Kind::kRetry, &error, WriteFailure::kForbidden);
      case kube::ApiErrorCode::kConflict:
        break;
      default:
        return Ended(WriteOutcome::Kind::kRetry, &error, WriteFailure::kApi);
    }

    // 409: someone changed the CSR, maybe decided it. Look at what is stored now.
    if (++conflicts >= options_.max_conflict_rereads) {
      return Ended(WriteOutcome::Kind::kRetry, &error, WriteFailure::kConflict);
    }
    auto fresh = client_.Get(CsrPath(csr.name), attempt.get());
    if (!fresh.ok()) {
      if (auto outcome = aborted(fresh.error())) return *outcome;
      if (fresh.error().code == kube::ApiErrorCode::kNotFound) {
        return Ended(WriteOutcome::Kind::kGone, &fresh.error());
      }
      return Ended(WriteOutcome::Kind::kRetry, &fresh.error(), WriteFailure::kApi);
    }
    auto decoded = DecodeCsrObject(*fresh);
    if (!decoded.ok()) {
      kube::ApiError undecodable;
      undecodable.code = kube::ApiErrorCode::kInvalidResponse;
      undecodable.message = decoded.error().message;
      return Ended(WriteOutcome::Kind::kRetry, &undecodable, WriteFailure::kParse);
    }
    if (IsDecided(*decoded)) {
      return WithStored(WriteOutcome::Kind::kDecidedElsewhere, std::move(*decoded));
    }
    if (decoded->uid != csr.uid) {
      // Deleted and created again under this name: another CSR, to be decided on its own.
      return WithStored(WriteOutcome::Kind::kRetry, std::move(*decoded));
    }
    target = std::move(*decoded);
  }
}

}  // namespace kca::controller
