// Decodes Kubernetes protobuf request bodies ("k8s\0" + runtime.Unknown) into the JSON form the
// handlers use. client-go typed clients (e.g. `kubectl certificate approve`) send
// application/vnd.kubernetes.protobuf; only the kinds those clients write are supported.
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <string>

#include "store.h"

namespace kca::emulator {

// The object as JSON (with kind and apiVersion), or nullopt with `error` set.
std::optional<Json> DecodeKubernetesProtobuf(const std::string& body, std::string* error);

}  // namespace kca::emulator
