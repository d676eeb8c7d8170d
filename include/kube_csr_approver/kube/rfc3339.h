// Kubernetes timestamps as the API server writes them (metav1.Time, metav1.MicroTime).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace kca::kube {

// RFC 3339 date-time (`2026-01-02T03:04:05Z`, fractions and ±hh:mm offsets allowed); nullopt
// when `text` is not one, or lies outside the years the clock represents (about 1678..2261).
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text);

}  // namespace kca::kube
