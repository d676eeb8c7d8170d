#include "yaml_to_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <streambuf>
#include <unordered_map>
#include <vector>

#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"

namespace kca::csr_internal {
namespace {

using nlohmann::json;

bool IsAllDigits(std::string_view text, bool hex) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool digit = c >= '0' && c <= '9';
    const bool hex_letter = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!digit && !(hex && hex_letter)) return false;
  }
  return true;
}

std::optional<json> ParseInteger(std::string_view digits, bool negative, int base) {
  std::uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (!negative) {
    if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return json(static_cast<std::int64_t>(magnitude));
    }
    return json(magnitude);
  }
  if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
    return json(static_cast<std::int64_t>(0 - magnitude));
  }
  return std::nullopt;
}

bool LooksLikeFloat(std::string_view text) {
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  std::size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    std::size_t exponent = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == text.size();
}

// The YAML 1.2 core schema's resolution of an untagged plain scalar.
json ResolvePlain(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text == "null" || text == "Null" || text == "NULL" || text == "~" || text.empty()) {
    return nullptr;
  }
  std::string_view body = text;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (IsAllDigits(body, false)) {
    if (auto number = ParseInteger(body, negative, 10)) return *number;
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    const std::string_view digits = std::string_view(text).substr(2);
    const bool hex = text[1] == 'x';
    if (IsAllDigits(digits, hex) && (hex || digits.find_first_of("89") == std::string::npos)) {
      if (auto number = ParseInteger(digits, false, hex ? 16 : 8)) return *number;
    }
  }
  if (LooksLikeFloat(text)) {
    double value = 0;
    const auto [end, ec] =
        std::from_chars(text.data() + (text[0] == '+' ? 1 : 0), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && std::isfinite(value)) {
      return value;
    }
  }
  return text;  // .inf/.nan have no JSON form and are never meaningful in a CSR: keep the text
}

bool IsCoreSchemaTag(const std::string& tag) {
  static constexpr std::string_view kPrefix = "tag:yaml.org,2002:";
  if (tag.empty() || tag == "?" || tag == "!") return true;  // untagged plain / quoted
  if (tag.rfind(kPrefix, 0) != 0) return false;
  const std::string_view name = std::string_view(tag).substr(kPrefix.size());
  return name == "str" || name == "int" || name == "bool" || name == "null" || name == "float" ||
         name == "map" || name == "seq";
}

// A value kept for its aliases: the converted JSON, what it cost of the budget, and, for a
// scalar, its text as a map key.
struct AnchoredValue {
  json value;
  std::size_t values = 0;
  std::size_t bytes = 0;
  std::optional<std::string> key_text;
  std::optional<std::string> problem;  // why it cannot be used as a value (e.g. a tag)
};

// Builds the JSON value of the first document with content straight from yaml-cpp's parser
// events, so memory is the JSON's and never a node tree's. Afterwards, and after the first
// error, it only counts documents: syntax errors and a second document are still found, and take
// precedence as when the documents were scanned before conversion.
class Converter : public YAML::EventHandler {
 public:
  // `budget`: how many values, and how many bytes of text, the result may hold.
  explicit Converter(std::size_t budget) : values_left_(budget), bytes_left_(budget) {}

  int documents_with_content() const { return documents_with_content_; }
  const std::optional<Error>& error() const { return error_; }
  std::optional<json>& result() { return result_; }

