#include "kube_csr_approver/common/base64.h"

#include <gtest/gtest.h>

namespace kca {
namespace {

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>(i * 37));
    const std::string encoded = EncodeBase64(bytes);
    EXPECT_EQ(encoded.size() % 4, 0u);
    auto decoded = DecodeBase64(encoded, "x");
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(Base64Test, KnownVectorsAndWhitespace) {
  EXPECT_EQ(EncodeBase64(""), "");
  EXPECT_EQ(EncodeBase64("f"), "Zg==");
  EXPECT_EQ(EncodeBase64("fo"), "Zm8=");
  EXPECT_EQ(EncodeBase64("foo"), "Zm9v");
  EXPECT_EQ(*DecodeBase64("Zm9v\nYmFy\r\n", "x"), "foobar");
  EXPECT_EQ(*DecodeBase64(" Zm8= ", "x"), "fo");
}

TEST(Base64Test, RefusalsSayWhatAndWhere) {
  auto bad = DecodeBase64("Zm9v!", "spec.request");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "spec.request is not valid base64: unexpected character \"!\" at offset 4");
  EXPECT_NE(DecodeBase64(std::string("Zm\0v", 4), "x").error().message.find("\"\\x00\""),
            std::string::npos);
  EXPECT_NE(DecodeBase64("Zm=v", "x").error().message.find("padding"), std::string::npos);
  EXPECT_NE(DecodeBase64("Zm9", "x").error().message.find("not a multiple of 4"),
            std::string::npos);
  EXPECT_NE(DecodeBase64("Z===", "x").error().message.find("not a multiple of 4"),
            std::string::npos);
}

}  // namespace
}  // namespace kca
