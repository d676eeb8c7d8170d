// Behaviour of kube-apiserver-emulator over HTTPS: authentication, authorization, CSR
// validation, approval semantics, pagination, watch (RV, bookmarks, timeout, 410), faults, request
// counts, token rotation, leases, events, reviews and malformed input.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "csr_factory.h"
#include "emulator_process.h"
#include "https_client.h"

namespace kca::emulator {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string Base64(const std::string& in) { return kca::testing::Base64Encode(in); }

// A PEM CSR with subject O=<orgs>..., CN=<cn>, signed by a P-256 key.
std::string MakeCsrPem(const std::string& cn, const std::vector<std::string>& orgs = {}) {
  kca::testing::RequestSpec spec;
  for (const std::string& o : orgs) spec.subject.emplace_back("O", o);
  spec.subject.emplace_back("CN", cn);
  return kca::testing::MakeRequestPem(spec);
}

json CsrObject(const std::string& name, const std::string& pem,
               const std::string& signer = "kubernetes.io/kube-apiserver-client",
               json usages = json::array({"client auth"})) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", name}}},
          {"spec", {{"request", Base64(pem)}, {"signerName", signer}, {"usages", usages}}}};
}

const char kCsrs[] = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

class EmulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EmulatorProcess::Options options;
    options.extra_args = {"--bookmark-interval", "1", "--token-grace-seconds", "1",
                          "--history",           "50"};
    auto started = EmulatorProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.error().message;
    emulator_ = std::move(*started).release();
  }
  static void TearDownTestSuite() {
    delete emulator_;
    emulator_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(emulator_, nullptr);
    admin_ = Client("admin");
    alice_ = Client("alice");
    approver_ = Client("approver");
    auto reset = admin_->Request("POST", "/emulator/v1/reset");
    ASSERT_TRUE(reset.ok()) << reset.error().message;
    ASSERT_EQ(reset->status, 200) << reset->body;
  }

  std::unique_ptr<HttpsClient> Client(const std::string& identity) {
    auto creds = Credentials::FromDataDir(emulator_->data_dir(), identity);
    EXPECT_TRUE(creds.ok());
    return std::make_unique<HttpsClient>("127.0.0.1", emulator_->port(), *creds);
  }

  // Performs a request that must get an HTTP answer and returns it.
  static HttpResponse Must(Result<HttpResponse> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : HttpResponse{};
  }

  json CreateCsr(const std::string& name, HttpsClient* client = nullptr) {
    HttpResponse r =
        Must((client ? client : alice_.get())->Post(kCsrs, CsrObject(name, MakeCsrPem(name))));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Json();
  }

  static json ApprovedCondition(const std::string& type = "Approved") {
    return {{"type", type}, {"status", "True"}, {"reason", "Test"}, {"message", "by test"}};
  }

  static EmulatorProcess* emulator_;
  std::unique_ptr<HttpsClient> admin_, alice_, approver_;
};

EmulatorProcess* EmulatorTest::emulator_ = nullptr;

TEST_F(EmulatorTest, UnauthenticatedRequestsGetTheKubernetes401Status) {
  auto anonymous = Client("anonymous");
  HttpResponse r = Must(anonymous->Get(kCsrs));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Json(), json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"));
}

TEST_F(EmulatorTest, ForbiddenListNamesUserVerbResourceAndScope) {
  HttpResponse r = Must(alice_->Get("/api/v1/nodes"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(
      r.Json()["message"],
      "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at "
      "the cluster scope");
  EXPECT_EQ(r.Json()["reason"], "Forbidden");
  r = Must(approver_->Get("/apis/coordination.k8s.io/v1/namespaces/default/leases/x"));
  EXPECT_EQ(
      r.Json()["message"],
      "leases.coordination.k8s.io \"x\" is forbidden: User "
      "\"system:serviceaccount:kube-system:kube-csr-approver\" cannot get resource \"leases\" "
      "in API group \"coordination.k8s.io\" in the namespace \"default\"");
  r = Must(alice_->Get("/emulator/v1/state"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["message"],
            "forbidden: User \"alice\" cannot get path \"/emulator/v1/state\"");
}

TEST_F(EmulatorTest, CreateStampsTheCallerAndResetsStatus) {
  json csr = CsrObject("c1", MakeCsrPem("c1"));
  csr["spec"]["username"] = "mallory";
  csr["spec"]["groups"] = {"system:masters"};
  csr["status"] = {{"conditions", {ApprovedCondition()}}};
  HttpResponse r = Must(alice_->Post(kCsrs, csr));
  ASSERT_EQ(r.status, 201) << r.body;
  json created = r.Json();
  EXPECT_EQ(created["spec"]["username"], "alice");
  EXPECT_EQ(created["spec"]["groups"], json({"devs", "system:authenticated"}));
  EXPECT_EQ(created["status"], json::object());
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(created["metadata"]["resourceVersion"].get<std::string>().empty());
  r = Must(approver_->Post(kCsrs, CsrObject("c2", MakeCsrPem("c2"))));
  EXPECT_EQ(r.status, 403) << "the approver may not create CSRs";
}

TEST_F(EmulatorTest, CreateValidationMatchesKubeApiserver) {
  json bad = CsrObject("bad", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                       "kubernetes.io/kube-apiserver-client", {"client auth", "client auth", "x"});
  bad["spec"]["expirationSeconds"] = 10;
  HttpResponse r = Must(alice_->Post(kCsrs, bad));
  ASSERT_EQ(r.status, 422) << r.body;
  json status = r.Json();
  EXPECT_EQ(status["reason"], "Invalid");
  EXPECT_EQ(status["details"]["kind"], "CertificateSigningRequest");
  std::vector<std::string> fields;
  for (const json& c : status["details"]["causes"]) fields.push_back(c["field"]);
  EXPECT_EQ(fields, (std::vector<std::string>{"spec.request", "spec.usages[2]", "spec.usages[1]",
                                              "spec.expirationSeconds"}));
  std::string message = status["message"];
  EXPECT_EQ(message.rfind("CertificateSigningRequest.certificates.k8s.io \"bad\" is invalid: [", 0),
            0u)
      << message;
  EXPECT_NE(message.find("PEM block type must be CERTIFICATE REQUEST"), std::string::npos);
  EXPECT_NE(message.find("spec.usages[1]: Duplicate value: \"client auth\""), std::string::npos);

  r = Must(
      alice_->Post(kCsrs, CsrObject("legacy", MakeCsrPem("l"), "kubernetes.io/legacy-unknown")));
  EXPECT_EQ(r.Json()["message"],
            "CertificateSigningRequest.certificates.k8s.io \"legacy\" is invalid: spec.signerName: "
            "Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed "
            "via this API version");
  r = Must(alice_->Post(kCsrs, CsrObject("m", MakeCsrPem("m", {"system:masters"}))));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["message"],
            "certificatesigningrequests.certificates.k8s.io \"m\" is forbidden: use of "
            "kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed");
  // Only the approver's policy stops other privileged groups; the server lets them through.
  r = Must(alice_->Post(kCsrs, CsrObject("k", MakeCsrPem("k", {"kubeadm:cluster-admins"}))));
  EXPECT_EQ(r.status, 201);
  json no_name = CsrObject("", MakeCsrPem("n"));
  r = Must(alice_->Post(kCsrs, no_name));
  EXPECT_EQ(r.Json()["details"]["causes"][0]["message"],
            "Required value: name or generateName is required");
  no_name["metadata"] = {{"generateName", "csr-"}};
  r = Must(alice_->Post(kCsrs, no_name));
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.Json()["metadata"]["name"].get<std::string>().size(), 9u);
}

TEST_F(EmulatorTest, ApprovalKeepsOnlyConditionsAndFillsTimestamps) {
  json csr = CreateCsr("a1");
  csr["status"]["conditions"] = json::array({ApprovedCondition()});
  csr["spec"]["signerName"] = "example.com/other";  // ignored: spec comes from storage
  HttpResponse r = Must(approver_->Put(std::string(kCsrs) + "/a1/approval", csr));
  ASSERT_EQ(r.status, 200) << r.body;
  json approved = r.Json();
  EXPECT_EQ(approved["spec"]["signerName"], "kubernetes.io/kube-apiserver-client");
  const json& c = approved["status"]["conditions"][0];
  EXPECT_EQ(c["type"], "Approved");
  EXPECT_TRUE(c["lastUpdateTime"].is_string());
  EXPECT_TRUE(c["lastTransitionTime"].is_string());
  EXPECT_NE(approved["metadata"]["resourceVersion"], csr["metadata"]["resourceVersion"]);

  // Stale resourceVersion: 409 with the exact message.
  r = Must(approver_->Put(std::string(kCsrs) + "/a1/approval", csr));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["message"],
            "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io "
            "\"a1\": the object has been modified; please apply your changes to the latest "
            "version and try again");
  // Adding Denied next to Approved: 422.
  approved["status"]["conditions"].push_back(ApprovedCondition("Denied"));
  r = Must(approver_->Put(std::string(kCsrs) + "/a1/approval", approved));
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("Approved and Denied conditions are mutually exclusive"),
            std::string::npos);
  // Removing Approved: 422 Forbidden cause.
  approved["status"]["conditions"] = json::array();
  r = Must(approver_->Put(std::string(kCsrs) + "/a1/approval", approved));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["details"]["causes"][0]["message"],
            "Forbidden: updates may not remove a condition of type \"Approved\"");
  // Missing object: 404.
  approved["metadata"]["name"] = "nope";
  r = Must(approver_->Put(std::string(kCsrs) + "/nope/approval", approved));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json()["message"],
            "certificatesigningrequests.certificates.k8s.io \"nope\" not found");
}

