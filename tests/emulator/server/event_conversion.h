// core/v1 Event <-> events.k8s.io/v1 Event, and Event create validation. kube-apiserver stores
// one Event resource and serves both APIs from it; the emulator does the same, storing the core/v1
// form.
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "kube_format.h"
#include "store.h"

namespace kca::emulator {

Json EventToCore(const Json& event);         // events.k8s.io/v1 -> v1
Json EventFromCore(const Json& core_event);  // v1 -> events.k8s.io/v1

// pkg/apis/core/validation ValidateEventCreate on the core form: the legacy rules for every
// request, the strict ones (eventTime, type, no deprecated fields) when it came through
// events.k8s.io/v1. Field paths use the core names, as kube-apiserver reports them.
std::vector<FieldError> ValidateEventCreate(const Json& core_event, bool via_events_api);

}  // namespace kca::emulator
