// DecodeCsrObject and DecodeCsrDocument: JSON and YAML as the API server and kubectl print them.
#include "kube_csr_approver/csr/csr_object.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "csr_factory.h"
#include "kube_csr_approver/csr/csr_inspector.h"

namespace kca {
namespace {

using nlohmann::json;

json FullObject() {
  testing::CsrObjectSpec spec;
  spec.name = "csr-alice";
  testing::RequestSpec request;
  request.subject = {{"CN", "alice"}};
  spec.request_pem = testing::MakeRequestPem(request);
  spec.usages = {"digital signature", "key encipherment", "client auth"};
  spec.groups = {"system:authenticated", "team-a"};
  spec.expiration_seconds = 3600;
  spec.conditions = {{"Approved", "True", "KubectlApprove", "ok"}};
  spec.certificate_pem = "-----BEGIN CERTIFICATE-----\n...";
  json object = testing::MakeCsrObject(spec);
  object["spec"]["uid"] = "u-123";
  object["spec"]["extra"] = {{"scopes", {"a", "b"}}};
  object["metadata"]["managedFields"] = json::array();  // unknown fields are ignored
  return object;
}

std::string ErrorOf(const Result<std::vector<CsrObject>>& result) {
  return result.ok() ? std::string("(decoded)") : result.error().message;
}

std::string ErrorOf(const json& object) {
  auto result = DecodeCsrObject(object);
  return result.ok() ? std::string("(decoded)") : result.error().message;
}

TEST(CsrObjectTest, DecodesEveryField) {
  const json object = FullObject();
  auto csr = DecodeCsrObject(object);
  ASSERT_TRUE(csr.ok()) << csr.error().message;
  EXPECT_EQ(csr->name, "csr-alice");
  EXPECT_EQ(csr->uid, "00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(csr->resource_version, "1");
  EXPECT_EQ(csr->creation_timestamp, "2026-01-01T00:00:00Z");
  EXPECT_EQ(csr->request, object["spec"]["request"].get<std::string>());
  EXPECT_EQ(csr->signer_name, "kubernetes.io/kube-apiserver-client");
  EXPECT_EQ(csr->usages,
            (std::vector<std::string>{"digital signature", "key encipherment", "client auth"}));
  EXPECT_EQ(csr->expiration_seconds, 3600);
  EXPECT_EQ(csr->username, "alice");
  EXPECT_EQ(csr->requestor_uid, "u-123");
  EXPECT_EQ(csr->groups, (std::vector<std::string>{"system:authenticated", "team-a"}));
  EXPECT_EQ(csr->extra.at("scopes"), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(csr->conditions.size(), 1u);
  EXPECT_EQ(csr->conditions[0].type, "Approved");
  EXPECT_EQ(csr->conditions[0].status, "True");
  EXPECT_EQ(csr->conditions[0].reason, "KubectlApprove");
  EXPECT_EQ(csr->conditions[0].message, "ok");
  EXPECT_EQ(csr->conditions[0].last_update_time, "2026-01-01T00:00:05Z");
  EXPECT_EQ(csr->conditions[0].last_transition_time, "2026-01-01T00:00:05Z");
  EXPECT_TRUE(csr->has_certificate);

  // The request survives the trip and inspects.
  auto facts = InspectEncodedRequest(csr->request);
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->common_names, std::vector<std::string>{"alice"});
}

TEST(CsrObjectTest, OptionalFieldsMayBeAbsentOrNull) {
  json object = {
      {"metadata", {{"name", "minimal"}}},
      {"spec", {{"request", "abc"}, {"signerName", "example.com/x"}, {"usages", nullptr}}},
      {"status", nullptr}};
  auto csr = DecodeCsrObject(object);
  ASSERT_TRUE(csr.ok()) << csr.error().message;
  EXPECT_TRUE(csr->usages.empty());
  EXPECT_FALSE(csr->expiration_seconds.has_value());
  EXPECT_TRUE(csr->conditions.empty());
  EXPECT_FALSE(csr->has_certificate);
  EXPECT_EQ(csr->username, "");
}

TEST(CsrObjectTest, CertificatePresence) {
  json object = FullObject();
  object["status"]["certificate"] = "";
  EXPECT_FALSE(DecodeCsrObject(object)->has_certificate);
  object["status"].erase("certificate");
  EXPECT_FALSE(DecodeCsrObject(object)->has_certificate);
  object["status"]["certificate"] = "LS0t";
  EXPECT_TRUE(DecodeCsrObject(object)->has_certificate);
}

TEST(CsrObjectTest, MissingRequiredFieldsNameTheObjectAndField) {
  json object = FullObject();
  object["metadata"].erase("name");
  EXPECT_EQ(ErrorOf(object),
            "CertificateSigningRequest (no metadata.name): metadata.name: required field is "
            "missing");
  object = FullObject();
  object["spec"].erase("request");
  EXPECT_EQ(ErrorOf(object),
            "CertificateSigningRequest \"csr-alice\": spec.request: required field is missing");
  object = FullObject();
  object["spec"].erase("signerName");
  EXPECT_EQ(ErrorOf(object),
            "CertificateSigningRequest \"csr-alice\": spec.signerName: required field is missing");
  object = FullObject();
  object["spec"]["signerName"] = "";
  EXPECT_EQ(ErrorOf(object),
            "CertificateSigningRequest \"csr-alice\": spec.signerName: must not be empty");
  object = FullObject();
  object.erase("spec");
  EXPECT_EQ(ErrorOf(object),
            "CertificateSigningRequest \"csr-alice\": spec.request: required field is missing");
  EXPECT_EQ(ErrorOf(json::array()),
            "CertificateSigningRequest (no metadata.name): expected an object, found array");
}

TEST(CsrObjectTest, WrongTypesNameTheFieldPath) {
  struct Case {
    std::function<void(json&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& o) { o["spec"]["usages"][1] = 7; },
       "spec.usages[1]: expected a string, found number"},
      {[](json& o) { o["spec"]["usages"] = "client auth"; },
       "spec.usages: expected a list of strings, found string"},
      {[](json& o) { o["spec"]["groups"] = {1}; }, "spec.groups[0]: expected a string"},
      {[](json& o) { o["spec"]["expirationSeconds"] = "3600"; },
       "spec.expirationSeconds: expected an integer, found string (remove the quotes)"},
      {[](json& o) { o["spec"]["expirationSeconds"] = 3600.5; },
       "spec.expirationSeconds: expected an integer, found number"},
      {[](json& o) { o["spec"]["expirationSeconds"] = 18446744073709551615ull; },
       "spec.expirationSeconds: integer out of range"},
      {[](json& o) { o["spec"]["username"] = true; },
       "spec.username: expected a string, found boolean"},
      {[](json& o) {
         o["spec"]["extra"] = {{"k", "v"}};
       },
       "spec.extra.k: expected a list of strings, found string"},
      {[](json& o) { o["spec"]["extra"] = json::array(); },
       "spec.extra: expected a map of string lists, found array"},
      {[](json& o) { o["spec"]["request"] = json::object(); },
       "spec.request: expected a string, found object"},
      {[](json& o) { o["spec"] = "x"; }, "spec: expected an object, found string"},
      {[](json& o) { o["status"]["conditions"] = json::object(); },
       "status.conditions: expected a list, found object"},
      {[](json& o) { o["status"]["conditions"][0].erase("type"); },
       "status.conditions[0].type: required field is missing"},
      {[](json& o) { o["status"]["conditions"][0]["status"] = 1; },
       "status.conditions[0].status: expected a string, found number"},
      {[](json& o) { o["status"]["certificate"] = 5; },
       "status.certificate: expected a string, found number"},
      {[](json& o) { o["metadata"]["resourceVersion"] = 12; },
       "metadata.resourceVersion: expected a string, found number"},
      {[](json& o) { o["kind"] = "Pod"; },
       "kind: expected CertificateSigningRequest, found \"Pod\""},
      {[](json& o) { o["apiVersion"] = "certificates.k8s.io/v1beta1"; },
       "apiVersion: expected certificates.k8s.io/v1, found \"certificates.k8s.io/v1beta1\""},
  };
  for (const Case& c : cases) {
    json object = FullObject();
    c.change(object);
    const std::string error = ErrorOf(object);
    EXPECT_EQ(error.rfind("CertificateSigningRequest \"csr-alice\": ", 0), 0u) << error;
    EXPECT_NE(error.find(c.expected), std::string::npos) << error;
  }
}

TEST(CsrObjectTest, EmptyRequestIsLeftToTheInspector) {
  json object = FullObject();
  object["spec"]["request"] = "";
  auto csr = DecodeCsrObject(object);
  ASSERT_TRUE(csr.ok());
  EXPECT_FALSE(InspectEncodedRequest(csr->request).ok());
}

// --- documents -----------------------------------------------------------------------------

constexpr const char* kKubectlYaml = R"(apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  creationTimestamp: "2026-01-01T00:00:00Z"
  name: node-csr-abc
  resourceVersion: "4711"
  uid: 1b4e28ba-2fa1-11d2-883f-0016d3cca427
spec:
  expirationSeconds: 86400
  groups:
  - system:nodes
  - system:authenticated
  request: LS0tLS1CRUdJTg==
  signerName: kubernetes.io/kubelet-serving
  usages:
  - digital signature
  - server auth
  username: system:node:worker-1
status:
  conditions:
  - lastTransitionTime: "2026-01-01T00:01:00Z"
    lastUpdateTime: "2026-01-01T00:01:00Z"
    message: This CSR was approved by kubectl certificate approve.
    reason: KubectlApprove
    status: "True"
    type: Approved
)";

TEST(CsrDocumentTest, DecodesYamlAsKubectlPrintsIt) {
  auto objects = DecodeCsrDocument(kKubectlYaml, "csr.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), 1u);
  const CsrObject& csr = objects->front();
  EXPECT_EQ(csr.name, "node-csr-abc");
  EXPECT_EQ(csr.resource_version, "4711");
  EXPECT_EQ(csr.creation_timestamp, "2026-01-01T00:00:00Z");
  EXPECT_EQ(csr.expiration_seconds, 86400);
  EXPECT_EQ(csr.groups, (std::vector<std::string>{"system:nodes", "system:authenticated"}));
  EXPECT_EQ(csr.request, "LS0tLS1CRUdJTg==");
  EXPECT_EQ(csr.username, "system:node:worker-1");
  EXPECT_EQ(csr.usages, (std::vector<std::string>{"digital signature", "server auth"}));
  ASSERT_EQ(csr.conditions.size(), 1u);
  EXPECT_EQ(csr.conditions[0].status, "True");
  EXPECT_EQ(csr.conditions[0].message, "This CSR was approved by kubectl certificate approve.");
  EXPECT_FALSE(csr.has_certificate);
}

TEST(CsrDocumentTest, DecodesJsonText) {
  const json object = FullObject();
  auto objects = DecodeCsrDocument("\xEF\xBB\xBF\n  " + object.dump(2), "csr.json");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), 1u);
  EXPECT_EQ(objects->front().name, "csr-alice");
  EXPECT_EQ(objects->front().request, object["spec"]["request"].get<std::string>());
}

