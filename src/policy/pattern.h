// Pattern: one entry of a policy list (DESIGN.md "Patterns"), compiled once at load.
// A glob (`*` any run, `?` one character, everything else literal, whole value) or an RE2 regex
// that must match the whole value. Immutable after construction; Matches() is thread-safe.
#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>

#include "kube_csr_approver/result.h"

namespace kca::policy {

class Pattern {
 public:
  // `text` is the glob as the policy wrote it (after any DNS normalisation by the caller).
  static Pattern Glob(std::string text);
  // Compiles `text` with RE2; the error carries RE2's own message. `case_insensitive` is for
  // dnsNames, whose values are compared case-insensitively.
  static Result<Pattern> Regex(std::string text, bool case_insensitive);

  // Whole-value match. Globs run in O(len(value) * len(pattern)) at worst, without recursion,
  // so a hostile value cannot make matching blow up; RE2 is linear in the value.
  bool Matches(std::string_view value) const;

  bool is_regex() const { return kind_ == Kind::kRegex; }
  // A glob without `*` or `?`: it matches exactly its own text.
  bool is_literal() const { return kind_ == Kind::kLiteral; }
  // The glob "*": matches every value.
  bool is_match_all() const { return kind_ == Kind::kMatchAll; }
  const std::string& text() const { return text_; }
  // How messages show the entry: "ci-*" or {regex: "^a.*$"}.
  std::string Describe() const;

 private:
  enum class Kind { kLiteral, kMatchAll, kGlob, kRegex };

  Pattern(Kind kind, std::string text) : kind_(kind), text_(std::move(text)) {}

  Kind kind_;
  std::string text_;
  std::unique_ptr<const re2::RE2> regex_;  // set only for kRegex
  // Bounds every full match of regex_ lies within (RE2::PossibleMatchRange), so most values a
  // selector regex will not match are turned away by two comparisons instead of an RE2 run.
  bool has_range_ = false;
  std::string range_min_;
  std::string range_max_;
};

// The glob matcher behind Pattern::Matches, exposed so tests can exercise it directly.
bool GlobMatches(std::string_view glob, std::string_view value);

}  // namespace kca::policy
