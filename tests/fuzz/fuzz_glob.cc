// libFuzzer target: the glob matcher against a reference matcher written the plain way (dynamic
// programming over code points), on every glob/value pair of valid UTF-8 (what policies and
// CSR values are); other bytes must only not crash. Input: glob, NUL, value.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_invariants.h"
#include "kube_csr_approver/common/utf8.h"
#include "pattern.h"

namespace {

std::vector<char32_t> CodePoints(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t point = 0;
    for (size_t k = 0; k < length; ++k)
      point = (point << 8) | static_cast<unsigned char>(text[i + k]);
    out.push_back(point);  // an injective stand-in for the code point is enough to compare
    i += length;
  }
  return out;
}

bool ReferenceMatches(std::string_view glob_text, std::string_view value_text) {
  const std::vector<char32_t> glob = CodePoints(glob_text);
  const std::vector<char32_t> value = CodePoints(value_text);
  // matches[j]: glob[0, i) matches value[0, j)
  std::vector<char> matches(value.size() + 1, 0);
  matches[0] = 1;
  for (char32_t g : glob) {
    std::vector<char> next(value.size() + 1, 0);
    if (g == U'*') {
      bool any = false;
      for (size_t j = 0; j <= value.size(); ++j) {
        any = any || matches[j];
        next[j] = any;
      }
    } else {
      for (size_t j = 1; j <= value.size(); ++j) {
        next[j] = matches[j - 1] && (g == U'?' || g == value[j - 1]);
      }
    }
    matches = std::move(next);
  }
  return matches[value.size()] != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  if (split == std::string_view::npos) return 0;
  const std::string_view glob = input.substr(0, split);
  const std::string_view value = input.substr(split + 1);
  if (glob.size() > 256 || value.size() > 1024) return 0;  // the reference is quadratic
  const bool matched = kca::policy::GlobMatches(glob, value);
  if (kca::IsValidUtf8(glob) && kca::IsValidUtf8(value) &&
      matched != ReferenceMatches(glob, value)) {
    kca::fuzz::Violated("glob matching differs from the reference", input);
  }
  return 0;
}
