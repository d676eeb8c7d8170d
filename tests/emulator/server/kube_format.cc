#include "kube_format.h"

#include <ctime>

namespace kca::emulator {

std::string FieldError::Body() const {
  switch (type) {
    case Type::kRequired:
      return detail.empty() ? "Required value" : "Required value: " + detail;
    case Type::kForbidden:
      return detail.empty() ? "Forbidden" : "Forbidden: " + detail;
    case Type::kTooLong:
      return detail.empty() ? "Too long" : "Too long: " + detail;
    case Type::kInvalid:
      return "Invalid value: " + value + (detail.empty() ? "" : ": " + detail);
    case Type::kNotSupported:
      return "Unsupported value: " + value + (detail.empty() ? "" : ": " + detail);
    case Type::kDuplicate:
      return "Duplicate value: " + value + (detail.empty() ? "" : ": " + detail);
  }
  return "";
}

std::string FieldError::Reason() const {
  switch (type) {
    case Type::kRequired:
      return "FieldValueRequired";
    case Type::kForbidden:
      return "FieldValueForbidden";
    case Type::kTooLong:
      return "FieldValueTooLong";
    case Type::kInvalid:
      return "FieldValueInvalid";
    case Type::kNotSupported:
      return "FieldValueNotSupported";
    case Type::kDuplicate:
      return "FieldValueDuplicate";
  }
  return "";
}

Json StatusFailure(int code, const std::string& reason, const std::string& message,
                   std::optional<Json> details) {
  Json s;
  s["kind"] = "Status";
  s["apiVersion"] = "v1";
  s["metadata"] = Json::object();
  s["status"] = "Failure";
  s["message"] = message;
  s["reason"] = reason;
  if (details) s["details"] = *details;
  s["code"] = code;
  return s;
}

namespace {
Json Details(const ResourceName& r, const std::string& name, const std::string& kind) {
  Json d;
  if (!name.empty()) d["name"] = name;
  if (!r.group.empty()) d["group"] = r.group;
  d["kind"] = kind;
  return d;
}
}  // namespace

Json NotFoundStatus(const ResourceName& r, const std::string& name) {
  return StatusFailure(404, "NotFound", r.Qualified() + " " + Quote(name) + " not found",
                       Details(r, name, r.resource));
}

Json InvalidStatus(const ResourceName& r, const std::string& name,
                   const std::vector<FieldError>& errors) {
  std::string joined;
  Json causes = Json::array();
  for (const FieldError& e : errors) {
    joined += (joined.empty() ? "" : ", ") + e.Message();
    causes.push_back({{"reason", e.Reason()}, {"message", e.Body()}, {"field", e.field}});
  }
  if (errors.size() > 1) joined = "[" + joined + "]";
  std::string qualified_kind = r.group.empty() ? r.kind : r.kind + "." + r.group;
  Json details = Details(r, name, r.kind);
  details["causes"] = causes;
  return StatusFailure(422, "Invalid",
                       qualified_kind + " " + Quote(name) + " is invalid: " + joined, details);
}

Json ForbiddenStatus(const ResourceName& r, const std::string& name, const std::string& why) {
  std::string message;
  if (r.resource.empty()) {
    message = "forbidden: " + why;
  } else if (name.empty()) {
    message = r.Qualified() + " is forbidden: " + why;
  } else {
    message = r.Qualified() + " " + Quote(name) + " is forbidden: " + why;
  }
  Json details = Json::object();
  if (!r.resource.empty()) details = Details(r, name, r.resource);
  return StatusFailure(403, "Forbidden", message, details);
}

Json ConflictStatus(const ResourceName& r, const std::string& name, const std::string& why) {
  return StatusFailure(
      409, "Conflict",
      "Operation cannot be fulfilled on " + r.Qualified() + " " + Quote(name) + ": " + why,
      Details(r, name, r.resource));
}

Json BadRequestStatus(const std::string& message) {
  return StatusFailure(400, "BadRequest", message);
}

std::string Quote(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseTime(const std::string& s) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string HumanDuration(std::chrono::seconds d) {
  long long seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return s == 0 ? std::to_string(minutes) + "m"
                  : std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  long long hours = minutes / 60;
  if (hours < 8) {
    long long m = minutes % 60;
    return m == 0 ? std::to_string(hours) + "h"
                  : std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return h == 0 ? std::to_string(hours / 24) + "d"
                  : std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return dy == 0 ? std::to_string(hours / 24 / 365) + "y"
                   : std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<std::string> Base64Decode(const std::string& in, std::string* error) {
  std::string out;
  size_t i = 0;
  auto fail = [&](size_t at) {
    *error = "illegal base64 data at input byte " + std::to_string(at);
    return std::nullopt;
  };
  while (i < in.size()) {
    int vals[4];
    int n = 0;
    size_t quantum_start = i;
    for (; n < 4 && i < in.size(); ++i) {
      char c = in[i];
      if (c == '\r' || c == '\n') continue;  // Go skips newlines
      if (c == '=') break;
      int v = Base64Value(c);
      if (v < 0) return fail(i);
      vals[n++] = v;
    }
    if (n == 4) {
      out.push_back(static_cast<char>((vals[0] << 2) | (vals[1] >> 4)));
      out.push_back(static_cast<char>(((vals[1] & 15) << 4) | (vals[2] >> 2)));
      out.push_back(static_cast<char>(((vals[2] & 3) << 6) | vals[3]));
      continue;
    }
    // Partial quantum: must be padded with '=' to four characters and end the input.
    if (n == 0) return fail(quantum_start);
    if (n == 1) return fail(i);
    size_t pads = 0;
    while (i < in.size() && (in[i] == '=' || in[i] == '\r' || in[i] == '\n')) {
      if (in[i] == '=') ++pads;
      ++i;
    }
    if (static_cast<size_t>(n) + pads != 4 || i != in.size())
      return fail(i < in.size() ? i : in.size());
    out.push_back(static_cast<char>((vals[0] << 2) | (vals[1] >> 4)));
    if (n == 3) out.push_back(static_cast<char>(((vals[1] & 15) << 4) | (vals[2] >> 2)));
  }
  return out;
}

std::string Base64Encode(const std::string& in) {
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
    i += 3;
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace kca::emulator
