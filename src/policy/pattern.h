// Pattern: one entry of a policy list (DESIGN.md "Patterns"), compiled once at load.
// A glob (`*` any run, `?` one character, everything else literal, whole value), an RE2 regex
// that must match the whole value, or (allowed.dnsNames only) a {wildcard: "*.example.com"} entry,
// the one kind that may allow a requested wildcard DNS SAN. Entry kinds that need more than the
// value to decide (e.g. the requesting node's addresses) join Kind and are matched by the
// evaluator, which has that context; Matches() never allows them on the value alone.
// Immutable after construction; Matches() is thread-safe.
#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca::policy {

class Pattern {
 public:
  enum class Kind {
    kLiteral,   // a glob without `*` or `?`: matches exactly its own text
    kMatchAll,  // the glob "*"
    kGlob,
    kRegex,
    kWildcard,  // {wildcard: "*.example.com"}: the wildcard SAN spelled exactly so, nothing else
  };

  // `text` is the glob as the policy wrote it (after any DNS normalisation by the caller).
  static Pattern Glob(std::string text);
  // Compiles `text` with RE2; the error carries RE2's own message. `case_insensitive` is for
  // dnsNames, whose values are compared case-insensitively.
  static Result<Pattern> Regex(std::string text, bool case_insensitive);
  // `text` is "*." followed by a hostname, lowercased (the loader checks it).
  static Pattern Wildcard(std::string text);

  // Whole-value match; a kWildcard entry matches only its own text. Globs run in O(len(value) *
  // len(pattern)) at worst, without recursion, so a hostile value cannot make matching blow up; RE2
  // is linear in the value.
  bool Matches(std::string_view value) const;

  Kind kind() const { return kind_; }
  bool is_regex() const { return kind_ == Kind::kRegex; }
  bool is_wildcard() const { return kind_ == Kind::kWildcard; }
  // A glob without `*` or `?`: it matches exactly its own text.
  bool is_literal() const { return kind_ == Kind::kLiteral; }
  // The glob "*": matches every value.
  bool is_match_all() const { return kind_ == Kind::kMatchAll; }
  const std::string& text() const { return text_; }
  // How messages show the entry: "ci-*", {regex: "^a.*$"} or {wildcard: "*.example.com"}.
  std::string Describe() const;

 private:
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
