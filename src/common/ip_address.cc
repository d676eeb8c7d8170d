#include "kube_csr_approver/common/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace kca {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsV4Mapped(const std::array<std::uint8_t, 16>& bytes) {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin());
}

}  // namespace

Result<IpAddress> IpAddress::Parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; anything longer than an IPv6 text form is no address.
  std::string copy(text.substr(0, INET6_ADDRSTRLEN + 1));
  IpAddress address;
  if (copy.size() == text.size() && text.find('\0') == std::string_view::npos) {
    if (inet_pton(AF_INET, copy.c_str(), address.bytes_.data()) == 1) {
      address.is_v4_ = true;
      return address;
    }
    std::array<std::uint8_t, 16> v6{};
    if (inet_pton(AF_INET6, copy.c_str(), v6.data()) == 1) {
      return FromBytes(std::string_view(reinterpret_cast<const char*>(v6.data()), v6.size()));
    }
  }
  return Error{"\"" + std::string(text) + "\" is not an IPv4 or IPv6 address"};
}

Result<IpAddress> IpAddress::FromBytes(std::string_view bytes) {
  IpAddress address;
  if (bytes.size() == 4) {
    std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
    address.is_v4_ = true;
    return address;
  }
  if (bytes.size() != 16) {
    return Error{"an IP address must be 4 or 16 bytes long, not " + std::to_string(bytes.size())};
  }
  std::array<std::uint8_t, 16> v6{};
  std::copy(bytes.begin(), bytes.end(), v6.begin());
  if (IsV4Mapped(v6)) {
    std::copy(v6.begin() + 12, v6.end(), address.bytes_.begin());
    address.is_v4_ = true;
  } else {
    address.bytes_ = v6;
  }
  return address;
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4_ ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof(buffer));
  return buffer;
}

Result<CidrRange> CidrRange::Parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::Parse(text.substr(0, slash));
  if (!address.ok()) {
    return Error{"\"" + std::string(text) + "\" is not a CIDR range: " + address.error().message};
  }
  CidrRange range;
  range.network_ = *address;
  range.prefix_length_ = address->bit_length();
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    int prefix = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    // An unmapped ::ffff:a.b.c.d/N keeps its meaning as a.b.c.d/(N-96).
    const bool was_mapped =
        address->is_v4() && text.substr(0, slash).find(':') != std::string_view::npos;
    const int family_bits = was_mapped ? 128 : address->bit_length();
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
        prefix > family_bits || (was_mapped && prefix < 96)) {
      return Error{"\"" + std::string(text) + "\" has an invalid prefix length (0 to " +
                   std::to_string(family_bits) + " for this address family)"};
    }
    range.prefix_length_ = was_mapped ? prefix - 96 : prefix;
  }
  // Host bits beyond the prefix must be zero, as in Kubernetes' own CIDR validation.
  for (int bit = range.prefix_length_; bit < range.network_.bit_length(); ++bit) {
    if (range.network_.bytes()[bit / 8] & (0x80 >> (bit % 8))) {
      IpAddress masked = range.network_;
      auto bytes = masked.bytes();
      for (int b = range.prefix_length_; b < masked.bit_length(); ++b) {
        bytes[b / 8] &= static_cast<std::uint8_t>(~(0x80 >> (b % 8)));
      }
      auto suggestion =
          IpAddress::FromBytes(std::string_view(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<size_t>(masked.bit_length() / 8)));
      return Error{"\"" + std::string(text) + "\" has host bits set; did you mean \"" +
                   suggestion->ToString() + "/" + std::to_string(range.prefix_length_) + "\"?"};
    }
  }
  return range;
}

bool CidrRange::Contains(const IpAddress& address) const {
  if (address.is_v4() != network_.is_v4()) return false;
  for (int bit = 0; bit < prefix_length_; ++bit) {
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((address.bytes()[bit / 8] & mask) != (network_.bytes()[bit / 8] & mask)) return false;
  }
  return true;
}

std::string CidrRange::ToString() const {
  return network_.ToString() + "/" + std::to_string(prefix_length_);
}

}  // namespace kca
