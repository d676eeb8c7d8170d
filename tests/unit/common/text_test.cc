// UTF-8 validation and quoting of untrusted text, which guard names from YAML, OpenSSL's
// conversions and server data before they reach messages.
#include <gtest/gtest.h>

#include <string>

#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"

namespace kca {
namespace {

TEST(TextTest, AcceptsWellFormedUtf8) {
  for (const char* text : {"", "plain", "m\xc3\xbcller", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                           "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(text)) << Quote(text);
  }
}

TEST(TextTest, RefusesMalformedUtf8) {
  for (const char* text : {"\x80", "\xff", "a\xc3", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
                           "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80",
                           "\xf8\x88\x80\x80\x80", "\xe2\x82", "\xe2\x28\xa1"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << Quote(text);
  }
}

TEST(TextTest, QuoteEscapesAndCuts) {
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string("nul\0\n\xff", 6)), "\"nul\\x00\\x0a\\xff\"");
  EXPECT_EQ(Quote("abcdef", 3), "\"abc...\"");
  EXPECT_EQ(Quote(std::string(100, 'x')).size(), 64u + 5u);
}

}  // namespace
}  // namespace kca