// Issue 9 item 1, checked against kube-apiserver: an /approval update takes its metadata from
// the request (pkg/registry/certificates/certificates/strategy.go csrApprovalStrategy
// .PrepareForUpdate resets only spec and status; staging/src/k8s.io/apiserver/pkg/registry/rest/
// update.go BeforeUpdate keeps uid, name, creationTimestamp, generation), so a PUT without the
// stored labels removes them; a merge PATCH is applied to the stored object and keeps them
// (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go), and a resourceVersion inside it
// is a precondition (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go Update).
TEST_F(EmulatorTest, ApprovalTakesMetadataFromTheRequest) {
  const json others = {{"labels", {{"team", "a"}}},
                       {"annotations", {{"example.com/ticket", "T-1"}}},
                       {"finalizers", {"example.com/keep"}},
                       {"ownerReferences",
                        {{{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"name", "owner"},
                          {"uid", "6a4c2b1e-0000-4000-8000-000000000001"}}}}};
  auto create = [&](const std::string& name) {
    json object = CsrObject(name, MakeCsrPem(name));
    object["metadata"].update(others);
    HttpResponse r = Must(alice_->Post(kCsrs, object));
    EXPECT_EQ(r.status, 201) << r.body;
    json created = r.Json();
    for (const auto& [field, value] : others.items()) EXPECT_EQ(created["metadata"][field], value);
    return created;
  };

  // PUT with a body rebuilt from name/uid/resourceVersion only (the old approver's write).
  json put = create("m-put");
  json partial = {{"apiVersion", "certificates.k8s.io/v1"},
                  {"kind", "CertificateSigningRequest"},
                  {"metadata",
                   {{"name", "m-put"},
                    {"uid", put["metadata"]["uid"]},
                    {"resourceVersion", put["metadata"]["resourceVersion"]}}},
                  {"spec", put["spec"]},
                  {"status", {{"conditions", {ApprovedCondition()}}}}};
  HttpResponse r = Must(approver_->Put(std::string(kCsrs) + "/m-put/approval", partial));
  ASSERT_EQ(r.status, 200) << r.body;
  json stored = r.Json();
  for (const auto& [field, value] : others.items()) {
    EXPECT_FALSE(stored["metadata"].contains(field)) << field << " is removed, as upstream";
  }
  EXPECT_EQ(stored["metadata"]["uid"], put["metadata"]["uid"]);
  EXPECT_EQ(stored["metadata"]["creationTimestamp"], put["metadata"]["creationTimestamp"]);
  EXPECT_EQ(stored["status"]["conditions"][0]["type"], "Approved");

  // PUT of the whole object as last seen keeps everything; a changed uid is a 409 precondition.
  json whole = create("m-whole");
  whole["status"]["conditions"] = json::array({ApprovedCondition()});
  json other_uid = whole;
  other_uid["metadata"]["uid"] = "not-the-stored-uid";
  r = Must(approver_->Put(std::string(kCsrs) + "/m-whole/approval", other_uid));
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("Precondition failed: UID in precondition"), std::string::npos) << r.body;
  r = Must(approver_->Put(std::string(kCsrs) + "/m-whole/approval", whole));
  ASSERT_EQ(r.status, 200) << r.body;
  for (const auto& [field, value] : others.items()) EXPECT_EQ(r.Json()["metadata"][field], value);

  // Merge PATCH naming only the conditions (the approver's write) keeps the metadata; a stale
  // resourceVersion in the patch is 409.
  json patched = create("m-patch");
  const std::string path = std::string(kCsrs) + "/m-patch/approval";
  const std::vector<std::pair<std::string, std::string>> merge = {
      {"Content-Type", "application/merge-patch+json"}};
  json patch = {{"metadata",
                 {{"uid", patched["metadata"]["uid"]},
                  {"resourceVersion", patched["metadata"]["resourceVersion"]}}},
                {"status", {{"conditions", {ApprovedCondition("Denied")}}}}};
  json touched = patched;
  touched["metadata"]["labels"]["touched"] = "yes";
  ASSERT_EQ(Must(admin_->Put(std::string(kCsrs) + "/m-patch", touched)).status, 200);
  r = Must(approver_->Request("PATCH", path, patch.dump(), merge));
  EXPECT_EQ(r.status, 409) << "stale resourceVersion in the patch: " << r.body;
  EXPECT_NE(r.body.find("the object has been modified"), std::string::npos) << r.body;

  const json fresh = Must(admin_->Get(std::string(kCsrs) + "/m-patch")).Json();
  patch["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"];
  r = Must(approver_->Request("PATCH", path, patch.dump(), merge));
  ASSERT_EQ(r.status, 200) << r.body;
  stored = r.Json();
  for (const auto& [field, value] : others.items()) {
    if (field != "labels") {
      EXPECT_EQ(stored["metadata"][field], value) << field;
    }
  }
  EXPECT_EQ(stored["metadata"]["labels"], (json{{"team", "a"}, {"touched", "yes"}}));
  EXPECT_EQ(stored["status"]["conditions"][0]["type"], "Denied");
  EXPECT_EQ(stored["spec"], patched["spec"]);

  json other_uid_patch = {{"metadata", {{"uid", "not-the-stored-uid"}}}};
  r = Must(admin_->Request("PATCH", path, other_uid_patch.dump(), merge));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("metadata.uid"), std::string::npos) << r.body;
}

