// The CertificateSigningRequest object (certificates.k8s.io/v1) as decisions need it, decoded
// from JSON or YAML as the API server or `kubectl get csr -o yaml|json` prints it.
// Pure: no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kube_csr_approver/result.h"

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
// Required: metadata.name, spec.request, spec.signerName. Unknown fields are ignored.
// Errors name the object and the field: `CertificateSigningRequest "x": spec.usages[1]: expected a string`.
Result<CsrObject> DecodeCsrObject(const nlohmann::json& object);

// A whole document as `kubectl get csr -o yaml|json` prints it: one object, or a List /
// CertificateSigningRequestList of them. JSON or YAML (detected by content). `source` names the
// input in errors (a file name, or "<stdin>").
Result<std::vector<CsrObject>> DecodeCsrDocument(std::string_view text, std::string_view source);

}  // namespace kca
