// A second reading of a PKCS#10 request (RFC 2986), independent of the inspector: the inspector
// reads subject, SANs and key through OpenSSL (d2i_X509_REQ, X509_NAME, GENERAL_NAME, EVP_PKEY)
// and checks the encoding with its own strict-DER walker; this is a small DER reader written
// from X.690 and RFC 5280 alone, sharing no code with either. It accepts only what it fully
// understands (single-byte tags, definite lengths, the string types below); the fuzz targets
// compare the two readings on everything both accept.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kca::fuzz {

struct IndependentReading {
  std::vector<std::pair<std::string, std::string>> subject;  // (dotted OID, UTF-8 value)
  std::vector<std::string> dns_names, email_addresses, uris;
  std::vector<std::string> ip_addresses;  // raw 4 or 16 bytes, IPv4-mapped IPv6 unmapped
  size_t other_names = 0;                 // GeneralNames of any other type
  std::string key_oid;                    // the SubjectPublicKeyInfo algorithm
  std::string curve_oid;                  // EC only: the named curve
  int key_bits = 0;                       // RSA: modulus bits; Ed25519: 256; EC: by curve
};

namespace der {

struct Element {
  std::uint8_t tag = 0;
  std::string_view content;
};

// Reads one element off the front of `input`; nullopt unless tag and length are well formed.
inline std::optional<Element> Take(std::string_view& input) {
  if (input.size() < 2) return std::nullopt;
  const auto tag = static_cast<std::uint8_t>(input[0]);
  if ((tag & 0x1F) == 0x1F) return std::nullopt;  // high tag numbers: not in a request we read
  size_t length = static_cast<std::uint8_t>(input[1]);
  size_t header = 2;
  if (length & 0x80) {
    const size_t count = length & 0x7F;
    if (count == 0 || count > 4 || input.size() < 2 + count) return std::nullopt;
    length = 0;
    for (size_t i = 0; i < count; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(input[2 + i]);
    header += count;
  }
  if (input.size() - header < length) return std::nullopt;
  Element element{tag, input.substr(header, length)};
  input.remove_prefix(header + length);
  return element;
}

inline std::optional<Element> Expect(std::string_view& input, std::uint8_t tag) {
  auto element = Take(input);
  if (!element || element->tag != tag) return std::nullopt;
  return element;
}

inline std::optional<std::string> Oid(std::string_view content) {
  if (content.empty()) return std::nullopt;
  std::vector<std::uint64_t> arcs;
  std::uint64_t value = 0;
  for (size_t i = 0; i < content.size(); ++i) {
    const auto byte = static_cast<std::uint8_t>(content[i]);
    if (value > (std::uint64_t{1} << 56)) return std::nullopt;
    value = (value << 7) | (byte & 0x7F);
    if (byte & 0x80) {
      if (i + 1 == content.size()) return std::nullopt;
      continue;
    }
    arcs.push_back(value);
    value = 0;
  }
  std::string dotted = arcs[0] < 80
                           ? std::to_string(arcs[0] / 40) + "." + std::to_string(arcs[0] % 40)
                           : "2." + std::to_string(arcs[0] - 80);
  for (size_t i = 1; i < arcs.size(); ++i) dotted += "." + std::to_string(arcs[i]);
  return dotted;
}

inline void AppendUtf8(std::string& out, std::uint32_t point) {
  if (point < 0x80) {
    out += static_cast<char>(point);
  } else if (point < 0x800) {
    out += static_cast<char>(0xC0 | (point >> 6));
    out += static_cast<char>(0x80 | (point & 0x3F));
  } else if (point < 0x10000) {
    out += static_cast<char>(0xE0 | (point >> 12));
    out += static_cast<char>(0x80 | ((point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (point >> 18));
    out += static_cast<char>(0x80 | ((point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (point & 0x3F));
  }
}

// A directory string as UTF-8: UTF8String as is; the ASCII string types byte for byte (only
// when ASCII); BMPString (UCS-2) and UniversalString (UCS-4) converted. Others: not understood.
inline std::optional<std::string> DirectoryString(const Element& value) {
  switch (value.tag) {
    case 0x0C:  // UTF8String
      return std::string(value.content);
    case 0x12:  // NumericString
    case 0x13:  // PrintableString
    case 0x14:  // TeletexString
    case 0x16:  // IA5String
    case 0x1A:  // VisibleString
      for (char c : value.content) {
        if (static_cast<std::uint8_t>(c) >= 0x80) return std::nullopt;
      }
      return std::string(value.content);
    case 0x1E:    // BMPString
    case 0x1C: {  // UniversalString
      const size_t width = value.tag == 0x1E ? 2 : 4;
      if (value.content.size() % width != 0) return std::nullopt;
      std::string out;
      for (size_t i = 0; i < value.content.size(); i += width) {
        std::uint32_t point = 0;
        for (size_t k = 0; k < width; ++k)
          point = (point << 8) | static_cast<std::uint8_t>(value.content[i + k]);
        if ((point >= 0xD800 && point <= 0xDFFF) || point > 0x10FFFF) return std::nullopt;
        AppendUtf8(out, point);
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

inline bool ReadName(std::string_view name, IndependentReading& out) {
  while (!name.empty()) {
    auto rdn = Expect(name, 0x31);  // SET OF AttributeTypeAndValue
    if (!rdn) return false;
    std::string_view attributes = rdn->content;
    while (!attributes.empty()) {
      auto pair = Expect(attributes, 0x30);
      if (!pair) return false;
      std::string_view fields = pair->content;
      auto type = Expect(fields, 0x06);
      auto value = Take(fields);
      if (!type || !value || !fields.empty()) return false;
      auto oid = Oid(type->content);
      auto text = DirectoryString(*value);
      if (!oid || !text) return false;
      out.subject.emplace_back(*oid, *text);
    }
  }
  return true;
}

inline bool ReadSubjectAltName(std::string_view extension_value, IndependentReading& out) {
  auto names = Expect(extension_value, 0x30);
  if (!names || !extension_value.empty()) return false;
  std::string_view rest = names->content;
  while (!rest.empty()) {
    auto name = Take(rest);
    if (!name) return false;
    const std::string value(name->content);
    switch (name->tag) {
      case 0x81:
        out.email_addresses.push_back(value);
        break;
      case 0x82:
        out.dns_names.push_back(value);
        break;
      case 0x86:
        out.uris.push_back(value);
        break;
      case 0x87: {
        static constexpr std::string_view kMapped("\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
        if (value.size() == 16 && std::string_view(value).substr(0, 12) == kMapped) {
          out.ip_addresses.push_back(value.substr(12));
        } else {
          out.ip_addresses.push_back(value);
        }
        break;
      }
      default:
        ++out.other_names;
        break;
    }
  }
  return true;
}

// The [0] attributes: the extensionRequest's subjectAltName, when there is one.
inline bool ReadAttributes(std::string_view attributes, IndependentReading& out) {
  while (!attributes.empty()) {
    auto attribute = Expect(attributes, 0x30);
    if (!attribute) return false;
    std::string_view fields = attribute->content;
    auto type = Expect(fields, 0x06);
    auto values = Expect(fields, 0x31);
    if (!type || !values || !fields.empty()) return false;
    if (Oid(type->content) != "1.2.840.113549.1.9.14") continue;  // not an extensionRequest
    std::string_view set = values->content;
    auto extensions = Expect(set, 0x30);
    if (!extensions || !set.empty()) return false;
    std::string_view list = extensions->content;
    while (!list.empty()) {
      auto extension = Expect(list, 0x30);
      if (!extension) return false;
      std::string_view parts = extension->content;
      auto id = Expect(parts, 0x06);
      if (!id) return false;
      std::optional<Element> value = Take(parts);
      if (value && value->tag == 0x01) value = Take(parts);  // critical
      if (!value || value->tag != 0x04 || !parts.empty()) return false;
      if (Oid(id->content) == "2.5.29.17" && !ReadSubjectAltName(value->content, out)) {
        return false;
      }
    }
  }
  return true;
}

inline int UnsignedBits(std::string_view integer) {
  while (!integer.empty() && integer.front() == '\0') integer.remove_prefix(1);
  if (integer.empty()) return 0;
  int bits = static_cast<int>(integer.size() - 1) * 8;
  for (auto top = static_cast<std::uint8_t>(integer.front()); top != 0; top >>= 1) ++bits;
  return bits;
}

inline bool ReadKey(std::string_view spki, IndependentReading& out) {
  auto algorithm = Expect(spki, 0x30);
  auto key = Expect(spki, 0x03);
  if (!algorithm || !key || !spki.empty() || key->content.empty() || key->content[0] != 0) {
    return false;
  }
  std::string_view fields = algorithm->content;
  auto id = Expect(fields, 0x06);
  if (!id) return false;
  out.key_oid = Oid(id->content).value_or("");
  const std::string_view bits = key->content.substr(1);
  if (out.key_oid == "1.2.840.113549.1.1.1") {  // rsaEncryption: RSAPublicKey
    std::string_view rsa = bits;
    auto sequence = Expect(rsa, 0x30);
    if (!sequence || !rsa.empty()) return false;
    std::string_view numbers = sequence->content;
    auto modulus = Expect(numbers, 0x02);
    if (!modulus) return false;
    out.key_bits = UnsignedBits(modulus->content);
  } else if (out.key_oid == "1.2.840.10045.2.1") {  // id-ecPublicKey with a named curve
    auto curve = Expect(fields, 0x06);
    if (!curve) return false;
    out.curve_oid = Oid(curve->content).value_or("");
    out.key_bits = out.curve_oid == "1.2.840.10045.3.1.7" ? 256
                   : out.curve_oid == "1.3.132.0.34"      ? 384
                   : out.curve_oid == "1.3.132.0.35"      ? 521
                                                          : 0;
  } else if (out.key_oid == "1.3.101.112") {  // Ed25519
    out.key_bits = 256;
  }
  return true;
}

}  // namespace der

// The reading of `der`, or nullopt when it holds something this reader does not understand.
inline std::optional<IndependentReading> ReadIndependently(std::string_view der) {
  using namespace der;
  auto request = Expect(der, 0x30);
  if (!request || !der.empty()) return std::nullopt;
  std::string_view parts = request->content;
  auto info = Expect(parts, 0x30);
  if (!info) return std::nullopt;
  std::string_view fields = info->content;
  auto version = Expect(fields, 0x02);
  auto subject = Expect(fields, 0x30);
  auto spki = Expect(fields, 0x30);
  if (!version || !subject || !spki) return std::nullopt;
  IndependentReading out;
  if (!ReadName(subject->content, out) || !ReadKey(spki->content, out)) return std::nullopt;
  if (!fields.empty()) {
    auto attributes = Expect(fields, 0xA0);
    if (!attributes || !fields.empty() || !ReadAttributes(attributes->content, out)) {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace kca::fuzz
