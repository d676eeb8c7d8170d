#include "kube_csr_approver/common/ip_address.h"

#include <gtest/gtest.h>

namespace kca {
namespace {

TEST(IpAddressTest, ParsesIpv4AndCanonicalisesIpv6) {
  auto v4 = IpAddress::Parse("192.168.1.10");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->ToString(), "192.168.1.10");

  auto v6 = IpAddress::Parse("2001:0DB8:0000:0000:0000:0000:0000:0001");
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
}

TEST(IpAddressTest, UnmapsIpv4MappedIpv6) {
  auto mapped = IpAddress::Parse("::ffff:10.1.2.3");
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped->is_v4());
  EXPECT_EQ(mapped->ToString(), "10.1.2.3");
  EXPECT_EQ(*mapped, *IpAddress::Parse("10.1.2.3"));
}

TEST(IpAddressTest, RefusesWhatIsNotAnAddress) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "example.com", "::1%eth0",
                           "10.0.0.0/8", " 1.2.3.4"}) {
    auto parsed = IpAddress::Parse(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.error().message.find("is not an IPv4 or IPv6"), std::string::npos);
    }
  }
  EXPECT_FALSE(IpAddress::Parse(std::string("1.2.3.4\0", 8)).ok());
}

TEST(IpAddressTest, FromBytesAcceptsOnlyFourOrSixteen) {
  EXPECT_TRUE(IpAddress::FromBytes(std::string("\x7f\x00\x00\x01", 4)).ok());
  EXPECT_FALSE(IpAddress::FromBytes("abc").ok());
  const std::string mapped("\0\0\0\0\0\0\0\0\0\0\xff\xff\x01\x02\x03\x04", 16);
  auto unmapped = IpAddress::FromBytes(mapped);
  ASSERT_TRUE(unmapped.ok());
  EXPECT_EQ(unmapped->ToString(), "1.2.3.4");
}

TEST(CidrRangeTest, ContainsRespectsPrefixAndFamily) {
  auto range = CidrRange::Parse("10.0.0.0/8");
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->Contains(*IpAddress::Parse("10.255.0.1")));
  EXPECT_FALSE(range->Contains(*IpAddress::Parse("11.0.0.1")));
  EXPECT_FALSE(range->Contains(*IpAddress::Parse("::a00:1")));
  EXPECT_TRUE(range->Contains(*IpAddress::Parse("::ffff:10.0.0.1")));

  auto v6 = CidrRange::Parse("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains(*IpAddress::Parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->Contains(*IpAddress::Parse("2001:db9::1")));
}

TEST(CidrRangeTest, BareAddressIsASingleHost) {
  auto host = CidrRange::Parse("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->ToString(), "192.0.2.7/32");
  EXPECT_TRUE(host->Contains(*IpAddress::Parse("192.0.2.7")));
  EXPECT_FALSE(host->Contains(*IpAddress::Parse("192.0.2.8")));
  EXPECT_EQ(CidrRange::Parse("::1")->ToString(), "::1/128");
}

TEST(CidrRangeTest, MappedRangeIsUnmapped) {
  auto range = CidrRange::Parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->ToString(), "10.0.0.0/8");
}

TEST(CidrRangeTest, RefusesHostBitsWithASuggestion) {
  auto range = CidrRange::Parse("10.0.0.1/8");
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.error().message.find("has host bits set; did you mean \"10.0.0.0/8\"?"),
            std::string::npos)
      << range.error().message;
}

TEST(CidrRangeTest, RefusesBadPrefixes) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "::/129",
                           "::ffff:10.0.0.0/64", "nope/8"}) {
    EXPECT_FALSE(CidrRange::Parse(text).ok()) << text;
  }
}

}  // namespace
}  // namespace kca
