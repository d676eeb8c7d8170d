// DecodeCsrObject: JSON (already parsed) → CsrObject, with errors naming the object and field.
#include "kube_csr_approver/csr_object.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "csr_object_internal.h"
#include "text.h"

namespace kca {
namespace csr_internal {
namespace {

using nlohmann::json;

// Reads the fields of one object; the first failure wins and is kept in `error_`.
class ObjectReader {
 public:
  explicit ObjectReader(std::string label) : label_(std::move(label)) {}

  bool failed() const { return error_.has_value(); }
  Error error() const { return *error_; }

  // The member, or nullptr when absent or null (the API server omits and nulls alike).
  const json* Member(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* Object(const json& parent, const char* key, const std::string& path) {
    const json* value = Member(parent, key);
    if (value != nullptr && !value->is_object()) {
      Fail(path, "expected an object, found " + std::string(value->type_name()));
      return nullptr;
    }
    return value;
  }

  void String(const json* parent, const char* key, const std::string& path, std::string& out,
              bool required) {
    if (failed()) return;
    const json* value = parent ? Member(*parent, key) : nullptr;
    if (value == nullptr) {
      if (required) Fail(path, "required field is missing");
      return;
    }
    if (!value->is_string()) {
      Fail(path, "expected a string, found " + std::string(value->type_name()));
      return;
    }
    out = value->get<std::string>();
    if (required && out.empty()) Fail(path, "must not be empty");
  }

  void StringList(const json* value, const std::string& path, std::vector<std::string>& out) {
    if (failed() || value == nullptr) return;
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

  void Integer(const json* value, const std::string& path, std::optional<std::int64_t>& out) {
    if (failed() || value == nullptr) return;
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

  void Fail(const std::string& path, const std::string& what) {
    if (!failed()) error_ = Error{label_ + ": " + path + ": " + what};
  }

 private:
  std::string label_;
  std::optional<Error> error_;
};

void ReadExact(ObjectReader& reader, const json& object, const char* key,
               std::string_view expected) {
  std::string value;
  reader.String(&object, key, key, value, false);
  if (!reader.failed() && reader.Member(object, key) != nullptr && value != expected) {
    reader.Fail(key, "expected " + std::string(expected) + ", found " + Quote(value));
  }
}

void ReadConditions(ObjectReader& reader, const json* status, CsrObject& csr) {
  const json* conditions = status ? reader.Member(*status, "conditions") : nullptr;
  if (reader.failed() || conditions == nullptr) return;
  if (!conditions->is_array()) {
    reader.Fail("status.conditions",
                "expected a list, found " + std::string(conditions->type_name()));
    return;
  }
  for (std::size_t i = 0; i < conditions->size() && !reader.failed(); ++i) {
    const std::string path = "status.conditions[" + std::to_string(i) + "]";
    const json& item = (*conditions)[i];
    if (!item.is_object()) {
      reader.Fail(path, "expected an object, found " + std::string(item.type_name()));
      return;
    }
    CsrCondition condition;
    reader.String(&item, "type", path + ".type", condition.type, true);
    reader.String(&item, "status", path + ".status", condition.status, true);
    reader.String(&item, "reason", path + ".reason", condition.reason, false);
    reader.String(&item, "message", path + ".message", condition.message, false);
    reader.String(&item, "lastUpdateTime", path + ".lastUpdateTime", condition.last_update_time,
                  false);
    reader.String(&item, "lastTransitionTime", path + ".lastTransitionTime",
                  condition.last_transition_time, false);
    csr.conditions.push_back(std::move(condition));
  }
}

void ReadExtra(ObjectReader& reader, const json* spec, CsrObject& csr) {
  const json* extra = spec ? reader.Member(*spec, "extra") : nullptr;
  if (reader.failed() || extra == nullptr) return;
  if (!extra->is_object()) {
    reader.Fail("spec.extra",
                "expected a map of string lists, found " + std::string(extra->type_name()));
    return;
  }
  for (const auto& [key, values] : extra->items()) {
    reader.StringList(&values, "spec.extra." + key, csr.extra[key]);
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
  ReadExact(reader, object, "kind", "CertificateSigningRequest");
  ReadExact(reader, object, "apiVersion", "certificates.k8s.io/v1");

  const json* metadata = reader.Object(object, "metadata", "metadata");
  if (!reader.failed() && metadata == nullptr)
    reader.Fail("metadata.name", "required field is missing");
  reader.String(metadata, "name", "metadata.name", csr.name, true);
  reader.String(metadata, "uid", "metadata.uid", csr.uid, false);
  reader.String(metadata, "resourceVersion", "metadata.resourceVersion", csr.resource_version,
                false);
  reader.String(metadata, "creationTimestamp", "metadata.creationTimestamp", csr.creation_timestamp,
                false);

  const json* spec = reader.failed() ? nullptr : reader.Object(object, "spec", "spec");
  if (!reader.failed() && spec == nullptr) reader.Fail("spec.request", "required field is missing");
  if (!reader.failed()) {
    // An empty request is kept: the inspector refuses it with a precise reason.
    reader.String(spec, "request", "spec.request", csr.request, false);
    if (!reader.failed() && reader.Member(*spec, "request") == nullptr) {
      reader.Fail("spec.request", "required field is missing");
    }
  }
  reader.String(spec, "signerName", "spec.signerName", csr.signer_name, true);
  if (!reader.failed()) {
    reader.StringList(reader.Member(*spec, "usages"), "spec.usages", csr.usages);
    reader.Integer(reader.Member(*spec, "expirationSeconds"), "spec.expirationSeconds",
                   csr.expiration_seconds);
  }
  reader.String(spec, "username", "spec.username", csr.username, false);
  reader.String(spec, "uid", "spec.uid", csr.requestor_uid, false);
  if (!reader.failed())
    reader.StringList(reader.Member(*spec, "groups"), "spec.groups", csr.groups);
  if (!reader.failed()) ReadExtra(reader, spec, csr);

  const json* status = reader.failed() ? nullptr : reader.Object(object, "status", "status");
  ReadConditions(reader, status, csr);
  std::string certificate;
  reader.String(status, "certificate", "status.certificate", certificate, false);
  csr.has_certificate = !certificate.empty();

  if (reader.failed()) return reader.error();
  return csr;
}

}  // namespace csr_internal

Result<CsrObject> DecodeCsrObject(const nlohmann::json& object) {
  return csr_internal::DecodeCsrObjectAs(
      object, csr_internal::ObjectLabel(object, "CertificateSigningRequest (no metadata.name)"));
}

}  // namespace kca
