// Process-wide logging setup (spdlog) and structured events, in text or JSON lines.
// JSON mode writes one valid JSON object per line whatever a message contains (quotes, newlines,
// invalid UTF-8 from a hostile CSR are escaped or replaced). Never log tokens or keys.
#pragma once

#include <spdlog/common.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca {

enum class LogFormat { kText, kJson };

// Installs the default logger writing to `sink` (stderr when null) at `level` ("trace", "debug",
// "info", "warn", "error", "critical", "off") in `format` ("text" or "json"). Call once at
// start-up, before other threads log. Error names the bad value and the accepted ones.
Status ConfigureLogging(std::string_view level, std::string_view format,
                        spdlog::sink_ptr sink = nullptr);

// One event with structured fields: in JSON mode the fields are top-level keys beside
// "ts", "level", "msg"; in text mode they follow the message as key=value pairs.
// `fields` must be a JSON object. Thread-safe.
void LogEvent(spdlog::level::level_enum level, std::string_view message,
              const nlohmann::json& fields);

// A long-running thread's top-level guard: runs `body`; when it throws anything, logs it at
// error level naming `thread`, calls `on_error` (e.g. counts unexpected_errors_total) and returns
// false, so the caller backs off and carries on. True when `body` returned. Never throws.
bool RunGuarded(std::string_view thread, const std::function<void()>& body,
                const std::function<void()>& on_error) noexcept;

// The audit line of a decision: written whatever --log-level says (even "error" or "off"), at
// level "info" with the field "audit": true, so that every approval and denial leaves a trace.
// `fields` must be a JSON object. Thread-safe.
void LogAudit(std::string_view message, nlohmann::json fields);

}  // namespace kca
