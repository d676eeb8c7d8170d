// DecodeCsrDocument: JSON or YAML text → CSR objects, with size and nesting limits for
// untrusted input.
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "csr_object_internal.h"
#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/csr/node_facts.h"
#include "yaml_to_json.h"

namespace kca {
namespace {

using nlohmann::json;

constexpr int kMaxNestingDepth = 64;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// nlohmann parses iteratively but copies and destroys recursively: bound the depth first.
int JsonNestingDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

// nlohmann keeps the last of duplicate keys silently; another reader may keep the first, so
// a document with two spec.request values means different things to different tools. This SAX
// pass finds them in linear time: nlohmann's parser callback rescans the enclosing array after
// every element, which made an array of a million empty objects take minutes.
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
 public:
  const std::optional<Error>& duplicate() const { return duplicate_; }

  bool start_object(std::size_t) override {
    objects_.emplace_back();
    return true;
  }
  bool end_object() override {
    if (!objects_.empty()) objects_.pop_back();
    return true;
  }
  bool key(string_t& key) override {
    if (objects_.empty()) return true;
    if (!objects_.back().keys.insert(key).second) {
      const std::string parent = objects_.size() > 1 ? objects_[objects_.size() - 2].current : "";
      duplicate_ = Error{"duplicate key " + Quote(key) +
                         (parent.empty() ? "" : " in the object under " + Quote(parent))};
      return false;  // the first duplicate is reported; stop reading
    }
    objects_.back().current = key;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;  // the DOM parse below reports it with nlohmann's message
  }