TEST(CsrDocumentTest, DecodesListsWhoseItemsLackKind) {
  json first = FullObject();
  first.erase("kind");
  first.erase("apiVersion");
  json second = first;
  second["metadata"]["name"] = "csr-bob";
  const json list = {{"kind", "CertificateSigningRequestList"},
                     {"apiVersion", "certificates.k8s.io/v1"},
                     {"metadata", {{"resourceVersion", "99"}}},
                     {"items", {first, second}}};
  auto objects = DecodeCsrDocument(list.dump(), "<stdin>");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), 2u);
  EXPECT_EQ((*objects)[0].name, "csr-alice");
  EXPECT_EQ((*objects)[1].name, "csr-bob");

  const std::string yaml_list = R"(apiVersion: v1
kind: List
items:
- metadata: {name: one}
  spec: {request: "", signerName: example.com/a}
- metadata:
    name: two
  spec:
    request: ""
    signerName: example.com/b
metadata:
  resourceVersion: ""
)";
  auto from_yaml = DecodeCsrDocument(yaml_list, "list.yaml");
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.error().message;
  ASSERT_EQ(from_yaml->size(), 2u);
  EXPECT_EQ((*from_yaml)[1].signer_name, "example.com/b");

  auto empty = DecodeCsrDocument("apiVersion: v1\nkind: List\nitems: []\n", "empty.yaml");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->empty());
}

