// IP addresses and CIDR ranges as the policy compares them: IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are unmapped to IPv4 first, so one address has one canonical form.
// Pure value types; thread-safe as values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca {

class IpAddress {
 public:
  // Parses dotted IPv4 or RFC 4291 IPv6 text (no zone, no brackets, no prefix).
  // Error message: `"<text>" is not an IPv4 or IPv6 address`.
  static Result<IpAddress> Parse(std::string_view text);
  // From raw network-order bytes as found in an X.509 iPAddress SAN: 4 or 16 bytes, else Error.
  static Result<IpAddress> FromBytes(std::string_view bytes);

  bool is_v4() const { return is_v4_; }
  int bit_length() const { return is_v4_ ? 32 : 128; }
  // Network-order bytes; only the first 4 are meaningful for IPv4.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  // Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (inet_ntop).
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  bool is_v4_ = false;
};

class CidrRange {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a bare address meaning /32 or /128. Host bits set after
  // the prefix are an error (`"10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?`).
  static Result<CidrRange> Parse(std::string_view text);

  // False for an address of the other family.
  bool Contains(const IpAddress& address) const;
  std::string ToString() const;

 private:
  IpAddress network_;
  int prefix_length_ = 0;
};

}  // namespace kca
