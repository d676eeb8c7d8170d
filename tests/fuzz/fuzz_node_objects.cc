// libFuzzer target: the decoders of what node-identity checks read from the server (upstream
// staging/src/k8s.io/api/core/v1/types.go Node, authorization/v1 SubjectAccessReview,
// networking/v1 ServiceCIDR), on any JSON: the object alone and every item of a list, as the
// controller's ApiNodeFactsSource hands them over. Invariants: every unexpected type is a typed
// error naming the field, never an exception (the decoders' catch-all guard never fires); what
// decodes re-encodes to JSON that decodes to the same facts; every CIDR read prints as a CIDR
// that parses back to itself.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/csr/node_facts.h"

namespace {

using kca::fuzz::Violated;
using nlohmann::json;

void CheckNoGuard(const kca::Error& error) {
  if (error.message.rfind("cannot decode the ", 0) == 0) {
    Violated("an exception reached the decoder's guard", error.message);
  }
  if (error.message.empty()) Violated("an error without a message");
}

void CheckNode(const json& object) {
  const auto node = kca::DecodeNodeObject(object);
  if (!node.ok()) return CheckNoGuard(node.error());
  if (node->name.empty()) Violated("a Node without a name");
  json addresses = json::array();
  for (const auto& address : node->addresses) {
    addresses.push_back({{"type", address.type}, {"address", address.address}});
  }
  json taints = json::array();
  for (const auto& key : node->taint_keys)
    taints.push_back({{"key", key}, {"effect", "NoSchedule"}});
  const json encoded = {
      {"kind", "Node"},
      {"metadata", {{"name", node->name}, {"resourceVersion", node->resource_version}}},
      {"spec", {{"taints", taints}}},
      {"status", {{"addresses", addresses}}}};
  const auto again = kca::DecodeNodeObject(encoded);
  if (!again.ok() || again->name != node->name ||
      again->resource_version != node->resource_version || again->taint_keys != node->taint_keys ||
      again->addresses.size() != node->addresses.size()) {
    Violated("a re-encoded Node decodes differently");
  }
  for (size_t i = 0; i < node->addresses.size(); ++i) {
    if (again->addresses[i].type != node->addresses[i].type ||
        again->addresses[i].address != node->addresses[i].address) {
      Violated("a re-encoded Node address differs");
    }
  }
}

void CheckReview(const json& object) {
  const auto review = kca::DecodeSubjectAccessReview(object);
  if (!review.ok()) return CheckNoGuard(review.error());
  const json encoded = {{"kind", "SubjectAccessReview"},
                        {"spec",
                         {{"user", review->user},
                          {"resourceAttributes",
                           {{"group", review->attributes.group},
                            {"resource", review->attributes.resource},
                            {"subresource", review->attributes.subresource},
                            {"verb", review->attributes.verb}}}}},
                        {"status", {{"allowed", review->allowed}, {"reason", review->reason}}}};
  const auto again = kca::DecodeSubjectAccessReview(encoded);
  if (!again.ok() || again->user != review->user || !(again->attributes == review->attributes) ||
      again->allowed != review->allowed || again->reason != review->reason) {
    Violated("a re-encoded SubjectAccessReview decodes differently");
  }
}

void CheckServiceCidr(const json& object) {
  const auto ranges = kca::DecodeServiceCidr(object);
  if (!ranges.ok()) return CheckNoGuard(ranges.error());
  for (const auto& range : *ranges) {
    const std::string text = range.ToString();
    const auto again = kca::CidrRange::Parse(text);
    if (!again.ok() || again->ToString() != text) Violated("a CIDR does not print as itself", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const json object = json::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                  nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return 0;
  CheckNode(object);
  CheckReview(object);
  CheckServiceCidr(object);
  if (object.is_object()) {
    if (auto items = object.find("items"); items != object.end() && items->is_array()) {
      for (const json& item : *items) {
        CheckNode(item);
        CheckServiceCidr(item);
      }
    }
  }
  return 0;
}
