#include "pattern.h"

#include <vector>

namespace kca::policy {
namespace {

// Length of the UTF-8 sequence starting with `lead`; invalid lead bytes count as one byte so
// that matching always advances and never reads past the end.
size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

size_t NextCharacter(std::string_view value, size_t position) {
  size_t next = position + Utf8SequenceLength(static_cast<unsigned char>(value[position]));
  return next > value.size() ? value.size() : next;
}

}  // namespace

bool GlobMatches(std::string_view glob, std::string_view value) {
  // Greedy matching that remembers only the last `*`: a later star can always absorb what an
  // earlier one would have, so one retry point suffices and there is no exponential search.
  size_t p = 0;
  size_t v = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (v < value.size()) {
    if (p < glob.size() && glob[p] == '*') {
      star = p++;
      resume = v;
    } else if (p < glob.size() && glob[p] == '?') {
      ++p;
      v = NextCharacter(value, v);
    } else if (p < glob.size() && glob[p] == value[v]) {
      ++p;
      ++v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      resume = NextCharacter(value, resume);
      v = resume;
    } else {
      return false;
    }
  }
  while (p < glob.size() && glob[p] == '*') ++p;
  return p == glob.size();
}

Pattern Pattern::Glob(std::string text) {
  Kind kind = Kind::kLiteral;
  if (text == "*") {
    kind = Kind::kMatchAll;
  } else if (text.find_first_of("*?") != std::string::npos) {
    kind = Kind::kGlob;
  }
  return Pattern(kind, std::move(text));
}

Pattern Pattern::Wildcard(std::string text) { return Pattern(Kind::kWildcard, std::move(text)); }

Result<Pattern> Pattern::Regex(std::string text, bool case_insensitive) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(!case_insensitive);
  // A policy may hold hundreds of patterns; 1 MiB each (RE2's default is 8) keeps the whole
  // policy small while leaving real patterns, a few thousand instructions at most, ample room.
  options.set_max_mem(1 << 20);
  // Anchoring at match time (FullMatch) keeps the user's text intact for messages.
  auto regex = std::make_unique<const re2::RE2>(text, options);
  if (!regex->ok()) {
    return Error{"invalid regex \"" + text + "\": " + regex->error()};
  }
  Pattern pattern(Kind::kRegex, std::move(text));
  // 32 bytes of bound is plenty to tell signer names and usernames apart.
  pattern.has_range_ = regex->PossibleMatchRange(&pattern.range_min_, &pattern.range_max_, 32) &&
                       !pattern.range_max_.empty();
  pattern.regex_ = std::move(regex);
  return pattern;
}

bool Pattern::Matches(std::string_view value) const {
  switch (kind_) {
    case Kind::kLiteral:
    case Kind::kWildcard:
      return value == text_;
    case Kind::kMatchAll:
      return true;
    case Kind::kGlob:
      return GlobMatches(text_, value);
    case Kind::kRegex:
      if (has_range_ && (value < range_min_ || value > range_max_)) return false;
      return re2::RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *regex_);
  }
  return false;
}

std::string Pattern::Describe() const {
  if (kind_ == Kind::kRegex) return "{regex: \"" + text_ + "\"}";
  if (kind_ == Kind::kWildcard) return "{wildcard: \"" + text_ + "\"}";
  return "\"" + text_ + "\"";
}

}  // namespace kca::policy
