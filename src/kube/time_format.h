// Kubernetes timestamps: metav1.Time (RFC 3339, seconds) and metav1.MicroTime (6 fractional
// digits).
#pragma once

#include <chrono>
#include <string>

namespace kca::kube {

// "2026-11-29T02:48:16Z" (UTC).
std::string FormatRfc3339(std::chrono::system_clock::time_point time);
// "2026-11-29T02:48:16.123456Z" (UTC).
std::string FormatMicroTime(std::chrono::system_clock::time_point time);

}  // namespace kca::kube
