#include "csr_strategy.h"

#include <re2/re2.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "kube_csr_approver/csr/key_usages.h"
#include "pki.h"

namespace kca::emulator {
namespace {

const std::set<std::string>& ValidUsages() {
  static const std::set<std::string> kUsages(kKeyUsages.begin(), kKeyUsages.end());
  return kUsages;
}

std::string GoBytes(const std::optional<std::string>& bytes) {
  if (!bytes) return "[]byte(nil)";
  static const char* kHex = "0123456789abcdef";
  std::string out = "[]byte{";
  for (size_t i = 0; i < bytes->size(); ++i) {
    unsigned char c = static_cast<unsigned char>((*bytes)[i]);
    if (i > 0) out += ", ";
    out += "0x";
    if (c >= 16) out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out + "}";
}

// Go's time.Time GoString() of a decoded metav1.Time (metav1 converts to time.Local).
std::string GoTime(const Json& t) {
  std::optional<std::chrono::system_clock::time_point> parsed;
  if (t.is_string()) parsed = ParseTime(t.get<std::string>());
  if (!parsed) return "time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)";
  static const char* kMonths[] = {"January",   "February", "March",    "April",
                                  "May",       "June",     "July",     "August",
                                  "September", "October",  "November", "December"};
  std::time_t tt = std::chrono::system_clock::to_time_t(*parsed);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return "time.Date(" + std::to_string(tm.tm_year + 1900) + ", time." + kMonths[tm.tm_mon] + ", " +
         std::to_string(tm.tm_mday) + ", " + std::to_string(tm.tm_hour) + ", " +
         std::to_string(tm.tm_min) + ", " + std::to_string(tm.tm_sec) + ", 0, time.Local)";
}

std::string GoConditions(const Json& conditions) {
  std::string out = "[]certificates.CertificateSigningRequestCondition{";
  bool first = true;
  for (const Json& c : conditions) {
    if (!first) out += ", ";
    first = false;
    auto str = [&](const char* k) { return Quote(c.value(k, std::string())); };
    out += "certificates.CertificateSigningRequestCondition{Type:" + str("type") +
           ", Status:" + str("status") + ", Reason:" + str("reason") +
           ", Message:" + str("message") +
           ", LastUpdateTime:v1.Time{Time:" + GoTime(c.value("lastUpdateTime", Json())) +
           "}, LastTransitionTime:v1.Time{Time:" + GoTime(c.value("lastTransitionTime", Json())) +
           "}}";
  }
  return out + "}";
}

// k8s.io/apimachinery/pkg/util/validation.IsDNS1123Subdomain.
std::vector<std::string> IsDns1123Subdomain(const std::string& value) {
  static const RE2 kSubdomain("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back("must be no more than 253 characters");
  if (!RE2::FullMatch(value, kSubdomain)) {
    errs.push_back(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
  return errs;
}

// k8s.io/apimachinery/pkg/api/validation.ValidateSignerName.
void ValidateSignerName(const std::string& signer, std::vector<FieldError>* errs) {
  const std::string path = "spec.signerName";
  using T = FieldError::Type;
  if (signer.empty()) {
    errs->push_back({T::kRequired, path, "", ""});
    return;
  }
  size_t slashes = std::count(signer.begin(), signer.end(), '/');
  if (slashes != 1) {
    errs->push_back({T::kInvalid, path, Quote(signer),
                     "must be a fully qualified domain and path of the form "
                     "'example.com/signer-name'"});
    return;
  }
  std::string domain = signer.substr(0, signer.find('/'));
  std::string rest = signer.substr(signer.find('/') + 1);
  if (domain.size() > 253) {
    errs->push_back({T::kTooLong, path, "", "may not be more than 253 bytes"});
  }
  for (const std::string& e : IsDns1123Subdomain(domain)) {
    errs->push_back({T::kInvalid, path, Quote(domain), e});
  }
  if (domain.find('.') == std::string::npos) {
    errs->push_back({T::kInvalid, path, Quote(domain),
                     "should be a domain with at least two segments separated by dots"});
  }
  const size_t kMaxPath = 253 + 63 + 1;
  const size_t kMaxSigner = 253 + kMaxPath + 1;
  if (signer.size() > kMaxSigner) {
    errs->push_back({T::kTooLong, path, "", "may not be more than 571 bytes"});
  }
  if (rest.size() > kMaxPath) {
    errs->push_back({T::kTooLong, path, "", "may not be more than 317 bytes"});
  }
  // The path is one or more DNS-1123 subdomains separated by '/' (only one '/' allowed above).
  for (const std::string& e : IsDns1123Subdomain(rest)) {
    errs->push_back({T::kInvalid, path, Quote(rest), "validating path: " + e});
  }
}

std::optional<std::string> DecodedRequest(const Json& object) {
  const Json* spec = object.contains("spec") ? &object["spec"] : nullptr;
  if (spec == nullptr || !spec->is_object() || !spec->contains("request") ||
      (*spec)["request"].is_null()) {
    return std::nullopt;
  }
  std::string error;
  return Base64Decode((*spec)["request"].get<std::string>(), &error);
}

void ValidateConditions(const Json& object, std::vector<FieldError>* errs) {
  using T = FieldError::Type;
  const Json empty = Json::array();
  const Json& status = object.contains("status") ? object["status"] : empty;
  if (!status.is_object() || !status.contains("conditions")) return;
  const Json& conditions = status["conditions"];
  if (!conditions.is_array()) return;
  std::set<std::string> seen;
  bool approved = false, denied = false;
  for (size_t i = 0; i < conditions.size(); ++i) {
    const Json& c = conditions[i];
    std::string base = "status.conditions[" + std::to_string(i) + "]";
    std::string type = c.is_object() ? c.value("type", std::string()) : "";
    std::string st = c.is_object() ? c.value("status", std::string()) : "";
    if (type.empty()) errs->push_back({T::kRequired, base + ".type", "", ""});
    bool true_only = type == "Approved" || type == "Denied" || type == "Failed";
    if (st.empty()) {
      errs->push_back({T::kRequired, base + ".status", "", ""});
    } else if (true_only ? st != "True" : (st != "True" && st != "False" && st != "Unknown")) {
      errs->push_back({T::kNotSupported, base + ".status", Quote(st),
                       true_only ? "supported values: \"True\""
                                 : "supported values: \"False\", \"True\", \"Unknown\""});
    }
    if (seen.count(type) != 0) {
      errs->push_back({T::kDuplicate, base + ".type", Quote(type), ""});
    }
    seen.insert(type);
    approved = approved || type == "Approved";
    denied = denied || type == "Denied";
  }
  if (approved && denied) {
    errs->push_back({T::kInvalid, "status.conditions", GoConditions(conditions),
                     "Approved and Denied conditions are mutually exclusive"});
  }
}

void ValidateCertificate(const Json& object, std::vector<FieldError>* errs) {
  if (!object.contains("status") || !object["status"].is_object()) return;
  const Json& status = object["status"];
  if (!status.contains("certificate") || status["certificate"].is_null()) return;
  std::string error;
  std::optional<std::string> pem = Base64Decode(status["certificate"].get<std::string>(), &error);
  if (!pem || pem->empty()) return;
  if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    errs->push_back({FieldError::Type::kInvalid, "status.certificate", "\"<certificate data>\"",
                     "must contain at least one CERTIFICATE PEM block"});
  }
}

size_t CountType(const Json& object, const std::string& type) {
  size_t n = 0;
  if (!object.contains("status") || !object["status"].is_object()) return 0;
  const Json& status = object["status"];
  if (!status.contains("conditions") || !status["conditions"].is_array()) return 0;
  for (const Json& c : status["conditions"]) {
    if (c.is_object() && c.value("type", std::string()) == type) ++n;
  }
  return n;
}

bool IsZeroTime(const Json& t) { return !t.is_string() || t.get<std::string>().empty(); }

}  // namespace

std::optional<std::string> CsrDecodeError(const Json& object) {
  const std::string prefix =
      "CertificateSigningRequest in version \"v1\" cannot be handled as a "
      "CertificateSigningRequest: ";
  auto type_error = [&](const std::string& got, const std::string& go_field,
                        const std::string& go_type) {
    return prefix + "json: cannot unmarshal " + got + " into Go struct field " + go_field +
           " of type " + go_type;
  };
  auto json_kind = [](const Json& j) -> std::string {
    if (j.is_string()) return "string";
    if (j.is_number()) return "number";
    if (j.is_boolean()) return "bool";
    if (j.is_array()) return "array";
    return "object";
  };
  if (object.contains("spec") && !object["spec"].is_null()) {
    const Json& spec = object["spec"];
    if (!spec.is_object()) {
      return type_error(json_kind(spec), "CertificateSigningRequest.spec",
                        "v1.CertificateSigningRequestSpec");
    }
    for (const char* f : {"request", "signerName", "username", "uid"}) {
      if (spec.contains(f) && !spec[f].is_null() && !spec[f].is_string()) {
        return type_error(json_kind(spec[f]),
                          std::string("CertificateSigningRequestSpec.spec.") + f,
                          std::string(f) == "request" ? "[]uint8" : "string");
      }
    }
    if (spec.contains("request") && spec["request"].is_string()) {
      std::string error;
      if (!Base64Decode(spec["request"].get<std::string>(), &error)) return prefix + error;
    }
    if (spec.contains("expirationSeconds") && !spec["expirationSeconds"].is_null() &&
        !(spec["expirationSeconds"].is_number_integer() &&
          spec["expirationSeconds"].get<int64_t>() >= INT32_MIN &&
          spec["expirationSeconds"].get<int64_t>() <= INT32_MAX)) {
      return type_error(spec["expirationSeconds"].is_number()
                            ? "number " + spec["expirationSeconds"].dump()
                            : json_kind(spec["expirationSeconds"]),
                        "CertificateSigningRequestSpec.spec.expirationSeconds", "int32");
    }
    for (const char* f : {"usages", "groups"}) {
      if (!spec.contains(f) || spec[f].is_null()) continue;
      if (!spec[f].is_array()) {
        return type_error(json_kind(spec[f]),
                          std::string("CertificateSigningRequestSpec.spec.") + f,
                          std::string(f) == "usages" ? "[]v1.KeyUsage" : "[]string");
      }
      for (const Json& item : spec[f]) {
        if (!item.is_string()) {
          return type_error(json_kind(item), std::string("CertificateSigningRequestSpec.spec.") + f,
                            std::string(f) == "usages" ? "v1.KeyUsage" : "string");
        }
      }
    }
  }
  if (object.contains("status") && !object["status"].is_null()) {
    const Json& status = object["status"];
    if (!status.is_object()) {
      return type_error(json_kind(status), "CertificateSigningRequest.status",
                        "v1.CertificateSigningRequestStatus");
    }
    if (status.contains("conditions") && !status["conditions"].is_null()) {
      if (!status["conditions"].is_array()) {
        return type_error(json_kind(status["conditions"]),
                          "CertificateSigningRequestStatus.status.conditions",
                          "[]v1.CertificateSigningRequestCondition");
      }
      for (const Json& c : status["conditions"]) {
        if (!c.is_object()) {
          return type_error(json_kind(c), "CertificateSigningRequestStatus.status.conditions",
                            "v1.CertificateSigningRequestCondition");
        }
        for (const char* f : {"type", "status", "reason", "message"}) {
          if (c.contains(f) && !c[f].is_null() && !c[f].is_string()) {
            return type_error(
                json_kind(c[f]),
                std::string("CertificateSigningRequestCondition.status.conditions.") + f, "string");
          }
        }
        for (const char* f : {"lastUpdateTime", "lastTransitionTime"}) {
          if (c.contains(f) && !c[f].is_null() &&
              (!c[f].is_string() || !ParseTime(c[f].get<std::string>()))) {
            return prefix + "parsing time " + c[f].dump() +
                   " as \"2006-01-02T15:04:05Z07:00\": cannot parse";
          }
        }
      }
    }
    if (status.contains("certificate") && !status["certificate"].is_null()) {
      if (!status["certificate"].is_string()) {
        return type_error(json_kind(status["certificate"]),
                          "CertificateSigningRequestStatus.status.certificate", "[]uint8");
      }
      std::string error;
      if (!Base64Decode(status["certificate"].get<std::string>(), &error)) return prefix + error;
    }
  }
  return std::nullopt;
}

std::vector<std::string> CsrUnknownFields(const Json& object) {
  static const std::set<std::string> kTop = {"apiVersion", "kind", "metadata", "spec", "status"};
  static const std::set<std::string> kSpec = {
      "request", "signerName", "expirationSeconds", "usages", "username", "uid", "groups", "extra"};
  static const std::set<std::string> kStatus = {"conditions", "certificate"};
  static const std::set<std::string> kCondition = {
      "type", "status", "reason", "message", "lastUpdateTime", "lastTransitionTime"};
  static const std::set<std::string> kMeta = {"name",
                                              "generateName",
                                              "namespace",
                                              "selfLink",
                                              "uid",
                                              "resourceVersion",
                                              "generation",
                                              "creationTimestamp",
                                              "deletionTimestamp",
                                              "deletionGracePeriodSeconds",
                                              "labels",
                                              "annotations",
                                              "ownerReferences",
                                              "finalizers",
                                              "managedFields"};
  std::vector<std::string> unknown;
  auto check = [&](const Json& j, const std::set<std::string>& known, const std::string& prefix) {
    if (!j.is_object()) return;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (known.count(it.key()) == 0) unknown.push_back(prefix + it.key());
    }
  };
  check(object, kTop, "");
  if (object.contains("metadata")) check(object["metadata"], kMeta, "metadata.");
  if (object.contains("spec")) check(object["spec"], kSpec, "spec.");
  if (object.contains("status") && object["status"].is_object()) {
    check(object["status"], kStatus, "status.");
    if (object["status"].contains("conditions") && object["status"]["conditions"].is_array()) {
      const Json& conditions = object["status"]["conditions"];
      for (size_t i = 0; i < conditions.size(); ++i) {
        check(conditions[i], kCondition, "status.conditions[" + std::to_string(i) + "].");
      }
    }
  }
  return unknown;
}

void PrepareCsrForCreate(Json& object, const UserInfo& user) {
  Json& spec = object["spec"];
  if (!spec.is_object()) spec = Json::object();
  // Identity comes from authentication, never from the body.
  spec.erase("username");
  spec.erase("uid");
  spec.erase("groups");
  spec.erase("extra");
  spec["username"] = user.name;
  if (!user.uid.empty()) spec["uid"] = user.uid;
  spec["groups"] = user.groups;
  object["status"] = Json::object();
}

std::vector<FieldError> ValidateCsrCreate(const Json& object) {
  using T = FieldError::Type;
  std::vector<FieldError> errs;
  const Json& spec = object["spec"];
  std::optional<std::string> request = DecodedRequest(object);
  Result<CsrSubject> parsed = ParseCertificateRequest(request.value_or(""));
  if (!parsed.ok()) {
    errs.push_back({T::kInvalid, "spec.request", GoBytes(request), parsed.error().message});
  }
  Json usages = spec.value("usages", Json::array());
  if (usages.is_null() || usages.empty()) {
    errs.push_back({T::kRequired, "spec.usages", "", ""});
  } else {
    std::string supported;
    for (const std::string& u : ValidUsages())
      supported += (supported.empty() ? "" : ", ") + Quote(u);
    for (size_t i = 0; i < usages.size(); ++i) {
      std::string u = usages[i].get<std::string>();
      if (ValidUsages().count(u) == 0) {
        errs.push_back({T::kNotSupported, "spec.usages[" + std::to_string(i) + "]", Quote(u),
                        "supported values: " + supported});
      }
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < usages.size(); ++i) {
      std::string u = usages[i].get<std::string>();
      if (!seen.insert(u).second) {
        errs.push_back({T::kDuplicate, "spec.usages[" + std::to_string(i) + "]", Quote(u), ""});
      }
    }
  }
  std::string signer = spec.contains("signerName") && spec["signerName"].is_string()
                           ? spec["signerName"].get<std::string>()
                           : "";
  if (signer == "kubernetes.io/legacy-unknown") {
    errs.push_back({T::kInvalid, "spec.signerName", Quote(signer),
                    "the legacy signerName is not allowed via this API version"});
  } else {
    ValidateSignerName(signer, &errs);
  }
  if (spec.contains("expirationSeconds") && spec["expirationSeconds"].is_number_integer()) {
    int64_t seconds = spec["expirationSeconds"].get<int64_t>();
    if (seconds < 600) {
      errs.push_back({T::kInvalid, "spec.expirationSeconds", std::to_string(seconds),
                      "may not specify a duration less than 600 seconds (10 minutes)"});
    }
  }
  ValidateConditions(object, &errs);
  ValidateCertificate(object, &errs);
  return errs;
}

std::optional<std::string> CsrSubjectRestriction(const Json& object) {
  if (object["spec"].value("signerName", std::string()) != "kubernetes.io/kube-apiserver-client") {
    return std::nullopt;
  }
  Result<CsrSubject> parsed = ParseCertificateRequest(DecodedRequest(object).value_or(""));
  if (!parsed.ok()) return parsed.error().message;
  for (const std::string& org : parsed->organizations) {
    if (org == "system:masters") {
      return "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not "
             "allowed";
    }
  }
  return std::nullopt;
}

void PrepareCsrForUpdate(Json& object, const Json& old, CsrWrite write,
                         std::chrono::system_clock::time_point now) {
  object["spec"] = old["spec"];
  const Json old_status = old.contains("status") ? old["status"] : Json::object();
  if (write == CsrWrite::kMain) {
    object["status"] = old_status;
    return;
  }
  Json status =
      object.contains("status") && object["status"].is_object() ? object["status"] : Json::object();
  Json conditions = status.contains("conditions") && status["conditions"].is_array()
                        ? status["conditions"]
                        : Json::array();
  if (write == CsrWrite::kApproval) {
    if (old_status.contains("certificate")) {
      status["certificate"] = old_status["certificate"];
    } else {
      status.erase("certificate");
    }
  } else {
    // /status may not add or drop Approved/Denied: keep the stored ones.
    Json kept = Json::array();
    for (const Json& c : conditions) {
      std::string type = c.value("type", std::string());
      if (type != "Approved" && type != "Denied") kept.push_back(c);
    }
    if (old_status.contains("conditions")) {
      for (const Json& c : old_status["conditions"]) {
        std::string type = c.value("type", std::string());
        if (type == "Approved" || type == "Denied") kept.push_back(c);
      }
    }
    conditions = kept;
  }
  std::string stamp = FormatTime(now);
  for (Json& c : conditions) {
    if (IsZeroTime(c.value("lastUpdateTime", Json()))) c["lastUpdateTime"] = stamp;
    if (IsZeroTime(c.value("lastTransitionTime", Json()))) {
      std::string transition = stamp;
      if (old_status.contains("conditions")) {
        for (const Json& o : old_status["conditions"]) {
          if (o.value("type", std::string()) == c.value("type", std::string()) &&
              o.value("status", std::string()) == c.value("status", std::string()) &&
              !IsZeroTime(o.value("lastTransitionTime", Json()))) {
            transition = o["lastTransitionTime"].get<std::string>();
            break;
          }
        }
      }
      c["lastTransitionTime"] = transition;
    }
  }
  if (conditions.empty()) {
    status.erase("conditions");
  } else {
    status["conditions"] = conditions;
  }
  object["status"] = status;
}

std::vector<FieldError> ValidateCsrUpdate(const Json& object, const Json& old, CsrWrite write) {
  std::vector<FieldError> errs;
  ValidateConditions(object, &errs);
  for (const char* type : {"Approved", "Denied", "Failed"}) {
    if (CountType(object, type) < CountType(old, type)) {
      errs.push_back({FieldError::Type::kForbidden, "status.conditions", "",
                      std::string("updates may not remove a condition of type ") + Quote(type)});
    }
  }
  if (write == CsrWrite::kStatus) {
    ValidateCertificate(object, &errs);
    const Json old_cert = old["status"].value("certificate", Json());
    const Json new_cert = object["status"].value("certificate", Json());
    if (!old_cert.is_null() && !old_cert.get<std::string>().empty() && old_cert != new_cert) {
      errs.push_back({FieldError::Type::kForbidden, "status.certificate", "",
                      "updates may not modify existing certificate content"});
    }
  }
  return errs;
}

Json CsrColumnDefinitions() {
  auto col = [](const char* name, const char* format, const char* description) {
    Json c;
    c["name"] = name;
    c["type"] = "string";
    c["format"] = format;
    c["description"] = description;
    c["priority"] = 0;
    return c;
  };
  Json cols = Json::array();
  cols.push_back(col("Name", "name",
                     "Name must be unique within a namespace. Is required when creating "
                     "resources, although some resources may allow a client to request the "
                     "generation of an appropriate name automatically."));
  cols.push_back(col("Age", "",
                     "CreationTimestamp is a timestamp representing the server time when this "
                     "object was created."));
  cols.push_back(col("SignerName", "", "Requested signer for the request."));
  cols.push_back(col("Requestor", "", "Information about the requesting user."));
  cols.push_back(col("RequestedDuration", "",
                     "expirationSeconds is the requested duration of validity of the issued "
                     "certificate."));
  cols.push_back(col("Condition", "", "Conditions applied to the request."));
  return cols;
}

Json CsrTableCells(const Json& object, std::chrono::system_clock::time_point now) {
  const Json& meta = object["metadata"];
  std::string age = "<unknown>";
  if (meta.contains("creationTimestamp") && meta["creationTimestamp"].is_string()) {
    if (auto created = ParseTime(meta["creationTimestamp"].get<std::string>())) {
      age = HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *created));
    }
  }
  const Json& spec = object["spec"];
  std::string signer = spec.value("signerName", std::string());
  if (signer.empty()) signer = "<none>";
  std::string duration = "<none>";
  if (spec.contains("expirationSeconds") && spec["expirationSeconds"].is_number_integer()) {
    duration = HumanDuration(std::chrono::seconds(spec["expirationSeconds"].get<int64_t>()));
  }
  bool approved = false, denied = false, failed = false;
  const Json& status = object.contains("status") ? object["status"] : Json::object();
  if (status.is_object() && status.contains("conditions")) {
    for (const Json& c : status["conditions"]) {
      std::string type = c.value("type", std::string());
      approved = approved || type == "Approved";
      denied = denied || type == "Denied";
      failed = failed || type == "Failed";
    }
  }
  std::string condition = denied ? "Denied" : approved ? "Approved" : "Pending";
  if (failed) condition += ",Failed";
  if (status.is_object() && status.contains("certificate") &&
      !status["certificate"].get<std::string>().empty()) {
    condition += ",Issued";
  }
  return Json::array({meta.value("name", std::string()), age, signer,
                      spec.value("username", std::string()), duration, condition});
}

}  // namespace kca::emulator