TEST_F(EmulatorTest, ApprovalNeedsApproveOnTheSignerOrItsWildcard) {
  json csr =
      Must(admin_->Post(kCsrs, CsrObject("s1", MakeCsrPem("s1"), "example.com/signer"))).Json();
  csr["status"]["conditions"] = json::array({ApprovedCondition()});
  HttpResponse r = Must(approver_->Put(std::string(kCsrs) + "/s1/approval", csr));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["message"],
            "certificatesigningrequests.certificates.k8s.io \"s1\" is forbidden: user not "
            "permitted to approve requests with signerName \"example.com/signer\"");
  json binding = {{"bindings",
                   {{{"user", "system:serviceaccount:kube-system:kube-csr-approver"},
                     {"rules",
                      {{{"verbs", {"approve"}},
                        {"apiGroups", {"certificates.k8s.io"}},
                        {"resources", {"signers"}},
                        {"resourceNames", {"example.com/*"}}}}}}}}};
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/bindings", binding)).status, 200);
  r = Must(approver_->Put(std::string(kCsrs) + "/s1/approval", csr));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(EmulatorTest, StatusSubresourceCannotAddApproval) {
  json csr = CreateCsr("st");
  csr["status"]["conditions"] = {ApprovedCondition(),
                                 {{"type", "Failed"}, {"status", "True"}, {"reason", "X"}}};
  HttpResponse r = Must(admin_->Put(std::string(kCsrs) + "/st/status", csr));
  ASSERT_EQ(r.status, 200) << r.body;
  json conditions = r.Json()["status"]["conditions"];
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0]["type"], "Failed");
  // The main resource cannot change status at all.
  json current = r.Json();
  current["status"]["conditions"] = json::array();
  current["metadata"]["labels"] = {{"team", "a"}};
  r = Must(admin_->Put(std::string(kCsrs) + "/st", current));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["status"]["conditions"].size(), 1u);
  EXPECT_EQ(r.Json()["metadata"]["labels"]["team"], "a");
}

TEST_F(EmulatorTest, ListPaginatesAtOneResourceVersionAndFiltersByField) {
  for (int i = 0; i < 5; ++i) CreateCsr("p" + std::to_string(i));
  Must(admin_->Post(kCsrs, CsrObject("other", MakeCsrPem("o"), "example.com/x")));
  std::vector<std::string> names;
  std::string cont;
  std::string rv;
  int pages = 0;
  do {
    std::string target =
        std::string(kCsrs) + "?limit=2" + (cont.empty() ? "" : "&continue=" + cont);
    json list = Must(alice_->Get(target)).Json();
    ASSERT_EQ(list["kind"], "CertificateSigningRequestList");
    if (rv.empty()) rv = list["metadata"]["resourceVersion"];
    EXPECT_EQ(list["metadata"]["resourceVersion"], rv);
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    cont = list["metadata"].value("continue", "");
    if (pages == 0) {
      EXPECT_EQ(list["metadata"]["remainingItemCount"], 4);
    }
    ++pages;
  } while (!cont.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"other", "p0", "p1", "p2", "p3", "p4"}));

  json filtered =
      Must(alice_->Get(std::string(kCsrs) + "?fieldSelector=spec.signerName%3Dexample.com%2Fx"))
          .Json();
  ASSERT_EQ(filtered["items"].size(), 1u);
  EXPECT_EQ(filtered["items"][0]["metadata"]["name"], "other");
  filtered = Must(alice_->Get(std::string(kCsrs) + "?fieldSelector=metadata.name!%3Dother")).Json();
  EXPECT_EQ(filtered["items"].size(), 5u);
  HttpResponse r = Must(alice_->Get(std::string(kCsrs) + "?fieldSelector=spec.username%3Dalice"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["message"], "field label not supported: spec.username");
  r = Must(alice_->Get(std::string(kCsrs) + "?limit=abc"));
  EXPECT_EQ(r.status, 400);
}

// As kube-apiserver: the list names its kind, its items do not (kubernetes/kubernetes issue 3030;
// staging/src/k8s.io/apimachinery/pkg/runtime/serializer/versioning/versioning.go encodes the GVK
// of the list only); a GET of one object names its own.
TEST_F(EmulatorTest, ListItemsCarryNoKindOrApiVersion) {
  CreateCsr("typed");
  json list = Must(alice_->Get(kCsrs)).Json();
  EXPECT_EQ(list["apiVersion"], "certificates.k8s.io/v1");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_FALSE(list["items"][0].contains("kind")) << list["items"][0].dump();
  EXPECT_FALSE(list["items"][0].contains("apiVersion"));
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "typed");
  json one = Must(alice_->Get(std::string(kCsrs) + "/typed")).Json();
  EXPECT_EQ(one["kind"], "CertificateSigningRequest");
  EXPECT_EQ(one["apiVersion"], "certificates.k8s.io/v1");

  // Sent back as listed, the item is the endpoint's type (handlers/update.go decodes with the
  // scope's kind as default): a client that approves list items is not refused.
  json item = list["items"][0];
  item["status"]["conditions"] = json::array({ApprovedCondition()});
  HttpResponse r = Must(approver_->Put(std::string(kCsrs) + "/typed/approval", item));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["kind"], "CertificateSigningRequest");
}