TEST(CsrDocumentTest, ListErrorsNameTheItem) {
  const std::string yaml = R"(kind: List
items:
- metadata: {name: good}
  spec: {request: "", signerName: example.com/a}
- metadata: {}
  spec: {request: "", signerName: example.com/a}
- metadata: {name: bad}
  spec: {request: "", signerName: example.com/a, usages: [1]}
)";
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(yaml, "l.yaml")),
            "l.yaml: items[1]: metadata.name: required field is missing");
  std::string named = yaml;
  named.replace(named.find("metadata: {}"), 12, "metadata: {name: x}");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(named, "l.yaml")),
            "l.yaml: CertificateSigningRequest \"bad\": spec.usages[0]: expected a string, found "
            "number");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("kind: List\n", "l.yaml")),
            "l.yaml: items: required field is missing");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("kind: List\nitems: {a: 1}\n", "l.yaml")),
            "l.yaml: items: expected a list, found object");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("[1, 2]", "a.json")),
            "a.json: expected a CertificateSigningRequest or a List of them, found array");
}

std::string YamlWith(const std::string& spec_lines) {
  return "metadata:\n  name: q\nspec:\n  request: \"\"\n  signerName: example.com/a\n" + spec_lines;
}

TEST(CsrDocumentTest, QuotedScalarsStayStrings) {
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  expirationSeconds: \"3600\"\n"), "q.yaml")),
            "q.yaml: CertificateSigningRequest \"q\": spec.expirationSeconds: expected an "
            "integer, found string (remove the quotes)");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  expirationSeconds: '3600'\n"), "q.yaml")),
            "q.yaml: CertificateSigningRequest \"q\": spec.expirationSeconds: expected an "
            "integer, found string (remove the quotes)");
  auto plain = DecodeCsrDocument(YamlWith("  expirationSeconds: 3600\n"), "q.yaml");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->front().expiration_seconds, 3600);

  auto quoted = DecodeCsrDocument(
      "metadata: {name: \"123\"}\nspec: {request: \"\", signerName: \"true\", username: 'null', "
      "groups: [\"false\", !!str 42]}\n",
      "q.yaml");
  ASSERT_TRUE(quoted.ok()) << quoted.error().message;
  EXPECT_EQ(quoted->front().name, "123");
  EXPECT_EQ(quoted->front().signer_name, "true");
  EXPECT_EQ(quoted->front().username, "null");
  EXPECT_EQ(quoted->front().groups, (std::vector<std::string>{"false", "42"}));
}

