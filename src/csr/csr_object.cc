// DecodeCsrObject: JSON (already parsed) → CsrObject, with errors naming the object and field.
#include "kube_csr_approver/csr/csr_object.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "csr_object_internal.h"
#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"

namespace kca {
namespace csr_internal {
namespace {

using nlohmann::json;

enum class Presence { kOptional, kRequired, kRequiredNonEmpty };

// Reads fields of one object. Keeps the first failure; every call after it is a no-op, and a
// null parent reads as an empty object, so a decoder is a flat list of reads.
class ObjectReader {
 public:
  explicit ObjectReader(std::string label) : label_(std::move(label)) {}

  const std::optional<Error>& error() const { return error_; }

  // The member, or nullptr when absent or null (the API server omits and nulls alike).
  const json* Member(const json* parent, const char* key) const {
    if (error_ || parent == nullptr) return nullptr;
    auto it = parent->find(key);
    if (it == parent->end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* Object(const json* parent, const char* key, const std::string& path) {
    const json* value = Member(parent, key);
    if (value != nullptr && !value->is_object()) {
      return Fail(path, "expected an object, found " + std::string(value->type_name()));
    }
    return value;
  }

  const json* List(const json* parent, const char* key, const std::string& path) {
    const json* value = Member(parent, key);
    if (value != nullptr && !value->is_array()) {
      return Fail(path, "expected a list, found " + std::string(value->type_name()));
    }
    return value;
  }

  void String(const json* parent, const char* key, const std::string& path, std::string& out,
              Presence presence) {
    if (error_) return;
    const json* value = Member(parent, key);
    if (value == nullptr) {
      if (presence != Presence::kOptional) Fail(path, "required field is missing");
      return;
    }
    if (!value->is_string()) {
      Fail(path, "expected a string, found " + std::string(value->type_name()));
      return;
    }
    out = value->get<std::string>();
    if (presence == Presence::kRequiredNonEmpty && out.empty()) Fail(path, "must not be empty");
  }

  // The exact value when present (kind, apiVersion).
  void Constant(const json* parent, const char* key, std::string_view expected) {
    std::string value;
    String(parent, key, key, value, Presence::kOptional);
    if (Member(parent, key) != nullptr && value != expected) {
      Fail(key, "expected " + std::string(expected) + ", found " + Quote(value));
    }
  }

  void StringList(const json* value, const std::string& path, std::vector<std::string>& out) {
    if (error_ || value == nullptr) return;
    if (!value->is_array()) {
      Fail(path, "expected a list of strings, found " + std::string(value->type_name()));
      return;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      if (!item.is_string()) {
        Fail(path + "[" + std::to_string(i) + "]",
             "expected a string, found " + std::string(item.type_name()));
        return;
      }
      out.push_back(item.get<std::string>());
    }
  }

  void StringListMap(const json* value, const std::string& path,
                     std::map<std::string, std::vector<std::string>>& out) {
    if (error_ || value == nullptr) return;
    if (!value->is_object()) {
      Fail(path, "expected a map of string lists, found " + std::string(value->type_name()));
      return;
    }
    for (const auto& [key, values] : value->items()) {
      StringList(&values, path + "." + key, out[key]);
    }
  }

  void Integer(const json* value, const std::string& path, std::optional<std::int64_t>& out) {
    if (error_ || value == nullptr) return;
    if (value->is_number_unsigned()) {
      const auto number = value->get<std::uint64_t>();
      if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        Fail(path, "integer out of range");
        return;
      }
      out = static_cast<std::int64_t>(number);
    } else if (value->is_number_integer()) {
      out = value->get<std::int64_t>();
    } else {
      Fail(path, "expected an integer, found " + std::string(value->type_name()) +
                     (value->is_string() ? " (remove the quotes)" : ""));
    }
  }

  // Records the first failure; returns nullptr for the convenience of pointer-returning reads.
  const json* Fail(const std::string& path, const std::string& what) {
    if (!error_) error_ = Error{label_ + ": " + path + ": " + what};
    return nullptr;
  }

 private:
  std::string label_;
  std::optional<Error> error_;
};

void ReadConditions(ObjectReader& reader, const json* status, std::vector<CsrCondition>& out) {
  const json* conditions = reader.List(status, "conditions", "status.conditions");
  for (std::size_t i = 0; conditions != nullptr && i < conditions->size(); ++i) {
    const std::string path = "status.conditions[" + std::to_string(i) + "]";
    const json& item = (*conditions)[i];
    if (!item.is_object()) {
      reader.Fail(path, "expected an object, found " + std::string(item.type_name()));
    }
    if (reader.error()) return;
    CsrCondition condition;
    reader.String(&item, "type", path + ".type", condition.type, Presence::kRequired);
    reader.String(&item, "status", path + ".status", condition.status, Presence::kRequired);
    reader.String(&item, "reason", path + ".reason", condition.reason, Presence::kOptional);
    reader.String(&item, "message", path + ".message", condition.message, Presence::kOptional);
    reader.String(&item, "lastUpdateTime", path + ".lastUpdateTime", condition.last_update_time,
                  Presence::kOptional);
    reader.String(&item, "lastTransitionTime", path + ".lastTransitionTime",
                  condition.last_transition_time, Presence::kOptional);
    out.push_back(std::move(condition));
  }
}

}  // namespace

std::string ObjectLabel(const nlohmann::json& object, std::string_view fallback) {
  if (object.is_object()) {
    auto metadata = object.find("metadata");
    if (metadata != object.end() && metadata->is_object()) {
      auto name = metadata->find("name");
      if (name != metadata->end() && name->is_string() && !name->get<std::string>().empty()) {
        return "CertificateSigningRequest " + Quote(name->get<std::string>(), 253);
      }
    }
  }
  return std::string(fallback);
}

Result<CsrObject> DecodeCsrObjectAs(const nlohmann::json& object, const std::string& label) {
  if (!object.is_object()) {
    return Error{label + ": expected an object, found " + std::string(object.type_name())};
  }
  ObjectReader reader(label);
  CsrObject csr;
  reader.Constant(&object, "kind", "CertificateSigningRequest");
  reader.Constant(&object, "apiVersion", "certificates.k8s.io/v1");

  const json* metadata = reader.Object(&object, "metadata", "metadata");
  reader.String(metadata, "name", "metadata.name", csr.name, Presence::kRequiredNonEmpty);
  reader.String(metadata, "uid", "metadata.uid", csr.uid, Presence::kOptional);
  reader.String(metadata, "resourceVersion", "metadata.resourceVersion", csr.resource_version,
                Presence::kOptional);
  reader.String(metadata, "creationTimestamp", "metadata.creationTimestamp", csr.creation_timestamp,
                Presence::kOptional);

  const json* spec = reader.Object(&object, "spec", "spec");
  // An empty request is kept: the inspector refuses it with a precise reason.
  reader.String(spec, "request", "spec.request", csr.request, Presence::kRequired);
  reader.String(spec, "signerName", "spec.signerName", csr.signer_name,
                Presence::kRequiredNonEmpty);
  reader.StringList(reader.Member(spec, "usages"), "spec.usages", csr.usages);
  reader.Integer(reader.Member(spec, "expirationSeconds"), "spec.expirationSeconds",
                 csr.expiration_seconds);
  reader.String(spec, "username", "spec.username", csr.username, Presence::kOptional);
  reader.String(spec, "uid", "spec.uid", csr.requestor_uid, Presence::kOptional);
  reader.StringList(reader.Member(spec, "groups"), "spec.groups", csr.groups);
  reader.StringListMap(reader.Member(spec, "extra"), "spec.extra", csr.extra);

  const json* status = reader.Object(&object, "status", "status");
  ReadConditions(reader, status, csr.conditions);
  std::string certificate;
  reader.String(status, "certificate", "status.certificate", certificate, Presence::kOptional);
  csr.has_certificate = !certificate.empty();

  if (reader.error()) return *reader.error();
  return csr;
}

}  // namespace csr_internal

Result<CsrObject> DecodeCsrObject(const nlohmann::json& object) {
  return csr_internal::DecodeCsrObjectAs(
      object, csr_internal::ObjectLabel(object, "CertificateSigningRequest (no metadata.name)"));
}

}  // namespace kca