TEST_F(EmulatorTest, ListWithASelectorPagesOverMatchesOnly) {
  // Matches and non-matches interleave by name; pages hold only matches, carry no
  // remainingItemCount (as kube-apiserver with selectors), and the last one no continue token.
  for (const char* name : {"a1", "b1", "a2", "b2", "a3", "a4"}) {
    if (name[0] == 'a') {
      CreateCsr(name);
    } else {
      Must(admin_->Post(kCsrs, CsrObject(name, MakeCsrPem(name), "example.com/x")));
    }
  }
  const std::string selector = "fieldSelector=spec.signerName%21%3Dexample.com%2Fx";
  std::vector<std::string> names;
  std::vector<size_t> page_sizes;
  std::string cont;
  do {
    json list = Must(alice_->Get(std::string(kCsrs) + "?" + selector + "&limit=2" +
                                 (cont.empty() ? "" : "&continue=" + cont)))
                    .Json();
    EXPECT_FALSE(list["metadata"].contains("remainingItemCount"));
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    page_sizes.push_back(list["items"].size());
    cont = list["metadata"].value("continue", "");
  } while (!cont.empty() && page_sizes.size() < 10);
  EXPECT_EQ(names, (std::vector<std::string>{"a1", "a2", "a3", "a4"}));
  EXPECT_EQ(page_sizes, (std::vector<size_t>{2, 2}));
}

TEST_F(EmulatorTest, ExpiredContinueTokenIs410) {
  for (int i = 0; i < 3; ++i) CreateCsr("e" + std::to_string(i));
  json page = Must(alice_->Get(std::string(kCsrs) + "?limit=1")).Json();
  std::string cont = page["metadata"]["continue"];
  CreateCsr("e3");
  ASSERT_EQ(Must(admin_->Request("POST", "/emulator/v1/compact")).status, 200);
  HttpResponse r = Must(alice_->Get(std::string(kCsrs) + "?limit=1&continue=" + cont));
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(r.Json()["reason"], "Expired");
}

TEST_F(EmulatorTest, ServerSideTableHasTheCsrColumns) {
  CreateCsr("t1");
  HttpResponse r = Must(alice_->Request(
      "GET", kCsrs, "",
      {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}}));
  json table = r.Json();
  ASSERT_EQ(table["kind"], "Table");
  std::vector<std::string> columns;
  for (const json& c : table["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "Age", "SignerName", "Requestor",
                                               "RequestedDuration", "Condition"}));
  json cells = table["rows"][0]["cells"];
  EXPECT_EQ(cells[0], "t1");
  EXPECT_EQ(cells[2], "kubernetes.io/kube-apiserver-client");
  EXPECT_EQ(cells[3], "alice");
  EXPECT_EQ(cells[4], "<none>");
  EXPECT_EQ(cells[5], "Pending");
  EXPECT_EQ(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

// Reads watch lines until `pred` holds for one event or the deadline passes.
json NextEvent(HttpsClient& client, std::chrono::milliseconds timeout = 5s) {
  auto line = client.NextLine(timeout);
  if (!line.ok()) return {{"error", line.error().message}};
  return json::parse(*line, nullptr, false);
}

TEST_F(EmulatorTest, WatchReplaysFromResourceVersionAndSeesEveryChange) {
  CreateCsr("before");
  std::string rv = Must(alice_->Get(kCsrs)).Json()["metadata"]["resourceVersion"];
  json created = CreateCsr("w1");
  auto watcher = Client("approver");
  auto start = watcher->StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=" + rv);
  ASSERT_TRUE(start.ok());
  ASSERT_EQ(start->status, 200);
  json e = NextEvent(*watcher);
  EXPECT_EQ(e["type"], "ADDED");
  EXPECT_EQ(e["object"]["metadata"]["name"], "w1");
  created["status"]["conditions"] = json::array({ApprovedCondition()});
  ASSERT_EQ(Must(approver_->Put(std::string(kCsrs) + "/w1/approval", created)).status, 200);
  e = NextEvent(*watcher);
  EXPECT_EQ(e["type"], "MODIFIED");
  EXPECT_EQ(e["object"]["status"]["conditions"][0]["type"], "Approved");
  ASSERT_EQ(Must(admin_->Request("DELETE", std::string(kCsrs) + "/w1")).status, 200);
  e = NextEvent(*watcher);
  EXPECT_EQ(e["type"], "DELETED");
  EXPECT_EQ(e["object"]["metadata"]["name"], "w1");
  EXPECT_EQ(e["object"]["status"]["conditions"][0]["type"], "Approved") << "the last state";
}

TEST_F(EmulatorTest, WatchWithoutResourceVersionStartsWithTheCurrentState) {
  CreateCsr("x1");
  CreateCsr("x2");
  auto watcher = Client("admin");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=true&fieldSelector=metadata.name%3Dx2")
                ->status,
            200);
  json e = NextEvent(*watcher);
  EXPECT_EQ(e["type"], "ADDED");
  EXPECT_EQ(e["object"]["metadata"]["name"], "x2");
  CreateCsr("x3");  // filtered out
  auto line = watcher->NextLine(300ms);
  EXPECT_FALSE(line.ok());
}

TEST_F(EmulatorTest, BookmarksArriveAndTimeoutEndsTheStream) {
  auto watcher = Client("admin");
  std::string rv = Must(admin_->Get(kCsrs)).Json()["metadata"]["resourceVersion"];
  ASSERT_EQ(
      watcher
          ->StartWatch(std::string(kCsrs) +
                       "?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=" + rv)
          ->status,
      200);
  json e = NextEvent(*watcher, 3s);
  EXPECT_EQ(e["type"], "BOOKMARK");
  EXPECT_EQ(e["object"]["kind"], "CertificateSigningRequest");
  EXPECT_EQ(e["object"]["metadata"]["resourceVersion"], rv);
  // The stream then ends on its own (a final bookmark may come first).
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string end;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = watcher->NextLine(3s);
    if (!line.ok()) {
      end = line.error().message;
      break;
    }
  }
  EXPECT_EQ(end, "eof");
}

