// What the controller writes to the API server for a decision: the /approval body, the condition
// message, and the audit line's fields. Pure functions (no I/O), thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "kube_csr_approver/csr_inspector.h"
#include "kube_csr_approver/csr_object.h"
#include "kube_csr_approver/decision.h"
#include "kube_csr_approver/result.h"

namespace kca::controller {

inline constexpr std::string_view kReportingController = "csr.approver.io/kube-csr-approver";
// Condition and Event messages longer than this are cut (at a UTF-8 boundary) and marked.
inline constexpr std::size_t kMaxMessageBytes = 1024;

// "/apis/certificates.k8s.io/v1/certificatesigningrequests/NAME" and ".../NAME/approval".
std::string CsrPath(const std::string& name);
std::string ApprovalPath(const std::string& name);

// The condition message for an approve or deny: names the rule (or the default action) and the
// reasons, at most kMaxMessageBytes.
std::string DecisionMessage(const Decision& decision);

// `text` cut to at most `max_bytes`, never inside a UTF-8 sequence, ending in "..." when cut.
std::string Truncate(const std::string& text, std::size_t max_bytes);

// The CSR as a certificates.k8s.io/v1 object (kind and apiVersion set), from what the cache keeps.
nlohmann::json EncodeCsrObject(const CsrObject& csr);

// The body of PUT .../NAME/approval for an approve or deny `decision`: the object with its
// metadata (name, uid, resourceVersion for optimistic concurrency), every existing condition
// unchanged, plus one {type Approved|Denied, status "True", reason AutoApproved|AutoDenied,
// message, lastUpdateTime `now`}. The server keeps only status.conditions from it.
// REQUIRES: decision.action is kApprove or kDeny.
nlohmann::json ApprovalBody(const CsrObject& csr, const Decision& decision,
                            std::chrono::system_clock::time_point now);

// The fields of one audit line: CSR name, uid, requestor, groups, signer, usages, requested
// expiration, subject, SANs, key, rule, decision, reasons (and the inspection's refusal, if
// any). Never the request bytes themselves.
nlohmann::json AuditFields(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision);

}  // namespace kca::controller
