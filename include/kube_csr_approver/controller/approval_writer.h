// Writing a decision to the API server: the /approval patch and condition message (pure), and
// the ApprovalWriter that sends it under the leader gate and says what became of it.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/controller/write_gate.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/policy/decision.h"

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

// The merge patch (RFC 7386) for PATCH .../NAME/approval for an approve or deny `decision`:
//   {"metadata": {"uid", "resourceVersion"},
//    "status": {"conditions": [every existing condition unchanged, plus {type Approved|Denied,
//               status "True", reason AutoApproved|AutoDenied, message, lastUpdateTime `now`}]}}
// Only the conditions change. kube-apiserver takes the metadata of an /approval update from the
// request, so a PUT of a partial object would remove the CSR's labels, annotations, finalizers
// and ownerReferences; a merge patch leaves every field it does not name as stored. The
// resourceVersion is a precondition (409 when stale: the patched object keeps it and
// registry/generic/registry/store.go Update compares it with storage). status.conditions has no
// patch merge key (certificates/v1 types.go: listType=map, no patchStrategy), so the list is
// replaced whole: hence every existing condition is sent.
// REQUIRES: decision.action is kApprove or kDeny.
nlohmann::json ApprovalPatch(const CsrObject& csr, const Decision& decision,
                             std::chrono::system_clock::time_point now);

struct ApprovalWriterOptions {
  // 409s in one Write() (each but the last followed by a fresh GET) before it gives up with
  // kRetry with WriteFailure::kConflict. Default: 3.
  int max_conflict_rereads = 3;
};

// A failed write to count in decision_errors_total{reason} (DESIGN.md's label values).
enum class WriteFailure {
  kConflict,   // "conflict": the 409 re-reads ran out
  kForbidden,  // "forbidden": RBAC refuses the approval (403)
  kApi,        // "api": any other error answer or transport failure
  kParse,      // "parse": the CSR re-read after a 409 does not decode
};
// The decision_errors_total reason label of `failure`.
std::string_view MetricLabel(WriteFailure failure);

// What became of one Write().
struct WriteOutcome {
  enum class Kind {
    kWritten,           // the server accepted the condition
    kDecidedElsewhere,  // a 409, then the stored CSR was decided by someone else: not written
    kGone,              // 404: the CSR was deleted
    kGateClosed,        // the gate was or became closed: not written, or aborted in flight
    kRetry,             // not written; try again later (not before retry_after when set)
  };
  Kind kind = Kind::kRetry;
  // The CSR as the server has it now, when a response or re-read showed it (kWritten,
  // kDecidedElsewhere, and kRetry after a re-read).
  std::optional<CsrObject> stored;
  // kRetry: set when this is a failure to count in decision_errors_total. Unset when it is not
  // one: 429 throttling (api_requests_total{code="429"} counts it), a shutdown, a CSR re-created
  // under the name.
  std::optional<WriteFailure> failure;
  std::optional<std::chrono::seconds> retry_after;  // kRetry after a 429 with Retry-After
  std::optional<kube::ApiError> error;              // the last API error, for the log
};

// Writes approve/deny decisions: PATCH .../NAME/approval with ApprovalPatch, exactly one request
// when nothing races it. Each attempt goes out only while the gate is open (checked before the
// request, and again by the client after its rate-limiter wait), is tied to the gate's current
// Term() so closing the gate aborts it, and is a single HTTP attempt (CallOptions
// max_attempts 1): a 429 comes back as kRetry with its Retry-After for the work queue instead of
// being waited out inside the client past the gate. On 409 it GETs the CSR: decided → kDecided-
// Elsewhere; deleted → kGone; the same CSR (uid) still pending → writes again on the fresh
// resourceVersion with the same decision (spec is immutable, so the decision still holds);
// another uid → kRetry with the fresh object (a new CSR to decide). A failed write is never
// turned into anything else (never a deny).
// Ownership: `client`, `clock` and `gate` are borrowed and must outlive the writer.
// Thread-safety: Write() may be called from many threads at once.
class ApprovalWriter {
 public:
  ApprovalWriter(kube::ApiClient& client, const Clock& clock, WriteGate& gate,
                 ApprovalWriterOptions options = {});

  // REQUIRES: decision.action is kApprove or kDeny. `stop` (may be null) aborts at shutdown.
  WriteOutcome Write(const CsrObject& csr, const Decision& decision,
                     const kube::Cancellation* stop = nullptr);

 private:
  kube::ApiClient& client_;
  const Clock& clock_;
  WriteGate& gate_;
  const ApprovalWriterOptions options_;
};

}  // namespace kca::controller