TEST_F(EmulatorTest, WatchFromCompactedResourceVersionGets410InTheStream) {
  std::string rv = Must(admin_->Get(kCsrs)).Json()["metadata"]["resourceVersion"];
  CreateCsr("c1");
  ASSERT_EQ(Must(admin_->Request("POST", "/emulator/v1/compact")).status, 200);
  auto watcher = Client("admin");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=" + rv)->status,
            200);
  json e = NextEvent(*watcher);
  EXPECT_EQ(e["type"], "ERROR");
  EXPECT_EQ(e["object"]["code"], 410);
  EXPECT_EQ(e["object"]["reason"], "Expired");
  EXPECT_EQ(
      e["object"]["message"].get<std::string>().rfind("too old resource version: " + rv + " (", 0),
      0u);
  EXPECT_EQ(watcher->NextLine(2s).error().message, "eof");
  // Too new: 504 before any stream.
  auto too_new = watcher->StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=999999");
  ASSERT_TRUE(too_new.ok()) << (too_new.ok() ? "" : too_new.error().message);
  EXPECT_EQ(too_new->status, 504);
  EXPECT_EQ(too_new->Json()["reason"], "Timeout");
}

TEST_F(EmulatorTest, HistoryLimitExpiresOldResourceVersions) {
  std::string rv = Must(admin_->Get(kCsrs)).Json()["metadata"]["resourceVersion"];
  json csr = CreateCsr("h");
  for (int i = 0; i < 60; ++i) {  // --history 50
    csr["metadata"]["labels"] = {{"i", std::to_string(i)}};
    csr = Must(admin_->Put(std::string(kCsrs) + "/h", csr)).Json();
  }
  auto watcher = Client("admin");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1&resourceVersion=" + rv)->status,
            200);
  EXPECT_EQ(NextEvent(*watcher)["object"]["code"], 410);
}

TEST_F(EmulatorTest, FaultDropWatchAfterEvents) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"dropWatchAfterEvents", 2}})).status, 200);
  CreateCsr("d1");
  CreateCsr("d2");
  CreateCsr("d3");
  auto watcher = Client("admin");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1")->status, 200);
  EXPECT_EQ(NextEvent(*watcher)["type"], "ADDED");
  EXPECT_EQ(NextEvent(*watcher)["type"], "ADDED");
  auto line = watcher->NextLine(3s);
  ASSERT_FALSE(line.ok());
  EXPECT_NE(line.error().message, "timeout");
}

TEST_F(EmulatorTest, FaultDropWatchAfterSeconds) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"dropWatchAfterSeconds", 0.3}})).status,
            200);
  auto watcher = Client("admin");
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1")->status, 200);
  auto line = watcher->NextLine(5s);
  ASSERT_FALSE(line.ok());
  EXPECT_NE(line.error().message, "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

TEST_F(EmulatorTest, FaultExpireNextWatches) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"expireNextWatches", 1}})).status, 200);
  auto watcher = Client("admin");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1")->status, 200);
  EXPECT_EQ(NextEvent(*watcher)["object"]["code"], 410);
  CreateCsr("after");
  ASSERT_EQ(watcher->StartWatch(std::string(kCsrs) + "?watch=1")->status, 200);
  EXPECT_EQ(NextEvent(*watcher)["type"], "ADDED") << "only the next watch expires";
}

TEST_F(EmulatorTest, FaultConflictNextApprovals) {
  json csr = CreateCsr("cf");
  csr["status"]["conditions"] = json::array({ApprovedCondition()});
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"conflictNextApprovals", 2}})).status, 200);
  EXPECT_EQ(Must(approver_->Put(std::string(kCsrs) + "/cf/approval", csr)).status, 409);
  EXPECT_EQ(Must(approver_->Put(std::string(kCsrs) + "/cf/approval", csr)).status, 409);
  EXPECT_EQ(Must(approver_->Put(std::string(kCsrs) + "/cf/approval", csr)).status, 200);
}

TEST_F(EmulatorTest, FaultThrottleWithRetryAfter) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults",
                              {{"throttleNextRequests", 1}, {"retryAfterSeconds", 7}}))
                .status,
            200);
  HttpResponse r = Must(approver_->Get(kCsrs));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("Retry-After"), "7");
  EXPECT_EQ(r.Json()["details"]["retryAfterSeconds"], 7);
  EXPECT_EQ(Must(approver_->Get(kCsrs)).status, 200);
}

TEST_F(EmulatorTest, FaultErrorFractionIsDeterministic) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"errorFraction", 0.5}, {"errorCode", 503}}))
                .status,
            200);
  int failures = 0;
  for (int i = 0; i < 10; ++i) {
    HttpResponse r = Must(approver_->Get(kCsrs));
    if (r.status == 503) {
      ++failures;
    } else {
      EXPECT_EQ(r.status, 200);
    }
  }
  EXPECT_EQ(failures, 5);
  ASSERT_EQ(
      Must(admin_->Post("/emulator/v1/faults", {{"errorFraction", 1}, {"errorCode", 500}})).status,
      200);
  HttpResponse r = Must(approver_->Get(kCsrs));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["reason"], "InternalError");
  EXPECT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"errorCode", 404}})).status, 400);
}

TEST_F(EmulatorTest, FaultLatency) {
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"latencyMs", 200}})).status, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Must(approver_->Get(kCsrs)).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST_F(EmulatorTest, FaultRefuseConnections) {
  auto probe = Client("approver");
  ASSERT_EQ(Must(probe->Get(kCsrs)).status, 200);
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"refuseConnectionsSeconds", 1}})).status,
            200);
  // The kept-alive connection is cut and new ones are refused...
  auto refused = probe->Request("GET", kCsrs, "", {}, 2s);
  EXPECT_FALSE(refused.ok());
  // ...until the outage ends.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool back = false;
  while (!back && std::chrono::steady_clock::now() < deadline) {
    auto r = probe->Request("GET", kCsrs, "", {}, 1s);
    back = r.ok() && r->status == 200;
    if (!back) std::this_thread::sleep_for(50ms);  // polling a listener that is down
  }
  EXPECT_TRUE(back);
}

TEST_F(EmulatorTest, RequestCountsPerIdentityAndVerb) {
  json csr = CreateCsr("rc");
  Must(approver_->Get(kCsrs));
  Must(approver_->Get(std::string(kCsrs) + "/rc"));
  csr["status"]["conditions"] = json::array({ApprovedCondition()});
  Must(approver_->Put(std::string(kCsrs) + "/rc/approval", csr));
  json counts = Must(admin_->Get("/emulator/v1/requests")).Json()["users"];
  json approver = counts["system:serviceaccount:kube-system:kube-csr-approver"];
  EXPECT_EQ(approver["verbs"]["list"], 1);
  EXPECT_EQ(approver["verbs"]["get"], 1);
  EXPECT_EQ(approver["verbs"]["update"], 1);
  EXPECT_EQ(approver["resources"]["certificatesigningrequests/approval"]["update"], 1);
  EXPECT_EQ(approver["total"], 3);
  EXPECT_EQ(counts["alice"]["verbs"]["create"], 1);
}

