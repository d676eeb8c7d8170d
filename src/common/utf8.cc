#include "kube_csr_approver/common/utf8.h"

#include <cstdint>

namespace kca {
namespace {

// Length of the well-formed sequence at text[i], or 0 when the bytes there are not one.
std::size_t SequenceLength(std::string_view text, std::size_t i) {
  const auto lead = static_cast<std::uint8_t>(text[i]);
  if (lead < 0x80) return 1;
  int continuation = 0;
  std::uint32_t code_point = 0;
  std::uint32_t minimum = 0;
  if ((lead & 0xE0) == 0xC0) {
    continuation = 1;
    code_point = lead & 0x1F;
    minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    continuation = 2;
    code_point = lead & 0x0F;
    minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    continuation = 3;
    code_point = lead & 0x07;
    minimum = 0x10000;
  } else {
    return 0;
  }
  if (text.size() - i <= static_cast<std::size_t>(continuation)) return 0;
  for (int k = 1; k <= continuation; ++k) {
    const auto byte = static_cast<std::uint8_t>(text[i + static_cast<std::size_t>(k)]);
    if ((byte & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return static_cast<std::size_t>(continuation) + 1;
}

}  // namespace

std::size_t ValidUtf8Prefix(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return i;
}

std::string ToValidUtf8(std::string_view text) {
  std::size_t valid = ValidUtf8Prefix(text);
  if (valid == text.size()) return std::string(text);
  std::string out(text.substr(0, valid));
  out.reserve(text.size() + 8);
  std::size_t i = valid;
  while (i < text.size()) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD, one per ill-formed byte
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

}  // namespace kca
