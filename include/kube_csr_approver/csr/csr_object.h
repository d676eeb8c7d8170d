// The CertificateSigningRequest object (certificates.k8s.io/v1) as decisions need it, decoded
// from JSON or YAML as the API server or `kubectl get csr -o yaml|json` prints it.
// Pure: no I/O; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca {

struct CsrCondition {
  std::string type;    // Approved, Denied, Failed, or anything a newer API adds
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  std::string last_update_time;      // RFC 3339, empty when absent
  std::string last_transition_time;  // RFC 3339, empty when absent
};

struct CsrObject {
  // metadata
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string creation_timestamp;  // RFC 3339, empty when absent

  // spec
  std::string request;  // spec.request exactly as carried in JSON: base64 of PEM
  std::string signer_name;
  std::vector<std::string> usages;
  std::optional<std::int64_t> expiration_seconds;
  std::string username;  // the requestor, stamped by the API server
  std::string requestor_uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;

  // status
  std::vector<CsrCondition> conditions;
  bool has_certificate = false;  // status.certificate non-empty
};

// Decodes one object. kind/apiVersion may be absent (list items from the API server lack them);
// when present they must be CertificateSigningRequest / certificates.k8s.io/v1.
// Required: metadata.name, spec.request, spec.signerName (non-empty, except spec.request: an empty
// request decodes and the inspector refuses it). Absent and null fields are the same. Unknown
// fields are ignored. The first error found is returned.
// Errors name the object and the field: `CertificateSigningRequest "x": spec.usages[1]: expected a
// string`.
Result<CsrObject> DecodeCsrObject(const nlohmann::json& object);

// The largest document DecodeCsrDocument reads, in bytes.
inline constexpr std::size_t kMaxDocumentBytes = 16 * 1024 * 1024;

// A whole document as `kubectl get csr -o yaml|json` prints it: one object, or a List /
// CertificateSigningRequestList of them. JSON or YAML (detected by content: JSON when the first
// non-blank character is '{' or '['). `source` names the input in errors (a file name, or
// "<stdin>"); list items without a name are named by index (`items[3]`).
// Untrusted input: larger than kMaxDocumentBytes, nested deeper than 64 levels, more than one
// YAML document, duplicate keys (JSON or YAML) or invalid UTF-8 are errors. YAML scalars follow
// the 1.2 core schema: a quoted "3600" stays a string (and is refused where an integer is
// expected), a plain 3600 is an integer, plain true/false/null are booleans/null, `yes`/`on` stay
// strings.
Result<std::vector<CsrObject>> DecodeCsrDocument(std::string_view text, std::string_view source);

}  // namespace kca