TEST_F(EmulatorTest, TokenRotationKeepsTheOldTokenForTheGracePeriod) {
  auto old_client = Client("approver");
  ASSERT_EQ(Must(old_client->Get(kCsrs)).status, 200);
  HttpResponse r = Must(admin_->Request("POST", "/emulator/v1/tokens/rotate"));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string fresh = r.Json()["token"];
  std::ifstream in(emulator_->data_dir() + "/serviceaccount/token");
  std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(on_disk, fresh);
  auto new_client = Client("approver");
  EXPECT_EQ(Must(new_client->Get(kCsrs)).status, 200);
  EXPECT_EQ(Must(old_client->Get(kCsrs)).status, 200) << "within the grace period";
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = Must(old_client->Get(kCsrs)).status;
    if (status == 200) std::this_thread::sleep_for(50ms);  // grace is wall-clock in the server
  }
  EXPECT_EQ(status, 401);
  EXPECT_EQ(Must(new_client->Get(kCsrs)).status, 200);
}

TEST_F(EmulatorTest, TokenFileIsReReadWhenItChanges) {
  Credentials creds = *Credentials::FromDataDir(emulator_->data_dir(), "anonymous");
  creds.token = "bob-token-1";
  HttpsClient bob("127.0.0.1", emulator_->port(), creds);
  EXPECT_EQ(Must(bob.Get(kCsrs)).status, 401);
  {
    std::ofstream out(emulator_->data_dir() + "/tokens.csv", std::ios::app);
    out << "bob-token-1,bob,uid-bob,\"devs,testers\"\n";
  }
  HttpResponse r = Must(bob.Get(kCsrs));
  EXPECT_EQ(r.status, 403) << "authenticated now, but bob has no rules";
  EXPECT_NE(r.Json()["message"].get<std::string>().find("User \"bob\" cannot list"),
            std::string::npos);
  json who =
      Must(bob.Post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}}))
          .Json();
  EXPECT_EQ(who["status"]["userInfo"]["groups"], json({"devs", "testers", "system:authenticated"}));
}

TEST_F(EmulatorTest, LeasesUseOptimisticConcurrency) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "kube-csr-approver"}}},
                {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}}}};
  HttpResponse r = Must(approver_->Post(leases, lease));
  ASSERT_EQ(r.status, 201) << r.body;
  json stored = r.Json();
  EXPECT_EQ(stored["metadata"]["namespace"], "kube-system");
  EXPECT_EQ(Must(approver_->Post(leases, lease)).status, 409);
  stored["spec"]["holderIdentity"] = "b";
  json renewed = Must(approver_->Put(leases + "/kube-csr-approver", stored)).Json();
  EXPECT_EQ(renewed["spec"]["holderIdentity"], "b");
  stored["spec"]["holderIdentity"] = "c";  // stale resourceVersion
  r = Must(approver_->Put(leases + "/kube-csr-approver", stored));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["message"],
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"kube-csr-approver\": "
            "the object has been modified; please apply your changes to the latest version and "
            "try again");
  renewed["spec"]["leaseDurationSeconds"] = 0;
  r = Must(approver_->Put(leases + "/kube-csr-approver", renewed));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"],
            "Lease.coordination.k8s.io \"kube-csr-approver\" is invalid: "
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0");
}

// The audit log names the Lease holder in force at each write (tests/soak proves with it that only
// the leader of the moment wrote approvals).
TEST_F(EmulatorTest, AuditLogRecordsWritesWithTheLeaseHolderOfTheMoment) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "kube-csr-approver"}}},
                {"spec",
                 {{"holderIdentity", "replica-a"},
                  {"leaseDurationSeconds", 15},
                  {"renewTime", "2026-01-01T00:00:00.000000Z"}}}};
  json csr = CreateCsr("au1");
  CreateCsr("au2");
  HttpResponse created = Must(approver_->Post(leases, lease));
  ASSERT_EQ(created.status, 201) << created.body;
  csr["status"]["conditions"] = json::array({ApprovedCondition()});
  ASSERT_EQ(Must(approver_->Put(std::string(kCsrs) + "/au1/approval", csr)).status, 200);
  json taken = created.Json();
  taken["spec"]["holderIdentity"] = "replica-b";
  ASSERT_EQ(Must(admin_->Put(leases + "/kube-csr-approver", taken)).status, 200);
  EXPECT_EQ(Must(alice_->Put(std::string(kCsrs) + "/au2/approval", csr)).status, 403);
  Must(alice_->Get(kCsrs));  // reads are not audited

  json entries = Must(admin_->Get("/emulator/v1/audit")).Json()["entries"];
  ASSERT_EQ(entries.size(), 6u) << entries.dump(1);
  EXPECT_EQ(entries[0]["user"], "alice");
  EXPECT_EQ(entries[0]["verb"], "create");
  EXPECT_EQ(entries[0]["code"], 201);
  EXPECT_EQ(entries[0]["leases"], json::array()) << "no Lease yet";
  const json& approval = entries[3];
  EXPECT_EQ(approval["user"], "system:serviceaccount:kube-system:kube-csr-approver");
  EXPECT_EQ(approval["verb"], "update");
  EXPECT_EQ(approval["path"], std::string(kCsrs) + "/au1/approval");
  EXPECT_EQ(approval["code"], 200);
  EXPECT_FALSE(approval["resourceVersion"].get<std::string>().empty());
  EXPECT_FALSE(approval["time"].get<std::string>().empty());
  ASSERT_EQ(approval["leases"].size(), 1u);
  EXPECT_EQ(approval["leases"][0]["name"], "kube-csr-approver");
  EXPECT_EQ(approval["leases"][0]["namespace"], "kube-system");
  EXPECT_EQ(approval["leases"][0]["holderIdentity"], "replica-a");
  EXPECT_EQ(approval["leases"][0]["renewTime"], "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(approval["leases"][0]["leaseDurationSeconds"], 15);
  EXPECT_EQ(approval["leases"][0]["writtenBy"],
            "system:serviceaccount:kube-system:kube-csr-approver");
  EXPECT_EQ(entries[4]["user"], "kubernetes-admin");
  const json& refused = entries[5];
  EXPECT_EQ(refused["user"], "alice");
  EXPECT_EQ(refused["code"], 403);
  EXPECT_EQ(refused["resourceVersion"], "");
  ASSERT_EQ(refused["leases"].size(), 1u);
  EXPECT_EQ(refused["leases"][0]["holderIdentity"], "replica-b");
  EXPECT_EQ(refused["leases"][0]["writtenBy"], "kubernetes-admin");

  ASSERT_EQ(Must(admin_->Request("DELETE", "/emulator/v1/audit")).status, 200);
  EXPECT_EQ(Must(admin_->Get("/emulator/v1/audit")).Json()["entries"], json::array());
  EXPECT_EQ(Must(alice_->Get("/emulator/v1/audit")).status, 403);
}