TEST(CsrDocumentTest, PlainScalarsFollowTheCoreSchema) {
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  username: true\n"), "q.yaml")),
            "q.yaml: CertificateSigningRequest \"q\": spec.username: expected a string, found "
            "boolean");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  username: 0x1F\n"), "q.yaml")),
            "q.yaml: CertificateSigningRequest \"q\": spec.username: expected a string, found "
            "number");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  username: 1.5e3\n"), "q.yaml")),
            "q.yaml: CertificateSigningRequest \"q\": spec.username: expected a string, found "
            "number");
  // YAML 1.1 booleans are plain strings in the core schema; null is absent.
  auto words =
      DecodeCsrDocument(YamlWith("  groups: [yes, on, NO, ~x]\n  username: ~\n"), "q.yaml");
  ASSERT_TRUE(words.ok()) << words.error().message;
  EXPECT_EQ(words->front().groups, (std::vector<std::string>{"yes", "on", "NO", "~x"}));
  EXPECT_EQ(words->front().username, "");
  auto octal = DecodeCsrDocument(YamlWith("  expirationSeconds: 0o1750\n"), "q.yaml");
  ASSERT_TRUE(octal.ok()) << octal.error().message;
  EXPECT_EQ(octal->front().expiration_seconds, 1000);
  auto negative = DecodeCsrDocument(YamlWith("  expirationSeconds: -5\n"), "q.yaml");
  ASSERT_TRUE(negative.ok()) << negative.error().message;
  EXPECT_EQ(negative->front().expiration_seconds, -5);
  auto block = DecodeCsrDocument(YamlWith("  username: |\n    multi\n    line\n"), "q.yaml");
  ASSERT_TRUE(block.ok()) << block.error().message;
  EXPECT_EQ(block->front().username, "multi\nline\n");
}

TEST(CsrDocumentTest, RefusesAmbiguousYaml) {
  const std::string two = std::string(kKubectlYaml) + "---\n" + kKubectlYaml;
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(two, "two.yaml")),
            "two.yaml: holds 2 YAML documents (separated by ---); give one object or one List of "
            "them");
  auto trailing = DecodeCsrDocument("---\n" + std::string(kKubectlYaml) + "---\n", "t.yaml");
  EXPECT_TRUE(trailing.ok()) << trailing.error().message;

  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  signerName: example.com/evil\n"), "d.yaml")),
            "d.yaml: spec.signerName (line 6): duplicate key");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  ? [a]\n  : b\n"), "k.yaml")),
            "k.yaml: spec (line 6): a map key must be a string");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(YamlWith("  username: a\xff\n"), "u.yaml")),
            "u.yaml: spec.username (line 6): not valid UTF-8");
}