  void OnDocumentStart(const YAML::Mark&) override {
    has_content_ = false;
    converting_ = documents_with_content_ == 0 && !error_;
    anchors_.clear();
  }
  void OnDocumentEnd() override { documents_with_content_ += has_content_ ? 1 : 0; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // A document of nothing ("---" alone) is no document: it is not content.
    if (!converting_ || (frames_.empty() && !has_content_)) return;
    if (IsKeyPosition()) return Fail(mark, "a map key must be a string");
    if (!TakeValue(mark)) return;
    Complete(json(nullptr), anchor, 1, 0, std::nullopt);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    has_content_ = true;
    if (!converting_) return;
    const bool key = IsKeyPosition();
    if (!key) EnterValue();
    const auto found = anchors_.find(anchor);
    if (found == anchors_.end()) {
      return Fail(mark, "an alias refers to the value that contains it");
    }
    const AnchoredValue& anchored = found->second;
    if (key) {
      if (!anchored.key_text) return Fail(mark, "a map key must be a string");
      return AcceptKey(mark, *anchored.key_text);
    }
    if (anchored.problem) return Fail(mark, *anchored.problem);
    if (anchored.values > values_left_) {
      return Fail(mark, "more values than the document has bytes (aliases?)");
    }
    if (anchored.bytes > bytes_left_) {
      return Fail(mark, "more text than the document has bytes (aliases?)");
    }
    values_left_ -= anchored.values;
    bytes_left_ -= anchored.bytes;
    Deliver(json(anchored.value));
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& text) override {
    has_content_ = true;
    if (!converting_) return;
    if (IsKeyPosition()) {
      if (anchor != YAML::NullAnchor) {
        // Kept in case an alias uses this key as a value; refusals wait for that use.
        AnchoredValue kept;
        kept.key_text = text;
        kept.values = 1;
        kept.bytes = text.size();
        if (!IsCoreSchemaTag(tag)) {
          kept.problem = TagProblem(tag);
        } else if (!IsValidUtf8(text)) {
          kept.problem = "not valid UTF-8";
        } else {
          kept.value = ScalarValue(tag, text);
        }
        anchors_[anchor] = std::move(kept);
      }
      return AcceptKey(mark, text);
    }
    if (!TakeValue(mark)) return;
    if (!IsCoreSchemaTag(tag)) return Fail(mark, TagProblem(tag));
    if (text.size() > bytes_left_) {
      return Fail(mark, "more text than the document has bytes (aliases?)");
    }
    bytes_left_ -= text.size();
    if (!IsValidUtf8(text)) return Fail(mark, "not valid UTF-8");
    Complete(ScalarValue(tag, text), anchor, 1, text.size(), text);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    StartContainer(mark, tag, anchor, json::array());
  }
  void OnSequenceEnd() override { EndContainer(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    StartContainer(mark, tag, anchor, json::object());
  }
  void OnMapEnd() override { EndContainer(); }

 private:
  struct Frame {
    json value;  // the array or object being filled
    YAML::anchor_t anchor;
    std::size_t values_left_at_start;
    std::size_t bytes_left_at_start;
    std::size_t next_index = 0;      // arrays: the index of the next element
    std::optional<std::string> key;  // objects: the key whose value comes next
  };

  static std::string TagProblem(const std::string& tag) {
    // !!binary, !!timestamp, custom tags: other readers give them meanings this one does not.
    return "the YAML tag " + Quote(tag) +
           " is not allowed; only the core schema's (!!str, !!int, !!bool, !!null, !!float, "
           "!!map, !!seq)";
  }

  static json ScalarValue(const std::string& tag, const std::string& text) {
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;  // quoted, block or !!str
    return ResolvePlain(text);
  }

  bool IsKeyPosition() const {
    return !frames_.empty() && frames_.back().value.is_object() && !frames_.back().key;
  }

  // Charges one value to the budget and places it in the path; false (with the error) if spent.
  bool TakeValue(const YAML::Mark& mark) {
    has_content_ = true;
    if (values_left_ == 0) {
      Fail(mark, "more values than the document has bytes (aliases?)");
      return false;
    }
    --values_left_;
    EnterValue();
    return true;
  }

  // An element of an array is named by its index in the path; a map's value by its key, which
  // AcceptKey has placed.
  void EnterValue() {
    if (!frames_.empty() && frames_.back().value.is_array()) {
      path_.push_back("[" + std::to_string(frames_.back().next_index) + "]");
    }
  }

  void AcceptKey(const YAML::Mark& mark, const std::string& key) {
    if (!IsValidUtf8(key)) return Fail(mark, "a key is not valid UTF-8");
    path_.push_back(key);
    if (frames_.back().value.contains(key)) return Fail(mark, "duplicate key");
    frames_.back().key = key;
  }

  void StartContainer(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                      json empty) {
    has_content_ = true;
    if (!converting_) return;
    if (IsKeyPosition()) return Fail(mark, "a map key must be a string");
    if (!TakeValue(mark)) return;
    if (!IsCoreSchemaTag(tag)) return Fail(mark, TagProblem(tag));
    if (frames_.size() >= static_cast<std::size_t>(kMaxYamlDepth)) {
      return Fail(mark, "nested too deeply");
    }
    // The container itself was charged by TakeValue; its cost as an anchor includes that value.
    frames_.push_back(
        Frame{std::move(empty), anchor, values_left_ + 1, bytes_left_, 0, std::nullopt});
  }

  void EndContainer() {
    if (!converting_) return;
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    Complete(std::move(frame.value), frame.anchor, frame.values_left_at_start - values_left_,
             frame.bytes_left_at_start - bytes_left_, std::nullopt);
  }

  // A value is whole: keep it for aliases if anchored, and put it into its parent.
  void Complete(json value, YAML::anchor_t anchor, std::size_t values, std::size_t bytes,
                std::optional<std::string> key_text) {
    if (anchor != YAML::NullAnchor) {
      anchors_[anchor] = AnchoredValue{value, values, bytes, std::move(key_text), std::nullopt};
    }
    Deliver(std::move(value));
  }

  void Deliver(json value) {
    if (frames_.empty()) {
      result_ = std::move(value);
      converting_ = false;  // the document's root is done; later documents are only counted
      return;
    }
    Frame& parent = frames_.back();
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
      ++parent.next_index;
    } else {
      parent.value.emplace(*parent.key, std::move(value));
      parent.key.reset();
    }
    path_.pop_back();
  }

