// DecodeCsrDocument: JSON or YAML text → CSR objects, with size and nesting limits for
// untrusted input.
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "csr_object_internal.h"
#include "kube_csr_approver/csr_object.h"
#include "kube_csr_approver/node_facts.h"
#include "text.h"
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

Result<json> ParseJson(std::string_view text) {
  if (JsonNestingDepth(text) > kMaxNestingDepth) {
    return Error{"nested more than " + std::to_string(kMaxNestingDepth) + " levels deep"};
  }
  // nlohmann keeps the last of duplicate keys silently; another reader may keep the first, so
  // a document with two spec.request values means different things to different tools.
  std::vector<std::pair<std::set<std::string>, std::string>> objects;  // keys seen, current key
  std::optional<Error> duplicate;
  const json::parser_callback_t track_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      objects.emplace_back();
    } else if (event == json::parse_event_t::object_end && !objects.empty()) {
      objects.pop_back();
    } else if (event == json::parse_event_t::key && !objects.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!objects.back().first.insert(key).second && !duplicate) {
        const std::string parent = objects.size() > 1 ? objects[objects.size() - 2].second : "";
        duplicate =
            Error{"duplicate key " + csr_internal::Quote(key) +
                  (parent.empty() ? "" : " in the object under " + csr_internal::Quote(parent))};
      }
      objects.back().second = key;
    }
    return true;
  };
  try {
    json parsed = json::parse(text, track_keys);
    if (duplicate) return *duplicate;
    return parsed;
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