 private:
  struct OpenObject {
    std::set<std::string> keys;
    std::string current;
  };
  std::vector<OpenObject> objects_;
  std::optional<Error> duplicate_;
};

Result<json> ParseJson(std::string_view text) {
  if (JsonNestingDepth(text) > kMaxNestingDepth) {
    return Error{"nested more than " + std::to_string(kMaxNestingDepth) + " levels deep"};
  }
  try {
    DuplicateKeyFinder finder;
    json::sax_parse(text, &finder);
    if (finder.duplicate()) return *finder.duplicate();
    return json::parse(text);
  } catch (const json::exception& e) {
    return Error{"not valid JSON: " + std::string(e.what())};
  }
}

Result<std::vector<CsrObject>> DecodeRoot(const json& root) {
  if (!root.is_object()) {
    return Error{"expected a CertificateSigningRequest or a List of them, found " +
                 std::string(root.type_name())};
  }
  auto kind = root.find("kind");
  const bool is_list = kind != root.end() && kind->is_string() &&
                       (*kind == "List" || *kind == "CertificateSigningRequestList");
  std::vector<CsrObject> objects;
  if (!is_list) {
    auto object = DecodeCsrObject(root);
    if (!object.ok()) return object.error();
    objects.push_back(std::move(*object));
    return objects;
  }
  auto items = root.find("items");
  if (items == root.end() || items->is_null()) return Error{"items: required field is missing"};
  if (!items->is_array()) {
    return Error{"items: expected a list, found " + std::string(items->type_name())};
  }
  for (std::size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    const std::string label = csr_internal::ObjectLabel(item, "items[" + std::to_string(i) + "]");
    auto object = csr_internal::DecodeCsrObjectAs(item, label);
    if (!object.ok()) return object.error();
    objects.push_back(std::move(*object));
  }
  return objects;
}

// The kinds `check` reads besides CSRs (DESIGN.md "Node identity": offline facts). `index` is
// "items[3]" for a list item, empty for a whole document. Other kinds are decoded as CSRs.
Status AddInputObject(const json& item, std::string_view kind, const std::string& index,
                      InputObjects& out) {
  const std::string prefix = index.empty() ? "" : index + ": ";
  if (kind == "Node") {
    auto node = DecodeNodeObject(item);
    if (!node.ok()) return Error{prefix + node.error().message};
    out.nodes.push_back(std::move(*node));
  } else if (kind == "SubjectAccessReview") {
    auto review = DecodeSubjectAccessReview(item);
    if (!review.ok()) return Error{prefix + "SubjectAccessReview: " + review.error().message};
    out.reviews.push_back(std::move(*review));
  } else if (kind == "ServiceCIDR") {
    auto ranges = DecodeServiceCidr(item);
    if (!ranges.ok()) return Error{prefix + ranges.error().message};
    out.service_cidrs.insert(out.service_cidrs.end(), ranges->begin(), ranges->end());
  } else {
    const std::string label = csr_internal::ObjectLabel(item, index.empty() ? "the object" : index);
    auto csr = csr_internal::DecodeCsrObjectAs(item, label);
    if (!csr.ok()) return csr.error();
    out.csrs.push_back(std::move(*csr));
  }
  return Status::Ok();
}

std::string KindOf(const json& object) {
  if (!object.is_object()) return "";
  auto kind = object.find("kind");
  return kind != object.end() && kind->is_string() ? kind->get<std::string>() : "";
}

Result<InputObjects> DecodeInputRoot(const json& root) {
  if (!root.is_object()) {
    return Error{"expected a Kubernetes object or a List of them, found " +
                 std::string(root.type_name())};
  }
  InputObjects objects;
  const std::string kind = KindOf(root);
  if (!kind.ends_with("List")) {
    if (Status added = AddInputObject(root, kind, "", objects); !added.ok()) {
      return added.error();
    }
    return objects;
  }
  // Items of a NodeList (or CertificateSigningRequestList, ...) may carry no kind of their own.
  const std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
  auto items = root.find("items");
  if (items == root.end() || items->is_null()) return Error{"items: required field is missing"};
  if (!items->is_array()) {
    return Error{"items: expected a list, found " + std::string(items->type_name())};
  }
  for (std::size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    const std::string own_kind = KindOf(item);
    Status added = AddInputObject(item, own_kind.empty() ? item_kind : own_kind,
                                  "items[" + std::to_string(i) + "]", objects);
    if (!added.ok()) return added.error();
  }
  return objects;
}

Result<json> ParseRoot(std::string_view text, const std::string& prefix) {
  if (text.size() > kMaxDocumentBytes) {
    return Error{prefix + "the document is " + std::to_string(text.size()) +
                 " bytes long, more than the " + std::to_string(kMaxDocumentBytes) + " accepted"};
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::size_t first = 0;
  while (first < text.size() && IsSpace(text[first])) ++first;
  if (first == text.size()) return Error{prefix + "the document is empty"};
  const bool is_json = text[first] == '{' || text[first] == '[';
  Result<json> root = is_json ? ParseJson(text) : csr_internal::YamlToJson(text);
  if (!root.ok()) return Error{prefix + root.error().message};
  return root;
}

}  // namespace

Result<InputObjects> DecodeInputDocument(std::string_view text, std::string_view source) {
  const std::string prefix = std::string(source) + ": ";
  Result<json> root = ParseRoot(text, prefix);
  if (!root.ok()) return root.error();
  try {
    auto objects = DecodeInputRoot(*root);
    if (!objects.ok()) return Error{prefix + objects.error().message};
    return objects;
  } catch (const std::exception& e) {
    return Error{prefix + "cannot decode: " + e.what()};
  }
}

Result<std::vector<CsrObject>> DecodeCsrDocument(std::string_view text, std::string_view source) {
  const std::string prefix = std::string(source) + ": ";
  Result<json> root = ParseRoot(text, prefix);
  if (!root.ok()) return root.error();
  try {
    auto objects = DecodeRoot(*root);
    if (!objects.ok()) return Error{prefix + objects.error().message};
    return objects;
  } catch (const std::exception& e) {
    return Error{prefix + "cannot decode: " + e.what()};
  }
}

}  // namespace kca
