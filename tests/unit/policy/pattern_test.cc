#include "pattern.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace kca::policy {
namespace {

TEST(GlobTest, StarMatchesAnyRunIncludingDotsAndEmpty) {
  EXPECT_TRUE(GlobMatches("*.example.com", "a.b.example.com"));
  EXPECT_TRUE(GlobMatches("ci-*", "ci-"));
  EXPECT_TRUE(GlobMatches("*", ""));
  EXPECT_TRUE(GlobMatches("a*b*c", "abc"));
  EXPECT_TRUE(GlobMatches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatches("a*b*c", "axxbyy"));
  EXPECT_FALSE(GlobMatches("*.example.com", "example.com"));
}

TEST(GlobTest, QuestionMarkIsExactlyOneCharacter) {
  EXPECT_TRUE(GlobMatches("build?", "build1"));
  EXPECT_FALSE(GlobMatches("build?", "build"));
  EXPECT_FALSE(GlobMatches("build?", "build12"));
  // One UTF-8 encoded character, not one byte.
  EXPECT_TRUE(GlobMatches("caf?", "caf\xc3\xa9"));
  EXPECT_FALSE(GlobMatches("caf??", "caf\xc3\xa9"));
  EXPECT_TRUE(GlobMatches("*?", "\xe2\x82\xac"));
}

TEST(GlobTest, EverythingElseIsLiteralAndCaseSensitive) {
  EXPECT_TRUE(GlobMatches("a.b", "a.b"));
  EXPECT_FALSE(GlobMatches("a.b", "axb"));
  EXPECT_FALSE(GlobMatches("Admin", "admin"));
  EXPECT_TRUE(GlobMatches("[a-z]", "[a-z]"));
  EXPECT_FALSE(GlobMatches("[a-z]", "q"));
  EXPECT_TRUE(GlobMatches("a\\*", "a\\bc"));
}

TEST(GlobTest, WholeValueOnly) {
  EXPECT_FALSE(GlobMatches("ci", "ci-runner"));
  EXPECT_FALSE(GlobMatches("runner", "ci-runner"));
}

TEST(GlobTest, PathologicalInputStaysFast) {
  // Exponential backtracking would take ages on this; the matcher is polynomial.
  std::string value(20000, 'a');
  std::string glob = "*a*a*a*a*a*a*a*a*a*a*b";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatches(glob, value));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(PatternTest, KindsAreRecognised) {
  EXPECT_TRUE(Pattern::Glob("kubernetes.io/kubelet-serving").is_literal());
  EXPECT_TRUE(Pattern::Glob("*").is_match_all());
  Pattern glob = Pattern::Glob("example.com/*");
  EXPECT_FALSE(glob.is_literal());
  EXPECT_FALSE(glob.is_regex());
  EXPECT_EQ(glob.Describe(), "\"example.com/*\"");
}

TEST(PatternTest, RegexMatchesWholeValue) {
  auto regex = Pattern::Regex("team-[a-z]+", false);
  ASSERT_TRUE(regex.ok());
  EXPECT_TRUE(regex->Matches("team-blue"));
  EXPECT_FALSE(regex->Matches("xteam-blue"));
  EXPECT_FALSE(regex->Matches("team-blue1"));
  EXPECT_FALSE(regex->Matches("TEAM-blue"));
  EXPECT_EQ(regex->Describe(), "{regex: \"team-[a-z]+\"}");
}

TEST(PatternTest, CaseInsensitiveRegexForDnsNames) {
  auto regex = Pattern::Regex("svc-[0-9]+\\.example\\.com", true);
  ASSERT_TRUE(regex.ok());
  EXPECT_TRUE(regex->Matches("SVC-1.Example.com"));
}

TEST(PatternTest, RegexRangeFilterNeverChangesTheAnswer) {
  // Matches() skips RE2 for values outside the regex's possible match range; compare it with
  // plain RE2 full matching over many value/regex pairs, including case-insensitive ones.
  const std::vector<std::string> regexes = {
      "example\\.com/s[0-9]+",
      "a+b",
      "(abc)+",
      "ca\\.example\\.com/.+",
      "[a-z]{2,4}-(x|y)",
      "u-[0-9]+",
      "z*",
      "Team-[A-Z]+",
      "\\x{e9}t\\x{e9}",
      ".*suffix",
      "kubernetes\\.io/(kube-apiserver-client|kubelet-serving)"};
  const std::vector<std::string> values = {"",
                                           "a",
                                           "ab",
                                           "aab",
                                           "aaab",
                                           "b",
                                           "abc",
                                           "abcabc",
                                           "abcab",
                                           "example.com/s1",
                                           "example.com/s",
                                           "example.com/s99x",
                                           "ca.example.com/",
                                           "ca.example.com/x",
                                           "ab-x",
                                           "abcd-y",
                                           "abcde-y",
                                           "u-1",
                                           "u-",
                                           "z",
                                           "zzzz",
                                           "TEAM-X",
                                           "team-x",
                                           "Team-XY",
                                           "\xc3\xa9t\xc3\xa9",
                                           "a suffix",
                                           "suffix",
                                           "kubernetes.io/kubelet-serving",
                                           "kubernetes.io/kube-apiserver-client",
                                           "kubernetes.io/kube-apiserver-clientx",
                                           "\xff\xfe",
                                           std::string(40, 'a') + "b"};
  for (bool fold : {false, true}) {
    for (const std::string& text : regexes) {
      auto pattern = Pattern::Regex(text, fold);
      ASSERT_TRUE(pattern.ok()) << text;
      re2::RE2::Options options;
      options.set_case_sensitive(!fold);
      re2::RE2 reference(text, options);
      for (const std::string& value : values) {
        EXPECT_EQ(pattern->Matches(value), re2::RE2::FullMatch(value, reference))
            << "regex " << text << " value " << value << " fold " << fold;
      }
    }
  }
}

TEST(PatternTest, InvalidRegexCarriesRe2Message) {
  auto regex = Pattern::Regex("team-(", false);
  ASSERT_FALSE(regex.ok());
  EXPECT_NE(regex.error().message.find("missing )"), std::string::npos) << regex.error().message;
  EXPECT_NE(regex.error().message.find("team-("), std::string::npos);
}

}  // namespace
}  // namespace kca::policy