TEST_F(EmulatorTest, EventsInBothApisAndReviews) {
  json event = {{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "csr1.17a"}}},
                {"regarding", {{"kind", "CertificateSigningRequest"}, {"name", "csr1"}}},
                {"reason", "Approved"},
                {"type", "Normal"}};
  // events.k8s.io/v1 validation: eventTime, reportingController, reportingInstance, action.
  HttpResponse invalid =
      Must(approver_->Post("/apis/events.k8s.io/v1/namespaces/default/events", event));
  ASSERT_EQ(invalid.status, 422) << invalid.body;
  EXPECT_EQ(invalid.Json()["message"],
            "Event.events.k8s.io \"csr1.17a\" is invalid: eventTime: Required value");
  event["eventTime"] = "2026-01-01T00:00:00.000000Z";
  invalid = Must(approver_->Post("/apis/events.k8s.io/v1/namespaces/default/events", event));
  ASSERT_EQ(invalid.status, 422) << invalid.body;
  std::vector<std::string> fields;
  json invalid_status = invalid.Json();
  for (const json& c : invalid_status["details"]["causes"]) fields.push_back(c["field"]);
  EXPECT_EQ(fields, (std::vector<std::string>{"reportingController", "reportingController",
                                              "reportingInstance", "action"}));
  event["reportingController"] = "example.com/kube-csr-approver";
  event["reportingInstance"] = "pod-1";
  event["action"] = "Approve";
  EXPECT_EQ(Must(approver_->Post("/apis/events.k8s.io/v1/namespaces/other/events", event)).status,
            422)
      << "a cluster-scoped object's events live in default or kube-system";
  EXPECT_EQ(Must(approver_->Post("/apis/events.k8s.io/v1/namespaces/default/events", event)).status,
            201);
  json core = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", "csr1.17b"}}},
               {"involvedObject", {{"kind", "CertificateSigningRequest"}, {"name", "csr1"}}},
               {"reason", "Approved"}};
  EXPECT_EQ(Must(approver_->Post("/api/v1/namespaces/default/events", core)).status, 201);
  // One store behind both APIs, as in kube-apiserver.
  json list = Must(admin_->Get("/api/v1/namespaces/default/events")).Json();
  EXPECT_EQ(list["kind"], "EventList");
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["involvedObject"]["name"], "csr1");
  json as_events =
      Must(admin_->Get("/apis/events.k8s.io/v1/events?fieldSelector=regarding.name%3Dcsr1")).Json();
  ASSERT_EQ(as_events["items"].size(), 2u);
  EXPECT_EQ(as_events["apiVersion"], "events.k8s.io/v1");
  EXPECT_FALSE(as_events["items"][1].contains("involvedObject"));  // converted, not the core shape
  EXPECT_EQ(as_events["items"][1]["regarding"]["name"], "csr1");
  json by_reason = Must(admin_->Get("/api/v1/"
                                    "events?fieldSelector=involvedObject.kind%"
                                    "3DCertificateSigningRequest,reason%3DApproved"))
                       .Json();
  EXPECT_EQ(by_reason["items"].size(), 2u);
  EXPECT_EQ(Must(admin_->Get("/api/v1/events?fieldSelector=spec.x%3Dy")).status, 400);

  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", "node-1"}}},
               {"status", {{"addresses", {{{"type", "InternalIP"}, {"address", "10.0.0.1"}}}}}}};
  EXPECT_EQ(Must(admin_->Post("/api/v1/nodes", node)).status, 201);
  EXPECT_EQ(
      Must(approver_->Get("/api/v1/nodes/node-1")).Json()["status"]["addresses"][0]["address"],
      "10.0.0.1");

  json sar = {{"apiVersion", "authorization.k8s.io/v1"},
              {"kind", "SubjectAccessReview"},
              {"spec",
               {{"user", "system:node:node-1"},
                {"groups", {"system:nodes"}},
                {"resourceAttributes",
                 {{"group", "certificates.k8s.io"},
                  {"resource", "certificatesigningrequests"},
                  {"subresource", "selfnodeclient"},
                  {"verb", "create"}}}}}};

  HttpResponse r = Must(approver_->Post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["status"]["allowed"], false);
  json binding = {{"bindings",
                   {{{"group", "system:nodes"},
                     {"rules",
                      {{{"verbs", {"create"}},
                        {"apiGroups", {"certificates.k8s.io"}},
                        {"resources", {"certificatesigningrequests/selfnodeclient"}}}}}}}}};
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/bindings", binding)).status, 200);
  r = Must(approver_->Post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar));
  EXPECT_EQ(r.Json()["status"]["allowed"], true);
}

json ServiceCidr(const std::string& name, json cidrs) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "ServiceCIDR"},
          {"metadata", {{"name", name}}},
          {"spec", {{"cidrs", std::move(cidrs)}}}};
}

const char kServiceCidrs[] = "/apis/networking.k8s.io/v1/servicecidrs";

