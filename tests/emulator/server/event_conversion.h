// core/v1 Event <-> events.k8s.io/v1 Event. kube-apiserver stores one Event resource and serves
// both APIs from it; the emulator does the same, storing the core/v1 form.
// Thread-safety: pure functions.
#pragma once

#include "store.h"

namespace kca::emulator {

Json EventToCore(const Json& event);         // events.k8s.io/v1 -> v1
Json EventFromCore(const Json& core_event);  // v1 -> events.k8s.io/v1

}  // namespace kca::emulator
