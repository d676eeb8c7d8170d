#include "kube_csr_approver/observability/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <string>

namespace kca {
namespace {

// Fields of the event being logged on this thread: spdlog formats on the calling thread (the
// loggers here are synchronous), so the formatter can read them without passing them through.
thread_local const nlohmann::json* current_fields = nullptr;

std::string Timestamp(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = seconds.count();
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[64];  // room for any int the compiler imagines in %04d
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Text values are bare when they are simple, quoted JSON strings otherwise.
std::string TextValue(const nlohmann::json& value) {
  if (!value.is_string()) return Dump(value);
  const auto& text = value.get_ref<const std::string&>();
  const bool simple = !text.empty() && text.find_first_of(" \"=\\\n\r\t") == std::string::npos;
  return simple ? Dump(value).substr(1, Dump(value).size() - 2) : Dump(value);
}

// `{"key":value,...}` of the envelope (level, msg, ts) and the event's fields, keys in byte order
// as a DOM of both would dump them, an envelope key winning over a field of the same name;
// written straight into `line` rather than copying every field into such a DOM first.
void AppendJsonObject(std::string& line, const std::string& level, const std::string& message,
                      const std::string& timestamp, const nlohmann::json* fields) {
  const std::array<std::pair<std::string_view, const std::string*>, 3> envelope = {
      {{"level", &level}, {"msg", &message}, {"ts", &timestamp}}};  // in byte order
  std::size_t next = 0;
  bool first = true;
  const auto append = [&](const std::string& key, const std::string& value_json) {
    line += first ? '{' : ',';
    first = false;
    line += Dump(nlohmann::json(key));
    line += ':';
    line += value_json;
  };
  const auto append_envelope = [&] {
    append(std::string(envelope[next].first), Dump(nlohmann::json(*envelope[next].second)));
    ++next;
  };
  if (fields != nullptr && fields->is_object()) {
    for (const auto& [key, value] : fields->items()) {
      while (next < envelope.size() && envelope[next].first < key) append_envelope();
      if (next < envelope.size() && envelope[next].first == key) {
        append_envelope();
        continue;
      }
      append(key, Dump(value));
    }
  }
  while (next < envelope.size()) append_envelope();
  line += '}';
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string message(msg.payload.data(), msg.payload.size());
    const std::string level(spdlog::level::to_string_view(msg.level).data(),
                            spdlog::level::to_string_view(msg.level).size());
    std::string line;
    if (format_ == LogFormat::kJson) {
      AppendJsonObject(line, level, message, Timestamp(msg.time), current_fields);
    } else {
      // Text mode still escapes control characters of the message, so one event is one line.
      const std::string safe = Dump(nlohmann::json(message));
      line = Timestamp(msg.time) + " " + level + " " + safe.substr(1, safe.size() - 2);
      if (current_fields != nullptr && current_fields->is_object()) {
        for (const auto& [key, value] : current_fields->items()) {
          line += " " + key + "=" + TextValue(value);
        }
      }
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

Status ConfigureLogging(std::string_view level, std::string_view format, spdlog::sink_ptr sink) {
  const auto parsed_level = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know; accept "off" only when asked for.
  if (parsed_level == spdlog::level::off && level != "off") {
    return Error{"--log-level \"" + std::string(level) +
                 "\" is not one of trace, debug, info, warn, error, critical, off"};
  }
  LogFormat log_format;
  if (format == "json") {
    log_format = LogFormat::kJson;
  } else if (format == "text") {
    log_format = LogFormat::kText;
  } else {
    return Error{"--log-format \"" + std::string(format) + "\" is not one of text, json"};
  }
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("kube-csr-approver", std::move(sink));
  logger->set_formatter(std::make_unique<LineFormatter>(log_format));
  logger->set_level(parsed_level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

void LogEvent(spdlog::level::level_enum level, std::string_view message,
              const nlohmann::json& fields) {
  current_fields = &fields;
  spdlog::log(level, "{}", message);
  current_fields = nullptr;
}

namespace {

void ReportGuarded(std::string_view thread, const char* what,
                   const std::function<void()>& on_error) noexcept {
  try {
    spdlog::error("{} thread: unexpected failure, backing off and carrying on: {}", thread, what);
    if (on_error) on_error();
  } catch (...) {
    // Reporting is best effort; the thread itself must go on.
  }
}

}  // namespace

bool RunGuarded(std::string_view thread, const std::function<void()>& body,
                const std::function<void()>& on_error) noexcept {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    ReportGuarded(thread, e.what(), on_error);
  } catch (...) {
    ReportGuarded(thread, "an exception of unknown type", on_error);
  }
  return false;
}

void LogAudit(std::string_view message, nlohmann::json fields) {
  fields["audit"] = true;
  auto logger = spdlog::default_logger();
  // Past the logger's level filter, straight to its sinks (whose own level is left at trace).
  const spdlog::details::log_msg record(logger->name(), spdlog::level::info,
                                        spdlog::string_view_t(message.data(), message.size()));
  current_fields = &fields;
  for (const auto& sink : logger->sinks()) {
    if (!sink->should_log(record.level)) continue;
    try {
      sink->log(record);
      sink->flush();
    } catch (const std::exception&) {
      // a full disk must not stop decisions; spdlog's own error handler would only print it too
    }
  }
  current_fields = nullptr;
}

}  // namespace kca
