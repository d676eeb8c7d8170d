// CertificateSigningRequest rules of kube-apiserver: decoding checks, the create/update
// strategies (what the server stamps, restores and fills in) and validation
// (pkg/apis/certificates/validation), plus the CertificateSubjectRestriction admission check.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "auth.h"
#include "kube_format.h"

namespace kca::emulator {

enum class CsrWrite { kMain, kApproval, kStatus };

// Go json decoding errors for wrongly typed fields; nullopt when the object decodes.
std::optional<std::string> CsrDecodeError(const Json& object);
// Fields the Go type does not have, as "spec.foo" paths (strict field validation).
std::vector<std::string> CsrUnknownFields(const Json& object);

void PrepareCsrForCreate(Json& object, const UserInfo& user);
std::vector<FieldError> ValidateCsrCreate(const Json& object);
// The admission plugin's refusal reason, if any.
std::optional<std::string> CsrSubjectRestriction(const Json& object);

// Restores what the given write may not change and fills condition timestamps.
void PrepareCsrForUpdate(Json& object, const Json& old, CsrWrite write,
                         std::chrono::system_clock::time_point now);
std::vector<FieldError> ValidateCsrUpdate(const Json& object, const Json& old, CsrWrite write);

// Server-side printing: cells for the columns Name, Age, SignerName, Requestor,
// RequestedDuration, Condition.
Json CsrTableCells(const Json& object, std::chrono::system_clock::time_point now);
Json CsrColumnDefinitions();

}  // namespace kca::emulator
