// DecodeNodeObject: a core/v1 Node (already parsed JSON) → the parts node-identity checks read.
// Shapes from upstream staging/src/k8s.io/api/core/v1/types.go (Node, NodeStatus.Addresses,
// NodeAddress{Type, Address}, NodeSpec.Taints, Taint{Key, Value, Effect}).
#include "kube_csr_approver/csr/node_facts.h"

#include <nlohmann/json.hpp>

#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"

namespace kca {
namespace {

using nlohmann::json;

constexpr std::string_view kNodeUsernamePrefix = "system:node:";

// The member, or nullptr when absent or null (the API server omits and nulls alike).
const json* Member(const json& parent, const char* key) {
  if (!parent.is_object()) return nullptr;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> StringField(const json& parent, const char* key, const std::string& path) {
  const json* value = Member(parent, key);
  if (value == nullptr) return std::string();
  if (!value->is_string()) {
    return Error{path + ": expected a string, found " + std::string(value->type_name())};
  }
  return value->get<std::string>();
}

Result<const json*> ListField(const json& parent, const char* key, const std::string& path) {
  const json* value = Member(parent, key);
  if (value != nullptr && !value->is_array()) {
    return Error{path + ": expected a list, found " + std::string(value->type_name())};
  }
  return value;
}

Result<const json*> ObjectField(const json& parent, const char* key, const std::string& path) {
  const json* value = Member(parent, key);
  if (value != nullptr && !value->is_object()) {
    return Error{path + ": expected an object, found " + std::string(value->type_name())};
  }
  return value;
}

Result<NodeObject> Decode(const json& object) {
  if (!object.is_object()) {
    return Error{"expected a Node object, found " + std::string(object.type_name())};
  }
  NodeObject node;
  if (const json* kind = Member(object, "kind"); kind != nullptr && *kind != "Node") {
    return Error{"kind: expected Node"};
  }
  auto metadata = ObjectField(object, "metadata", "metadata");
  if (!metadata.ok()) return metadata.error();
  if (*metadata == nullptr) return Error{"metadata.name: required field is missing"};
  auto name = StringField(**metadata, "name", "metadata.name");
  if (!name.ok()) return name.error();
  if (name->empty()) return Error{"metadata.name: required field is missing"};
  node.name = std::move(*name);
  auto version = StringField(**metadata, "resourceVersion", "metadata.resourceVersion");
  if (!version.ok()) return Error{"Node " + Quote(node.name) + ": " + version.error().message};
  node.resource_version = std::move(*version);

  const std::string label = "Node " + Quote(node.name) + ": ";
  auto status = ObjectField(object, "status", "status");
  if (!status.ok()) return Error{label + status.error().message};
  if (*status != nullptr) {
    auto addresses = ListField(**status, "addresses", "status.addresses");
    if (!addresses.ok()) return Error{label + addresses.error().message};
    if (*addresses != nullptr) {
      for (std::size_t i = 0; i < (*addresses)->size(); ++i) {
        const json& item = (**addresses)[i];
        const std::string path = "status.addresses[" + std::to_string(i) + "]";
        if (!item.is_object()) return Error{label + path + ": expected an object"};
        auto type = StringField(item, "type", path + ".type");
        auto address = StringField(item, "address", path + ".address");
        if (!type.ok()) return Error{label + type.error().message};
        if (!address.ok()) return Error{label + address.error().message};
        node.addresses.push_back(NodeAddress{std::move(*type), std::move(*address)});
      }
    }
  }
  auto spec = ObjectField(object, "spec", "spec");
  if (!spec.ok()) return Error{label + spec.error().message};
  if (*spec != nullptr) {
    auto taints = ListField(**spec, "taints", "spec.taints");
    if (!taints.ok()) return Error{label + taints.error().message};
    if (*taints != nullptr) {
      for (std::size_t i = 0; i < (*taints)->size(); ++i) {
        const json& item = (**taints)[i];
        const std::string path = "spec.taints[" + std::to_string(i) + "]";
        if (!item.is_object()) return Error{label + path + ": expected an object"};
        auto key = StringField(item, "key", path + ".key");
        if (!key.ok()) return Error{label + key.error().message};
        node.taint_keys.push_back(std::move(*key));
      }
    }
  }
  return node;
}

Result<ReviewAnswer> DecodeReview(const json& object) {
  if (!object.is_object()) {
    return Error{"expected a SubjectAccessReview, found " + std::string(object.type_name())};
  }
  ReviewAnswer answer;
  auto spec = ObjectField(object, "spec", "spec");
  if (!spec.ok()) return spec.error();
  if (*spec == nullptr) return Error{"spec: required field is missing"};
  auto user = StringField(**spec, "user", "spec.user");
  if (!user.ok()) return user.error();
  answer.user = std::move(*user);
  auto attributes = ObjectField(**spec, "resourceAttributes", "spec.resourceAttributes");
  if (!attributes.ok()) return attributes.error();
  if (*attributes != nullptr) {
    const std::string path = "spec.resourceAttributes.";
    for (auto [key, into] : {std::pair{"group", &answer.attributes.group},
                             std::pair{"resource", &answer.attributes.resource},
                             std::pair{"subresource", &answer.attributes.subresource},
                             std::pair{"verb", &answer.attributes.verb}}) {
      auto text = StringField(**attributes, key, path + key);
      if (!text.ok()) return text.error();
      *into = std::move(*text);
    }
  }
  auto status = ObjectField(object, "status", "status");
  if (!status.ok()) return status.error();
  if (*status == nullptr) return Error{"status: required field is missing (no answer)"};
  const json* allowed = Member(**status, "allowed");
  if (allowed == nullptr || !allowed->is_boolean()) {
    return Error{"status.allowed: expected true or false"};
  }
  answer.allowed = allowed->get<bool>();
  auto reason = StringField(**status, "reason", "status.reason");
  auto evaluation = StringField(**status, "evaluationError", "status.evaluationError");
  if (!reason.ok()) return reason.error();
  if (!evaluation.ok()) return evaluation.error();
  answer.reason = reason->empty() ? std::move(*evaluation) : std::move(*reason);
  return answer;
}

Result<std::vector<CidrRange>> DecodeCidrs(const json& object) {
  if (!object.is_object()) {
    return Error{"expected a ServiceCIDR, found " + std::string(object.type_name())};
  }
  std::string label = "ServiceCIDR";
  if (const json* metadata = Member(object, "metadata")) {
    auto name = StringField(*metadata, "name", "metadata.name");
    if (name.ok() && !name->empty()) label += " " + Quote(*name);
  }
  auto spec = ObjectField(object, "spec", "spec");
  if (!spec.ok()) return Error{label + ": " + spec.error().message};
  std::vector<CidrRange> ranges;
  if (*spec == nullptr) return ranges;
  auto cidrs = ListField(**spec, "cidrs", "spec.cidrs");
  if (!cidrs.ok()) return Error{label + ": " + cidrs.error().message};
  if (*cidrs == nullptr) return ranges;
  for (std::size_t i = 0; i < (*cidrs)->size(); ++i) {
    const json& item = (**cidrs)[i];
    const std::string path = label + ": spec.cidrs[" + std::to_string(i) + "]";
    if (!item.is_string()) return Error{path + ": expected a string"};
    Result<CidrRange> range = CidrRange::Parse(item.get<std::string>());
    if (!range.ok()) return Error{path + ": " + range.error().message};
    ranges.push_back(*range);
  }
  return ranges;
}

}  // namespace

json SubjectAccessReviewBody(const ReviewRequest& request) {
  json attributes = {{"verb", request.attributes.verb}, {"resource", request.attributes.resource}};
  if (!request.attributes.group.empty()) attributes["group"] = request.attributes.group;
  if (!request.attributes.subresource.empty()) {
    attributes["subresource"] = request.attributes.subresource;
  }
  json spec = {{"user", request.user}, {"resourceAttributes", std::move(attributes)}};
  if (!request.uid.empty()) spec["uid"] = request.uid;
  if (!request.groups.empty()) spec["groups"] = request.groups;
  if (!request.extra.empty()) spec["extra"] = request.extra;
  return {{"apiVersion", "authorization.k8s.io/v1"},
          {"kind", "SubjectAccessReview"},
          {"spec", std::move(spec)}};
}

Result<ReviewAnswer> DecodeSubjectAccessReview(const json& object) {
  try {
    return DecodeReview(object);
  } catch (const std::exception& e) {
    return Error{std::string("cannot decode the SubjectAccessReview: ") + e.what()};
  }
}

Result<std::vector<CidrRange>> DecodeServiceCidr(const json& object) {
  try {
    return DecodeCidrs(object);
  } catch (const std::exception& e) {
    return Error{std::string("cannot decode the ServiceCIDR: ") + e.what()};
  }
}

Result<NodeObject> DecodeNodeObject(const json& object) {
  try {
    return Decode(object);
  } catch (const std::exception& e) {
    return Error{std::string("cannot decode the Node: ") + e.what()};
  }
}

std::optional<std::string> NodeNameOfUsername(std::string_view username) {
  if (username.substr(0, kNodeUsernamePrefix.size()) != kNodeUsernamePrefix) return std::nullopt;
  return std::string(username.substr(kNodeUsernamePrefix.size()));
}

}  // namespace kca
