#include "strict_der.h"

#include <cstdint>

namespace kca::csr_internal {
namespace {

// Deep enough for any request (a Name inside a GeneralName inside an extension is about 10
// levels), shallow enough that hostile nesting cannot exhaust the stack.
constexpr int kMaxDepth = 32;

constexpr std::uint8_t kConstructed = 0x20;
constexpr std::uint8_t kSequence = 0x30;
constexpr std::uint8_t kSet = 0x31;

struct Element {
  std::uint8_t tag = 0;  // first identifier octet
  size_t header = 0;     // identifier and length octets
  size_t length = 0;     // content octets
};

class Walker {
 public:
  explicit Walker(std::string_view der) : der_(der) {}

  std::optional<std::string> Check() {
    Element element;
    if (!Read(0, element)) return problem_;
    if (element.header + element.length != der_.size()) {
      return "the request has bytes after its DER structure";
    }
    if (!CheckElement(0, element, 0)) return problem_;
    return std::nullopt;
  }

  // Reads the element header at `offset`; the element lies within der_.
  bool Read(size_t offset, Element& out, size_t end = std::string_view::npos) {
    if (end == std::string_view::npos) end = der_.size();
    size_t at = offset;
    if (at >= end) return Fail(offset, "truncated element");
    out.tag = Byte(at++);
    if ((out.tag & 0x1F) == 0x1F) {
      // High tag number: base-128, no leading 0x80, and only for numbers above 30.
      if (at >= end) return Fail(offset, "truncated tag");
      if (Byte(at) == 0x80) return Fail(offset, "a tag number is not minimally encoded");
      std::uint32_t number = 0;
      int bytes = 0;
      while (true) {
        if (at >= end || ++bytes > 4) return Fail(offset, "a tag number is too long");
        const std::uint8_t b = Byte(at++);
        number = (number << 7) | (b & 0x7F);
        if ((b & 0x80) == 0) break;
      }
      if (number < 31) return Fail(offset, "a tag number is not minimally encoded");
    }
    if (at >= end) return Fail(offset, "truncated length");
    const std::uint8_t first = Byte(at++);
    if (first == 0x80) return Fail(offset, "an indefinite length (BER, not DER)");
    if (first < 0x80) {
      out.length = first;
    } else {
      const int count = first & 0x7F;
      if (count > 4) return Fail(offset, "a length of more than 4 bytes");
      if (end - at < static_cast<size_t>(count)) return Fail(offset, "truncated length");
      if (Byte(at) == 0) return Fail(offset, "a length with leading zero bytes (BER, not DER)");
      size_t length = 0;
      for (int i = 0; i < count; ++i) length = (length << 8) | Byte(at++);
      if (length < 0x80) {
        return Fail(offset, "a length in long form that fits the short form (BER, not DER)");
      }
      out.length = length;
    }
    out.header = at - offset;
    if (end - at < out.length) return Fail(offset, "an element longer than what contains it");
    return true;
  }

  bool CheckElement(size_t offset, const Element& element, int depth) {
    const size_t content = offset + element.header;
    const std::string_view value = der_.substr(content, element.length);
    const bool constructed = (element.tag & kConstructed) != 0;
    if ((element.tag & 0xC0) == 0) {  // universal class
      const int number = element.tag & 0x1F;
      if (constructed && number != 16 && number != 17) {
        return Fail(offset, "a constructed string (BER, not DER)");
      }
      if (!constructed && (number == 16 || number == 17)) {
        return Fail(offset, "a primitive SEQUENCE or SET");
      }
      if (!CheckPrimitive(offset, number, value)) return false;
    }
    if (!constructed) return true;
    if (depth >= kMaxDepth) return Fail(offset, "nesting deeper than " + std::to_string(kMaxDepth));
    if (element.tag == kSet && element.length == 0) {
      return Fail(offset, "an empty SET (e.g. an empty RDN in a name)");
    }
    size_t at = content;
    const size_t end = content + element.length;
    std::string_view previous;
    while (at < end) {
      Element child;
      if (!Read(at, child, end)) return false;
      if (!CheckElement(at, child, depth + 1)) return false;
      const std::string_view whole = der_.substr(at, child.header + child.length);
      if (element.tag == kSet && !previous.empty() && whole < previous) {
        return Fail(at, "SET OF elements out of DER order");
      }
      previous = whole;
      at += child.header + child.length;
    }
    return true;
  }

  bool CheckPrimitive(size_t offset, int number, std::string_view value) {
    const auto at = [&](size_t i) { return static_cast<std::uint8_t>(value[i]); };
    switch (number) {
      case 1:  // BOOLEAN
        if (value.size() != 1 || (at(0) != 0x00 && at(0) != 0xFF)) {
          return Fail(offset, "a BOOLEAN other than 0x00 or 0xFF");
        }
        return true;
      case 2:   // INTEGER
      case 10:  // ENUMERATED
        if (value.empty()) return Fail(offset, "an empty INTEGER");
        if (value.size() > 1 &&
            ((at(0) == 0x00 && (at(1) & 0x80) == 0) || (at(0) == 0xFF && (at(1) & 0x80) != 0))) {
          return Fail(offset, "an INTEGER with redundant leading bytes");
        }
        return true;
      case 3:  // BIT STRING
        if (value.empty() || at(0) > 7 || (value.size() == 1 && at(0) != 0)) {
          return Fail(offset, "a malformed BIT STRING");
        }
        if (value.size() > 1 && (at(value.size() - 1) & ((1u << at(0)) - 1)) != 0) {
          return Fail(offset, "a BIT STRING with non-zero padding bits");
        }
        return true;
      case 5:  // NULL
        if (!value.empty()) return Fail(offset, "a NULL with content");
        return true;
      case 6:  // OBJECT IDENTIFIER
        if (value.empty() || (at(value.size() - 1) & 0x80) != 0) {
          return Fail(offset, "a malformed OBJECT IDENTIFIER");
        }
        for (size_t i = 0; i < value.size(); ++i) {
          if (at(i) == 0x80 && (i == 0 || (at(i - 1) & 0x80) == 0)) {
            return Fail(offset, "an OBJECT IDENTIFIER with padded sub-identifiers");
          }
        }
        return true;
      default:
        return true;
    }
  }

  bool Fail(size_t offset, std::string what) {
    problem_ = "the request is not strict DER: " + what + " at byte " + std::to_string(offset);
    return false;
  }

 private:
  std::uint8_t Byte(size_t i) const { return static_cast<std::uint8_t>(der_[i]); }

  std::string_view der_;
  std::string problem_;
};

}  // namespace

std::optional<std::string> StrictDerProblem(std::string_view der) { return Walker(der).Check(); }

bool ElementsSorted(std::string_view content) {
  Walker walker(content);
  size_t at = 0;
  std::string_view previous;
  while (at < content.size()) {
    Element element;
    if (!walker.Read(at, element)) return false;
    const std::string_view whole = content.substr(at, element.header + element.length);
    if (!previous.empty() && whole < previous) return false;
    previous = whole;
    at += element.header + element.length;
  }
  return true;
}

}  // namespace kca::csr_internal
