#include "event_conversion.h"

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

}  // namespace kca::emulator
