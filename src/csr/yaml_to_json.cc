#include "yaml_to_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

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

class Converter {
 public:
  // `budget`: how many values, and how many bytes of text, the result may hold.
  explicit Converter(std::size_t budget) : nodes_left_(budget), bytes_left_(budget) {}

  const std::optional<Error>& error() const { return error_; }

  json Convert(const YAML::Node& node) {
    if (error_) return nullptr;
    if (nodes_left_ == 0) return Fail(node, "more values than the document has bytes (aliases?)");
    --nodes_left_;
    if (!IsCoreSchemaTag(node.Tag())) {
      // !!binary, !!timestamp, custom tags: other readers give them meanings this one does not.
      return Fail(node, "the YAML tag " + Quote(node.Tag()) +
                            " is not allowed; only the core schema's (!!str, !!int, !!bool, "
                            "!!null, !!float, !!map, !!seq)");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        if (path_.size() >= static_cast<std::size_t>(kMaxYamlDepth)) {
          return Fail(node, "nested too deeply");
        }
        json array = json::array();
        std::size_t index = 0;
        for (const auto& item : node) {
          path_.push_back("[" + std::to_string(index++) + "]");
          array.push_back(Convert(item));
          path_.pop_back();
          if (error_) return nullptr;
        }
        return array;
      }
      case YAML::NodeType::Map: {
        if (path_.size() >= static_cast<std::size_t>(kMaxYamlDepth)) {
          return Fail(node, "nested too deeply");
        }
        json object = json::object();
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) return Fail(entry.first, "a map key must be a string");
          const std::string& key = entry.first.Scalar();
          if (!IsValidUtf8(key)) return Fail(entry.first, "a key is not valid UTF-8");
          path_.push_back(key);
          if (object.contains(key)) return Fail(entry.first, "duplicate key");
          json value = Convert(entry.second);
          path_.pop_back();
          if (error_) return nullptr;
          object.emplace(key, std::move(value));
        }
        return object;
      }
    }
    return nullptr;
  }

 private:
  json Scalar(const YAML::Node& node) {
    const std::string& text = node.Scalar();
    if (text.size() > bytes_left_) {
      return Fail(node, "more text than the document has bytes (aliases?)");
    }
    bytes_left_ -= text.size();
    if (!IsValidUtf8(text)) return Fail(node, "not valid UTF-8");
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;  // quoted, block or !!str
    return ResolvePlain(text);
  }

  // Records the first failure at the current path ("spec.usages[1]").
  json Fail(const YAML::Node& node, const std::string& what) {
    if (!error_) {
      std::string where;
      for (const std::string& segment : path_) {
        if (!where.empty() && segment.front() != '[') where += '.';
        where += segment;
      }
      if (where.empty()) where = "top level";
      const YAML::Mark mark = node.Mark();
      if (!mark.is_null()) where += " (line " + std::to_string(mark.line + 1) + ")";
      error_ = Error{where + ": " + what};
    }
    return nullptr;
  }

  std::vector<std::string> path_;  // keys and "[index]" from the root to the current value
  std::size_t nodes_left_;
  std::size_t bytes_left_;
  std::optional<Error> error_;
};

// Counts documents from parser events alone: no nodes are built, so a runaway parse costs
// nothing but the scan, which stops after kMaxDocuments.
class DocumentCounter : public YAML::EventHandler {
 public:
  int with_content() const { return with_content_; }

  void OnDocumentStart(const YAML::Mark&) override { has_content_ = false; }
  void OnDocumentEnd() override { with_content_ += has_content_ ? 1 : 0; }
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { has_content_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    has_content_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    has_content_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    has_content_ = true;
  }
  void OnMapEnd() override {}

 private:
  bool has_content_ = false;
  int with_content_ = 0;
};

// Exactly one document with content (empty ones from stray "---" are fine). Throws what
// yaml-cpp throws on syntax errors.
Status ScanDocuments(std::string_view text) {
  constexpr int kMaxDocuments = 16;
  std::istringstream stream{std::string(text)};
  YAML::Parser parser(stream);
  DocumentCounter counter;
  int documents = 0;
  while (parser.HandleNextDocument(counter)) {
    if (++documents > kMaxDocuments) {
      return Error{"not valid YAML: it never ends (a stray ',' or quote after a value?)"};
    }
  }
  if (counter.with_content() > 1) {
    return Error{"holds " + std::to_string(counter.with_content()) +
                 " YAML documents (separated by ---); give one object or one List of them"};
  }
  return Status::Ok();
}

}  // namespace

Result<nlohmann::json> YamlToJson(std::string_view text) {
  std::vector<YAML::Node> documents;
  try {
    // yaml-cpp 0.7 loops forever on some inputs (a stray ',' after a top-level scalar yields
    // empty documents without end): count them with the bounded scan before building nodes.
    if (Status scan = ScanDocuments(text); !scan.ok()) return scan.error();
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error{"not valid YAML: " + std::string(e.what())};
  } catch (const std::exception& e) {
    return Error{"cannot read the YAML: " + std::string(e.what())};
  }
  // A stray "---" at the end makes an empty document; that is not a second object.
  std::erase_if(documents, [](const YAML::Node& node) { return node.IsNull(); });
  if (documents.empty()) return Error{"the document is empty"};
  try {
    Converter converter(text.size() + 64);
    json converted = converter.Convert(documents.front());
    if (converter.error()) return *converter.error();
    return converted;
  } catch (const std::exception& e) {
    return Error{"cannot read the YAML: " + std::string(e.what())};
  }
}

}  // namespace kca::csr_internal
