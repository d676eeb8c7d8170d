#include "san_syntax.h"

namespace kca::policy {
namespace {

constexpr size_t kMaxHostnameLength = 253;
constexpr size_t kMaxLabelLength = 63;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool IsLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || IsDigit(c) || c == '-')) return false;
  }
  return true;
}

// RFC 3986 unreserved, sub-delims, ":" and "@" (pchar), "/" and "?": what may appear outside a
// %XX escape in a hier-part or query.
bool IsUriCharacter(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':  // unreserved
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':  // sub-delims
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
    case '?':
    case '[':
    case ']':  // IP-literal hosts
      return true;
    default:
      return false;
  }
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    // Escapes were checked well-formed before decoding.
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

bool IsHostname(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostnameLength) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsWildcardHostname(std::string_view name) {
  return name.size() <= kMaxHostnameLength && name.substr(0, 2) == "*." &&
         IsHostname(name.substr(2));
}

std::optional<std::string> UriSanProblem(std::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || !IsAlpha(uri[0])) {
    return "it is not an absolute URI (no scheme)";
  }
  for (char c : uri.substr(0, colon)) {
    if (!(IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.')) {
      return "its scheme is not valid";
    }
  }
  for (size_t i = colon + 1; i < uri.size(); ++i) {
    if (uri[i] == '%') {
      if (i + 2 >= uri.size() || !IsHexDigit(uri[i + 1]) || !IsHexDigit(uri[i + 2])) {
        return "it has a malformed %-escape";
      }
      i += 2;
    } else if (uri[i] == '#') {
      return "it has a fragment ('#')";
    } else if (!IsUriCharacter(uri[i])) {
      return "it has a character a URI may not contain unescaped";
    }
  }
  std::string_view rest = uri.substr(colon + 1);
  const size_t query = rest.find('?');
  std::string_view path = rest.substr(0, query);
  if (path.substr(0, 2) == "//") {
    path.remove_prefix(2);
    const size_t authority_end = path.find('/');
    std::string_view authority = path.substr(0, authority_end);
    if (authority.find('@') != std::string_view::npos) {
      return "it has userinfo (a '@' before the host)";
    }
    path =
        authority_end == std::string_view::npos ? std::string_view() : path.substr(authority_end);
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    const std::string decoded = PercentDecode(segment);
    if (decoded == "." || decoded == "..") {
      return "it has a \"" + decoded + "\" path segment, which resolves to another path";
    }
    if (decoded.find_first_of("/\\") != std::string::npos) {
      return "it has an encoded '/' or '\\' in a path segment";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::nullopt;
}

}  // namespace kca::policy
