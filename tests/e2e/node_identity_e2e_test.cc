// Node identity against the emulator (issue 12): examples/policies/kubelet.yaml with Nodes that
// appear after their kubelet's CSR, addresses that appear after the Node, and SubjectAccessReviews
// answered from the emulator's rule table. Nothing may be denied while a fact is missing.
#include <gtest/gtest.h>

#include "e2e_fixture.h"

namespace kca::e2e {
namespace {

const std::string kKubeletPolicy = std::string(KCA_SOURCE_DIR) + "/examples/policies/kubelet.yaml";

CsrRequest Serving(const std::string& name, const std::string& node, const std::string& dns) {
  CsrRequest request;
  request.name = name;
  request.subject = {{"O", "system:nodes"}, {"CN", "system:node:" + node}};
  request.user = "system:node:" + node;
  request.groups = {"system:nodes"};
  request.signer = "kubernetes.io/kubelet-serving";
  request.usages = {"digital signature", "server auth"};
  request.dns_names = {dns};
  return request;
}

CsrRequest ClientRenewal(const std::string& name, const std::string& node) {
  CsrRequest request = Serving(name, node, "");
  request.dns_names.clear();
  request.signer = "kubernetes.io/kube-apiserver-client-kubelet";
  request.usages = {"digital signature", "client auth"};
  return request;
}

class NodeIdentityE2eTest : public E2eTest {
 protected:
  void CreateNode(const std::string& name) {
    auto response = admin_->Post(
        "/api/v1/nodes", {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}});
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 201) << response->body;
  }
  void SetHostname(const std::string& name, const std::string& hostname) {
    SetAddresses(name, {{{"type", "Hostname"}, {"address", hostname}}});
  }
  void SetAddresses(const std::string& name, const nlohmann::json& addresses) {
    auto current = admin_->Get("/api/v1/nodes/" + name);
    ASSERT_TRUE(current.ok() && current->status == 200);
    nlohmann::json node = current->Json();
    node["status"]["addresses"] = addresses;
    auto response = admin_->Put("/api/v1/nodes/" + name + "/status", node);
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 200) << response->body;
  }
  void CreateServiceCidr(const std::string& name, const std::vector<std::string>& cidrs) {
    auto response = admin_->Post("/apis/networking.k8s.io/v1/servicecidrs",
                                 {{"apiVersion", "networking.k8s.io/v1"},
                                  {"kind", "ServiceCIDR"},
                                  {"metadata", {{"name", name}}},
                                  {"spec", {{"cidrs", cidrs}}}});
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 201) << response->body;
  }
  void Grant(const std::string& user, const std::string& subresource) {
    auto granted =
        admin_->Post("/emulator/v1/bindings",
                     {{"bindings",
                       {{{"user", user},
                         {"rules",
                          {{{"verbs", {"create"}},
                            {"apiGroups", {"certificates.k8s.io"}},
                            {"resources", {"certificatesigningrequests/" + subresource}}}}}}}}});
    ASSERT_TRUE(granted.ok() && granted->status == 200) << (granted.ok() ? granted->body : "");
  }
  bool Undecided(const std::string& name) {
    return GetCsr(name)["status"].value("conditions", nlohmann::json::array()).empty();
  }
  // Waits until the approver has read Node lookups `more` more times than `before`.
  bool LooksUpNodes(int before, int more) {
    return Eventually([&] { return ApproverRequests("nodes", "get") >= before + more; });
  }
};

TEST_F(NodeIdentityE2eTest, LateNodeAndLateAddressesAreApprovedNeverDeniedMeanwhile) {
  StartEmulator();
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(Serving("w1-serving", "w1", "w1.example.com"));
  CreateCsr(Serving("w1-claims-w2", "w1", "w2.example.com"));

  // No Node yet: looked up (and retried), never decided.
  ASSERT_TRUE(LooksUpNodes(0, 4));
  EXPECT_EQ(GetCsr("w1-serving")["status"].value("conditions", nlohmann::json::array()).size(), 0u);
  EXPECT_EQ(GetCsr("w1-claims-w2")["status"].value("conditions", nlohmann::json::array()).size(),
            0u);

  // The Node without addresses (the cloud controller has not set them): still waiting.
  CreateNode("w1");
  const int seen = ApproverRequests("nodes", "get");
  ASSERT_TRUE(LooksUpNodes(seen, 4));
  EXPECT_EQ(GetCsr("w1-serving")["status"].value("conditions", nlohmann::json::array()).size(), 0u);

  // While they wait, Nodes are watched (so the Node's addresses re-queue them at once).
  EXPECT_TRUE(Eventually([&] { return ApproverRequests("nodes", "watch") > 0; }));
  SetHostname("w1", "w1.example.com");
  EXPECT_EQ(WaitForDecision("w1-serving"), "Approved");
  EXPECT_EQ(WaitForDecision("w1-claims-w2"), "Denied");
}

TEST_F(NodeIdentityE2eTest, RenewalFollowsTheSubjectAccessReview) {
  StartEmulator();
  // w2 may renew its client certificate (selfnodeclient); w1 has no such grant.
  Grant("system:node:w2", "selfnodeclient");
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(ClientRenewal("w1-renewal", "w1"));
  CreateCsr(ClientRenewal("w2-renewal", "w2"));
  EXPECT_EQ(WaitForDecision("w2-renewal"), "Approved");
  EXPECT_EQ(WaitForDecision("w1-renewal"), "Denied");
}