TEST(CsrDocumentTest, RefusesDuplicateJsonKeys) {
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(
                R"({"metadata": {"name": "a"}, "spec": {"request": "", "signerName": "x/y",)"
                R"( "signerName": "evil/z"}})",
                "d.json")),
            "d.json: duplicate key \"signerName\" in the object under \"spec\"");
  EXPECT_EQ(
      ErrorOf(DecodeCsrDocument(R"({"kind": "List", "kind": "List", "items": []})", "d.json")),
      "d.json: duplicate key \"kind\"");
  // The same key in sibling objects is fine.
  auto siblings = DecodeCsrDocument(
      R"({"kind": "List", "items": [{"metadata": {"name": "a"}, "spec": {"request": "",)"
      R"( "signerName": "x/y"}}, {"metadata": {"name": "b"}, "spec": {"request": "",)"
      R"( "signerName": "x/y"}}]})",
      "s.json");
  EXPECT_TRUE(siblings.ok()) << siblings.error().message;
}

// nlohmann's parser callback rescanned the enclosing array after each element: this took
// minutes (quadratic; see docs/reliability.md for the measurement). It must come back with the
// document's own error, and a duplicate deep in the array must still be found.
TEST(CsrDocumentTest, AMillionEmptyObjectsInOneArrayDecodeInOnePass) {
  std::string text = "{\"kind\": \"List\", \"items\": [";
  for (int i = 0; i < 1000000; ++i) text += i == 0 ? "{}" : ",{}";
  text += "]}";
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(text, "big.json")),
            "big.json: items[0]: metadata.name: required field is missing");
  text.insert(text.size() - 2, ",{\"a\": 1, \"a\": 2}");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(text, "big.json")),
            "big.json: duplicate key \"a\" in the object under \"items\"");
}

// yaml-cpp 0.7 alone never returns from these (found by fuzz_csr_document).
TEST(CsrDocumentTest, InputsThatHangYamlCppAreRefused) {
  for (const char* text : {"\"\",", "\"\",\"\"", "\"a\", b", "'x',"}) {
    EXPECT_EQ(ErrorOf(DecodeCsrDocument(text, "h.yaml")),
              "h.yaml: not valid YAML: it never ends (a stray ',' or quote after a value?)")
        << text;
  }
}

TEST(CsrDocumentTest, ReportsSyntaxErrors) {
  const std::string yaml_error = ErrorOf(DecodeCsrDocument("metadata:\n  name: [a\n", "s.yaml"));
  EXPECT_EQ(yaml_error.rfind("s.yaml: not valid YAML: yaml-cpp: error at line", 0), 0u)
      << yaml_error;
  const std::string json_error = ErrorOf(DecodeCsrDocument("{\"metadata\": }", "s.json"));
  EXPECT_EQ(json_error.rfind("s.json: not valid JSON: ", 0), 0u) << json_error;
  EXPECT_NE(json_error.find("column 14"), std::string::npos) << json_error;
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(" \n\t", "e.yaml")), "e.yaml: the document is empty");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("# only a comment\n", "c.yaml")),
            "c.yaml: the document is empty");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("just a string", "p.yaml")),
            "p.yaml: expected a CertificateSigningRequest or a List of them, found string");
}

TEST(CsrDocumentTest, LimitsSizeAndNesting) {
  const std::string huge(kMaxDocumentBytes + 1, ' ');
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(huge, "h.yaml")),
            "h.yaml: the document is 16777217 bytes long, more than the 16777216 accepted");

  const std::string deep_json = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(deep_json, "d.json")),
            "d.json: nested more than 64 levels deep");
  // Brackets inside strings do not count.
  json object = FullObject();
  object["spec"]["username"] = std::string(200, '[');
  EXPECT_TRUE(DecodeCsrDocument(object.dump(), "s.json").ok());

  const std::string deep_yaml = "a: " + std::string(100, '[') + std::string(100, ']') + "\n";
  const std::string deep_error = ErrorOf(DecodeCsrDocument(deep_yaml, "d.yaml"));
  EXPECT_NE(deep_error.find("nested too deeply"), std::string::npos) << deep_error;

  const std::string very_deep_yaml = "a: " + std::string(5000, '[') + std::string(5000, ']');
  EXPECT_FALSE(DecodeCsrDocument(very_deep_yaml, "dd.yaml").ok());
}

