#include "time_format.h"

#include <cstdio>
#include <ctime>

namespace kca::kube {
namespace {

std::string Format(std::chrono::system_clock::time_point time, bool micros) {
  const auto since_epoch = time.time_since_epoch();
  auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto fraction =
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char buffer[96];  // room for any int year the compiler can imagine
  if (micros) {
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, static_cast<long long>(fraction.count()));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  }
  return buffer;
}

}  // namespace

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  return Format(time, false);
}

std::string FormatMicroTime(std::chrono::system_clock::time_point time) {
  return Format(time, true);
}

}  // namespace kca::kube