// reservedSANs with the server's ServiceCIDRs (networking.k8s.io/v1, upstream
// staging/src/k8s.io/api/networking/v1/types.go): an IP in a range only the server's object names
// is refused although it is the Node's own address; one outside every range is approved.
TEST_F(NodeIdentityE2eTest, AnIpInTheServersServiceCidrIsRefused) {
  StartEmulator();
  CreateServiceCidr("kubernetes", {"10.96.0.0/12"});
  CreateServiceCidr("extra", {"10.200.0.0/16", "fd00:10::/108"});
  CreateNode("w1");
  SetAddresses("w1", {{{"type", "Hostname"}, {"address", "w1.example.com"}},
                      {{"type", "InternalIP"}, {"address", "10.200.0.5"}},
                      {{"type", "InternalIP"}, {"address", "192.168.1.5"}},
                      {{"type", "InternalIP"}, {"address", "fd00:10::5"}}});
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CsrRequest in_range = Serving("w1-service-ip", "w1", "w1.example.com");
  in_range.ip_addresses = {"10.200.0.5"};
  CsrRequest in_v6_range = Serving("w1-service-ip6", "w1", "w1.example.com");
  in_v6_range.ip_addresses = {"fd00:10::5"};
  CsrRequest outside = Serving("w1-node-ip", "w1", "w1.example.com");
  outside.ip_addresses = {"192.168.1.5"};
  CreateCsr(in_range);
  CreateCsr(in_v6_range);
  CreateCsr(outside);
  EXPECT_EQ(WaitForDecision("w1-node-ip"), "Approved");
  EXPECT_EQ(WaitForDecision("w1-service-ip"), "Denied");
  EXPECT_EQ(WaitForDecision("w1-service-ip6"), "Denied");
}

// A server without the ServiceCIDR API (404, as before v1.33): the policy's serviceCIDRs still
// apply (never approved), and the missing API is no failure (everything else is decided).
TEST_F(NodeIdentityE2eTest, WithoutTheServiceCidrApiThePolicysRangesApply) {
  StartEmulator({"--without-service-cidrs"});
  CreateNode("w1");
  SetAddresses("w1", {{{"type", "Hostname"}, {"address", "w1.example.com"}},
                      {{"type", "InternalIP"}, {"address", "10.96.0.10"}},
                      {{"type", "InternalIP"}, {"address", "10.200.0.5"}}});
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CsrRequest in_policy_range = Serving("w1-policy-range", "w1", "w1.example.com");
  in_policy_range.ip_addresses = {"10.96.0.10"};
  CsrRequest elsewhere = Serving("w1-elsewhere", "w1", "w1.example.com");
  elsewhere.ip_addresses = {"10.200.0.5"};
  CreateCsr(in_policy_range);
  CreateCsr(elsewhere);
  EXPECT_EQ(WaitForDecision("w1-policy-range"), "Denied");
  EXPECT_EQ(WaitForDecision("w1-elsewhere"), "Approved");
  EXPECT_GT(ApproverRequests("servicecidrs", "list"), 0);
}

// Reviews that fail (5xx, 403, timeouts) keep a renewal pending, counted as lookup errors, and
// it is approved once reviews answer again (slowly, here). Meanwhile a node asking for another
// node's name is refused: that check fails whatever the review would say.
TEST_F(NodeIdentityE2eTest, FailingReviewsKeepRenewalsPendingUntilTheyAnswer) {
  StartEmulator();
  Grant("system:node:w2", "selfnodeclient");
  SetFaults({{"reviewErrorCode", 500}});
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(ClientRenewal("w2-renewal", "w2"));
  CreateCsr(ClientRenewal("w3-renewal", "w3"));  // w3 has no grant: allowed=false
  CsrRequest impostor = ClientRenewal("w1-as-w2", "w2");
  impostor.user = "system:node:w1";
  CreateCsr(impostor);
  EXPECT_EQ(WaitForDecision("w1-as-w2"), "Denied");

  const std::string errors = "kube_csr_approver_node_lookups_total{result=\"error\"}";
  for (int code : {500, 403, 504}) {
    SetFaults({{"reviewErrorCode", code}});
    const double before = approver->Metric(errors);
    const int reviews = ApproverRequests("subjectaccessreviews", "create");
    ASSERT_TRUE(Eventually([&] {
      return approver->Metric(errors) >= before + 2 &&
             ApproverRequests("subjectaccessreviews", "create") >= reviews + 2;
    })) << "review failures with "
        << code << " are retried and counted";
    EXPECT_TRUE(Undecided("w2-renewal")) << "never decided while reviews fail (" << code << ")";
    EXPECT_TRUE(Undecided("w3-renewal")) << "never denied while reviews fail (" << code << ")";
  }
  SetFaults({{"reviewErrorCode", 0}, {"reviewLatencyMs", 300}});
  EXPECT_EQ(WaitForDecision("w2-renewal"), "Approved");
  EXPECT_EQ(WaitForDecision("w3-renewal"), "Denied");
}

}  // namespace
}  // namespace kca::e2e
