// DecodeWatchEvent: one line of a watch stream (upstream
// staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/watch.go, WatchEvent{Type, Object}).
#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {

Result<WatchEvent> DecodeWatchEvent(std::string_view line) {
  nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded() || !event.is_object()) return Error{"watch line is not JSON"};
  auto type = event.find("type");
  auto object = event.find("object");
  if (type == event.end() || !type->is_string() || object == event.end() || !object->is_object()) {
    return Error{"watch line lacks a string type and an object"};
  }
  return WatchEvent{type->get<std::string>(), std::move(*object)};
}

}  // namespace kca::kube
