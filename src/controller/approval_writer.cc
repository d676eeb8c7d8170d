#include "kube_csr_approver/controller/approval_writer.h"

#include <cassert>

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

}  // namespace

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

nlohmann::json EncodeCsrObject(const CsrObject& csr) {
  nlohmann::json metadata = {{"name", csr.name}};
  if (!csr.uid.empty()) metadata["uid"] = csr.uid;
  if (!csr.resource_version.empty()) metadata["resourceVersion"] = csr.resource_version;
  if (!csr.creation_timestamp.empty()) metadata["creationTimestamp"] = csr.creation_timestamp;

  nlohmann::json spec = {
      {"request", csr.request}, {"signerName", csr.signer_name}, {"usages", csr.usages}};
  if (csr.expiration_seconds) spec["expirationSeconds"] = *csr.expiration_seconds;
  if (!csr.username.empty()) spec["username"] = csr.username;
  if (!csr.requestor_uid.empty()) spec["uid"] = csr.requestor_uid;
  if (!csr.groups.empty()) spec["groups"] = csr.groups;
  if (!csr.extra.empty()) spec["extra"] = csr.extra;

  nlohmann::json conditions = nlohmann::json::array();
  for (const auto& condition : csr.conditions) conditions.push_back(EncodeCondition(condition));

  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", std::move(metadata)},
          {"spec", std::move(spec)},
          {"status", {{"conditions", std::move(conditions)}}}};
}

nlohmann::json ApprovalBody(const CsrObject& csr, const Decision& decision,
                            std::chrono::system_clock::time_point now) {
  assert(decision.action == Action::kApprove || decision.action == Action::kDeny);
  const bool approve = decision.action == Action::kApprove;
  nlohmann::json body = EncodeCsrObject(csr);
  body["status"]["conditions"].push_back({{"type", approve ? "Approved" : "Denied"},
                                          {"status", "True"},
                                          {"reason", approve ? "AutoApproved" : "AutoDenied"},
                                          {"message", DecisionMessage(decision)},
                                          {"lastUpdateTime", FormatRfc3339(now)}});
  return body;
}

nlohmann::json AuditFields(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision) {
  nlohmann::json fields = {{"csr", csr.name},
                           {"uid", csr.uid},
                           {"requestor", csr.username},
                           {"groups", csr.groups},
                           {"signer", csr.signer_name},
                           {"usages", csr.usages},
                           {"rule", decision.rule ? nlohmann::json(*decision.rule) : nullptr},
                           {"decision", ActionName(decision.action)},
                           {"reasons", decision.reasons}};
  fields["expiration_seconds"] =
      csr.expiration_seconds ? nlohmann::json(*csr.expiration_seconds) : nullptr;
  if (facts.ok()) {
    fields["subject"] = SubjectToString(*facts);
    std::vector<std::string> ips;
    for (const auto& ip : facts->sans.ip_addresses) ips.push_back(ip.ToString());
    fields["sans"] = {{"dns", facts->sans.dns_names},
                      {"ip", ips},
                      {"email", facts->sans.email_addresses},
                      {"uri", facts->sans.uris},
                      {"other", facts->sans.other}};
    fields["key"] = KeyToString(facts->key);
  } else {
    fields["request_error"] = facts.error().message;
  }
  return fields;
}

}  // namespace kca::controller
