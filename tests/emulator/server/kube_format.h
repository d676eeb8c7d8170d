// Kubernetes wire formats shared by the emulator's handlers: Status objects, field errors as
// k8s.io/apimachinery/pkg/util/validation/field renders them, timestamps and durations.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store.h"

namespace kca::emulator {

// A GroupResource with its kind, for error details and messages.
struct ResourceName {
  std::string group;     // "" for core
  std::string resource;  // plural
  std::string kind;
  // "certificatesigningrequests.certificates.k8s.io" or "nodes" for the core group.
  std::string Qualified() const { return group.empty() ? resource : resource + "." + group; }
};

struct FieldError {
  enum class Type { kRequired, kForbidden, kInvalid, kNotSupported, kDuplicate, kTooLong };
  Type type;
  std::string field;
  std::string value;  // already rendered as Go's %v/%q/%#v would, empty when not shown
  std::string detail;
  std::string Body() const;    // "Invalid value: "x": detail"
  std::string Reason() const;  // "FieldValueInvalid"
  std::string Message() const { return field + ": " + Body(); }
};

Json StatusFailure(int code, const std::string& reason, const std::string& message,
                   std::optional<Json> details = std::nullopt);
Json NotFoundStatus(const ResourceName& r, const std::string& name);
Json InvalidStatus(const ResourceName& r, const std::string& name,
                   const std::vector<FieldError>& errors);
Json ForbiddenStatus(const ResourceName& r, const std::string& name, const std::string& why);
Json ConflictStatus(const ResourceName& r, const std::string& name, const std::string& why);
Json BadRequestStatus(const std::string& message);

// Go %q of a string (JSON-style escaping is close enough for printable input).
std::string Quote(const std::string& s);

// RFC 3339 with seconds ("2024-01-02T03:04:05Z"), as metav1.Time.
std::string FormatTime(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> ParseTime(const std::string& s);

// k8s.io/apimachinery/pkg/util/duration.HumanDuration.
std::string HumanDuration(std::chrono::seconds d);

// Standard base64 with padding, as Go's encoding/json handles []byte. Error text as Go's.
std::optional<std::string> Base64Decode(const std::string& in, std::string* error);
std::string Base64Encode(const std::string& in);

}  // namespace kca::emulator