// networking.k8s.io/v1 ServiceCIDR: staging/src/k8s.io/api/networking/v1/types.go (cluster-scoped,
// spec.cidrs), pkg/apis/networking/validation/validation.go (ValidateServiceCIDR,
// ValidateServiceCIDRUpdate).
TEST_F(EmulatorTest, ServiceCidrsAreServedAndValidated) {
  EXPECT_EQ(Must(admin_->Get("/version")).Json()["gitVersion"], "v1.33.0");
  json resources = Must(admin_->Get("/apis/networking.k8s.io/v1")).Json()["resources"];
  ASSERT_FALSE(resources.empty());
  EXPECT_EQ(resources[0]["name"], "servicecidrs");
  EXPECT_EQ(resources[0]["namespaced"], false);

  HttpResponse r = Must(admin_->Post(kServiceCidrs, ServiceCidr("kubernetes", {"10.96.0.0/12"})));
  ASSERT_EQ(r.status, 201) << r.body;
  r = Must(admin_->Post(kServiceCidrs, ServiceCidr("extra", {"10.200.0.0/16", "fd00:10::/108"})));
  ASSERT_EQ(r.status, 201) << r.body;
  json list = Must(approver_->Get(kServiceCidrs)).Json();
  EXPECT_EQ(list["kind"], "ServiceCIDRList");
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["spec"]["cidrs"], json({"10.200.0.0/16", "fd00:10::/108"}));
  EXPECT_EQ(Must(alice_->Get(kServiceCidrs)).status, 403);

  auto invalid = [&](const std::string& name, json cidrs) {
    HttpResponse answer = Must(admin_->Post(kServiceCidrs, ServiceCidr(name, std::move(cidrs))));
    EXPECT_EQ(answer.status, 422) << answer.body;
    return answer.Json().value("message", std::string());
  };
  EXPECT_EQ(invalid("none", json::array()),
            "ServiceCIDR.networking.k8s.io \"none\" is invalid: spec.cidrs: Required value: at "
            "least one CIDR required");
  EXPECT_NE(
      invalid("host-bits", {"10.96.0.1/12"}).find("must be in canonical form (\"10.96.0.0/12\")"),
      std::string::npos);
  EXPECT_NE(invalid("not-cidr", {"10.96.0.0"}).find("must be a valid CIDR value"),
            std::string::npos);
  EXPECT_NE(
      invalid("same-family", {"10.0.0.0/16", "10.1.0.0/16"}).find("one IP for each IP family"),
      std::string::npos);
  EXPECT_NE(invalid("three", {"10.0.0.0/16", "fd00::/64", "10.1.0.0/16"}).find("up to 2 values"),
            std::string::npos);

  json stored = Must(admin_->Get(std::string(kServiceCidrs) + "/kubernetes")).Json();
  stored["spec"]["cidrs"] = {"10.0.0.0/8"};
  r = Must(admin_->Put(std::string(kServiceCidrs) + "/kubernetes", stored));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("field is immutable"), std::string::npos) << r.body;
}

TEST(EmulatorWithoutServiceCidrsTest, IsAVersion132ServerWithoutTheApi) {
  EmulatorProcess::Options options;
  options.extra_args = {"--without-service-cidrs"};
  auto started = EmulatorProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto creds = Credentials::FromDataDir((*started)->data_dir(), "approver");
  ASSERT_TRUE(creds.ok());
  HttpsClient approver("127.0.0.1", (*started)->port(), *creds);
  auto list = approver.Get(kServiceCidrs);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->status, 404) << list->body;
  auto version = approver.Get("/version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->Json()["gitVersion"], "v1.32.0");
  auto groups = approver.Get("/apis");
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(groups->body.find("networking.k8s.io"), std::string::npos) << groups->body;
}

// Review faults touch POST subjectaccessreviews only: Nodes and CSRs answer meanwhile.
TEST_F(EmulatorTest, FaultReviewErrorsAreIndependentOfOtherEndpoints) {
  const json sar = {{"apiVersion", "authorization.k8s.io/v1"},
                    {"kind", "SubjectAccessReview"},
                    {"spec",
                     {{"user", "system:node:n1"},
                      {"resourceAttributes", {{"resource", "nodes"}, {"verb", "get"}}}}}};
  const std::string reviews = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
  for (int code : {403, 500, 503, 504}) {
    ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"reviewErrorCode", code}})).status, 200);
    HttpResponse r = Must(approver_->Post(reviews, sar));
    EXPECT_EQ(r.status, code) << r.body;
    EXPECT_EQ(r.Json()["kind"], "Status");
    if (code == 403) {
      EXPECT_NE(r.Json()
                    .value("message", "")
                    .find("\"system:serviceaccount:kube-system:kube-csr-approver\" cannot create "
                          "resource \"subjectaccessreviews\""),
                std::string::npos)
          << r.body;
    }
    EXPECT_EQ(Must(approver_->Get("/api/v1/nodes")).status, 200);
    EXPECT_EQ(Must(approver_->Get(kCsrs)).status, 200);
  }
  EXPECT_EQ(Must(admin_->Post("/emulator/v1/faults", {{"reviewErrorCode", 404}})).status, 400);
  // A window: failing for 0.3 s from now, then answered.
  ASSERT_EQ(Must(admin_->Post("/emulator/v1/faults",
                              {{"reviewErrorCode", 503}, {"reviewErrorSeconds", 0.3}}))
                .status,
            200);
  EXPECT_EQ(Must(approver_->Post(reviews, sar)).status, 503);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = Must(approver_->Post(reviews, sar)).status;
    if (status == 201) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 201);
  ASSERT_EQ(Must(admin_->Request("DELETE", "/emulator/v1/faults")).status, 200);
  EXPECT_EQ(Must(approver_->Post(reviews, sar)).status, 201);
}

TEST_F(EmulatorTest, MalformedRequestsGetStatusErrors) {
  HttpResponse r = Must(alice_->Request("POST", kCsrs, "{not json"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["kind"], "Status");
  // No kind: the endpoint's (handlers/create.go decodes with the scope's kind as default), so
  // the object is then invalid, not unrecognized.
  r = Must(alice_->Request("POST", kCsrs, R"({"apiVersion":"certificates.k8s.io/v1"})"));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.Json()["reason"], "Invalid");
  r = Must(alice_->Request(
      "POST", kCsrs,
      R"({"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"usages":"client auth"}})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("cannot unmarshal string"), std::string::npos) << r.body;
  r = Must(alice_->Request(
      "POST", kCsrs,
      R"({"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"request":"!!!"}})"));
  EXPECT_EQ(r.status, 400);
  r = Must(admin_->Get("/apis/certificates.k8s.io/v1/nothing"));
  EXPECT_EQ(r.status, 404);
  r = Must(alice_->Get("/apis/certificates.k8s.io/v1/nothing"));
  EXPECT_EQ(r.status, 403) << "authorization comes before routing, as in kube-apiserver";
  r = Must(admin_->Get("/no/such/path"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json()["message"], "the server could not find the requested resource");
  r = Must(alice_->Request("POST", kCsrs, std::string(4 * 1024 * 1024, 'a')));
  EXPECT_EQ(r.status, 413);
  r = Must(alice_->Request("POST", kCsrs, std::string(200000, '[') + std::string(200000, ']')));
  EXPECT_EQ(r.status, 400) << "deep nesting is refused before it can exhaust the stack";
  r = Must(alice_->Get(std::string(kCsrs) + "?resourceVersion=99999999"));
  EXPECT_EQ(r.status, 504);
  // The server is still serving.
  EXPECT_EQ(Must(admin_->Get("/version")).status, 200);
}

TEST(EmulatorProcessTest, ExitsZeroOnSigterm) {
  auto started = EmulatorProcess::Start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto status = (*started)->Stop();
  ASSERT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  EXPECT_EQ(*status, 0);
}

}  // namespace
}  // namespace kca::emulator