TEST(CsrDocumentTest, TagsBeyondTheCoreSchemaAreInputErrors) {
  const std::string binary = ErrorOf(DecodeCsrDocument(
      "metadata: {name: a}\nspec: {signerName: x/y, request: !!binary aGVsbG8=}\n", "t.yaml"));
  EXPECT_NE(binary.find("t.yaml: spec.request (line 2): the YAML tag "
                        "\"tag:yaml.org,2002:binary\" is not allowed"),
            std::string::npos)
      << binary;
  const std::string custom =
      ErrorOf(DecodeCsrDocument("metadata: !thing {name: a}\nspec: {signerName: x/y}\n", "t.yaml"));
  EXPECT_NE(custom.find("the YAML tag \"!thing\" is not allowed"), std::string::npos) << custom;
  // The core schema's own tags are fine.
  auto core = DecodeCsrDocument(
      "metadata: !!map {name: !!str a}\nspec: {signerName: x/y, request: !!str \"\"}\n", "c.yaml");
  EXPECT_TRUE(core.ok()) << core.error().message;
}

TEST(CsrDocumentTest, AliasExpansionIsBounded) {
  std::string yaml = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string previous = "*l" + std::to_string(level - 1);
    yaml += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + previous;
    yaml += "]\n";
  }
  const std::string error = ErrorOf(DecodeCsrDocument(yaml, "bomb.yaml"));
  EXPECT_NE(error.find("more values than the document has bytes (aliases?)"), std::string::npos)
      << error;
}

TEST(CsrDocumentTest, AnAliasInsideTheValueItNamesIsRefused) {
  // yaml-cpp's parser accepts it (the anchor is defined when the alias is read); expanded, it
  // would never end.
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("metadata: &m {name: a, self: *m}\n", "c.yaml")),
            "c.yaml: metadata.self (line 1): an alias refers to the value that contains it");
  EXPECT_EQ(ErrorOf(DecodeCsrDocument("kind: List\nitems: &i\n- *i\n", "c.yaml")),
            "c.yaml: items[0] (line 3): an alias refers to the value that contains it");
}

// The conversion is driven by yaml-cpp's parser events (no node tree): a document of many
// thousands of objects, block and flow style, with legitimate aliases, decodes to every object.
TEST(CsrDocumentTest, ALargeYamlListDecodesToEveryObject) {
  constexpr int kItems = 20000;
  std::string yaml = "apiVersion: v1\nkind: List\nitems:\n";
  for (int i = 0; i < kItems; ++i) {
    const std::string name = "csr-" + std::to_string(i);
    if (i == 0) {
      yaml += "- metadata:\n    name: " + name +
              "\n  spec:\n    request: \"\"\n    signerName: example.com/a\n"
              "    usages: &u\n    - digital signature\n    - client auth\n";
    } else if (i % 2 == 0) {
      yaml += "- metadata: {name: " + name + "}\n  spec: {request: '', signerName: example.com/" +
              std::to_string(i) + ", usages: *u}\n";
    } else {
      yaml += "- metadata:\n    name: \"" + name + "\"\n  spec:\n    request: \"\"\n" +
              "    signerName: example.com/" + std::to_string(i) + "\n    usages: [server auth]\n";
    }
  }
  auto objects = DecodeCsrDocument(yaml, "big.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), static_cast<size_t>(kItems));
  for (int i : {0, 1, 2, kItems / 2 + 1, kItems - 2, kItems - 1}) {
    SCOPED_TRACE(i);
    const CsrObject& object = (*objects)[static_cast<size_t>(i)];
    EXPECT_EQ(object.name, "csr-" + std::to_string(i));
    EXPECT_EQ(object.signer_name, i == 0 ? "example.com/a" : "example.com/" + std::to_string(i));
    EXPECT_EQ(object.usages, i % 2 == 0
                                 ? (std::vector<std::string>{"digital signature", "client auth"})
                                 : (std::vector<std::string>{"server auth"}));
  }
  // A duplicate key deep in the list is still found, at its place: after the 3 header lines,
  // item 0's 8, the odd items' 6 and the even items' 2.
  yaml += "- metadata: {name: last, name: again}\n";
  const int line = 3 + 8 + kItems / 2 * 6 + (kItems / 2 - 1) * 2 + 1;
  EXPECT_EQ(ErrorOf(DecodeCsrDocument(yaml, "big.yaml")),
            "big.yaml: items[" + std::to_string(kItems) + "].metadata.name (line " +
                std::to_string(line) + "): duplicate key");
}

}  // namespace
}  // namespace kca