  // Records the first failure at the current path ("spec.usages[1]") and stops converting.
  void Fail(const YAML::Mark& mark, const std::string& what) {
    if (!error_) {
      std::string where;
      for (const std::string& segment : path_) {
        if (!where.empty() && segment.front() != '[') where += '.';
        where += segment;
      }
      if (where.empty()) where = "top level";
      if (!mark.is_null()) where += " (line " + std::to_string(mark.line + 1) + ")";
      error_ = Error{where + ": " + what};
    }
    converting_ = false;
    frames_.clear();
    path_.clear();
  }

  std::vector<Frame> frames_;      // the containers open from the root to the current value
  std::vector<std::string> path_;  // keys and "[index]" from the root to the current value
  std::unordered_map<YAML::anchor_t, AnchoredValue> anchors_;
  std::size_t values_left_;
  std::size_t bytes_left_;
  bool converting_ = false;
  bool has_content_ = false;
  int documents_with_content_ = 0;
  std::optional<json> result_;
  std::optional<Error> error_;
};

// std::istream over the caller's text without copying it.
class TextBuffer : public std::streambuf {
 public:
  explicit TextBuffer(std::string_view text) {
    char* begin = const_cast<char*>(text.data());  // only ever read
    setg(begin, begin, begin + text.size());
  }
};

}  // namespace

Result<nlohmann::json> YamlToJson(std::string_view text) {
  // yaml-cpp 0.7 loops forever on some inputs (a stray ',' after a top-level scalar yields empty
  // documents without end): at most kMaxDocuments are read.
  constexpr int kMaxDocuments = 16;
  Converter converter(text.size() + 64);
  try {
    TextBuffer buffer(text);
    std::istream stream(&buffer);
    YAML::Parser parser(stream);
    int documents = 0;
    while (parser.HandleNextDocument(converter)) {
      if (++documents > kMaxDocuments) {
        return Error{"not valid YAML: it never ends (a stray ',' or quote after a value?)"};
      }
    }
  } catch (const YAML::Exception& e) {
    return Error{"not valid YAML: " + std::string(e.what())};
  } catch (const std::exception& e) {
    return Error{"cannot read the YAML: " + std::string(e.what())};
  }
  if (converter.documents_with_content() > 1) {
    return Error{"holds " + std::to_string(converter.documents_with_content()) +
                 " YAML documents (separated by ---); give one object or one List of them"};
  }
  if (converter.error()) return *converter.error();
  if (!converter.result()) return Error{"the document is empty"};
  return std::move(*converter.result());
}

}  // namespace kca::csr_internal
