#include "event_conversion.h"

#include <re2/re2.h>

#include <utility>

namespace kca::emulator {
namespace {

// (events.k8s.io/v1 field, core/v1 field); the rest have the same name in both.
const std::pair<const char*, const char*> kRenames[] = {
    {"regarding", "involvedObject"},
    {"note", "message"},
    {"reportingController", "reportingComponent"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
};

Json Rename(const Json& in, bool to_core, const char* api_version) {
  Json out;
  out["kind"] = "Event";
  out["apiVersion"] = api_version;
  for (auto it = in.begin(); it != in.end(); ++it) {
    const std::string& key = it.key();
    if (key == "kind" || key == "apiVersion") continue;
    std::string target = key;
    for (const auto& [events_name, core_name] : kRenames) {
      if (to_core && key == events_name) target = core_name;
      if (!to_core && key == core_name) target = events_name;
    }
    out[target] = it.value();
  }
  return out;
}

}  // namespace

Json EventToCore(const Json& event) { return Rename(event, true, "v1"); }

Json EventFromCore(const Json& core_event) { return Rename(core_event, false, "events.k8s.io/v1"); }

namespace {

std::string Str(const Json& e, const char* key) {
  return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : "";
}

bool IsSet(const Json& e, const char* key) {
  return e.contains(key) && !e[key].is_null() &&
         !(e[key].is_string() && e[key].get<std::string>().empty());
}

// k8s.io/apimachinery validation.IsQualifiedName (name part and optional DNS-subdomain prefix).
std::vector<std::string> QualifiedNameErrors(const std::string& value) {
  static const RE2 kName("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  static const RE2 kSubdomain("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  std::vector<std::string> errs;
  std::string name = value;
  size_t slash = value.find('/');
  if (slash != std::string::npos) {
    std::string prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else if (!RE2::FullMatch(prefix, kSubdomain) || prefix.size() > 253) {
      errs.push_back(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
          "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
          "'example.com', regex used for validation is "
          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part must be no more than 63 characters");
  }
  if (!name.empty() && !RE2::FullMatch(name, kName)) {
    errs.push_back(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
        "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
        "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  }
  return errs;
}

}  // namespace

std::vector<FieldError> ValidateEventCreate(const Json& e, bool via_events_api) {
  using T = FieldError::Type;
  std::vector<FieldError> errs;
  const std::string ns =
      e.contains("metadata") ? e["metadata"].value("namespace", std::string()) : "";
  const Json involved = e.contains("involvedObject") && e["involvedObject"].is_object()
                            ? e["involvedObject"]
                            : Json::object();
  const std::string involved_ns = involved.value("namespace", std::string());
  const std::string controller_field =
      via_events_api ? "reportingController" : "reportingComponent";
  auto ns_mismatch = [&] {
    errs.push_back({T::kInvalid, "involvedObject.namespace", Quote(involved_ns),
                    "does not match event.namespace"});
  };
  if (!IsSet(e, "eventTime")) {
    if (involved_ns.empty() ? (!ns.empty() && ns != "default") : ns != involved_ns) ns_mismatch();
  } else {
    if (involved_ns.empty() && ns != "default" && ns != "kube-system") ns_mismatch();
    const std::string controller = Str(e, "reportingComponent");
    if (controller.empty()) errs.push_back({T::kRequired, controller_field, "", ""});
    for (const std::string& m : QualifiedNameErrors(controller)) {
      errs.push_back({T::kInvalid, controller_field, Quote(controller), m});
    }
    auto limited = [&](const char* field, size_t limit, bool required) {
      std::string v = Str(e, field);
      if (required && v.empty()) errs.push_back({T::kRequired, field, "", ""});
      if (v.size() > limit) {
        errs.push_back({T::kInvalid, field, "\"\"",
                        "can have at most " + std::to_string(limit) + " characters"});
      }
    };
    limited("reportingInstance", 128, true);
    limited("action", 128, true);
    limited("reason", 128, true);
    limited("message", 1024, false);
  }
  if (via_events_api) {
    if (!IsSet(e, "eventTime")) errs.push_back({T::kRequired, "eventTime", "", ""});
    std::string type = Str(e, "type");
    if (type != "Normal" && type != "Warning") {
      errs.push_back({T::kInvalid, "type", "\"\"", "has invalid value: " + type});
    }
    for (const char* field : {"firstTimestamp", "lastTimestamp"}) {
      if (IsSet(e, field)) errs.push_back({T::kInvalid, field, "\"\"", "needs to be unset"});
    }
    if (e.contains("count") && e["count"].is_number() && e["count"].get<double>() != 0) {
      errs.push_back({T::kInvalid, "count", "\"\"", "needs to be unset"});
    }
    if (e.contains("source") && e["source"].is_object() &&
        (!Str(e["source"], "component").empty() || !Str(e["source"], "host").empty())) {
      errs.push_back({T::kInvalid, "source", "\"\"", "needs to be unset"});
    }
  }
  return errs;
}

}  // namespace kca::emulator
