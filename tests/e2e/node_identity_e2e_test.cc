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
    auto response = admin_->Post("/api/v1/nodes", {{"apiVersion", "v1"},
                                                   {"kind", "Node"},
                                                   {"metadata", {{"name", name}}}});
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 201) << response->body;
  }
  void SetHostname(const std::string& name, const std::string& hostname) {
    auto current = admin_->Get("/api/v1/nodes/" + name);
    ASSERT_TRUE(current.ok() && current->status == 200);
    nlohmann::json node = current->Json();
    node["status"]["addresses"] = {{{"type", "Hostname"}, {"address", hostname}}};
    auto response = admin_->Put("/api/v1/nodes/" + name + "/status", node);
    ASSERT_TRUE(response.ok()) << response.error().message;
    ASSERT_EQ(response->status, 200) << response->body;
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

  SetHostname("w1", "w1.example.com");
  EXPECT_EQ(WaitForDecision("w1-serving"), "Approved");
  EXPECT_EQ(WaitForDecision("w1-claims-w2"), "Denied");
}

TEST_F(NodeIdentityE2eTest, RenewalFollowsTheSubjectAccessReview) {
  StartEmulator();
  // w2 may renew its client certificate (selfnodeclient); w1 has no such grant.
  auto granted = admin_->Post(
      "/emulator/v1/bindings",
      {{"bindings",
        {{{"user", "system:node:w2"},
          {"rules",
           {{{"verbs", {"create"}},
             {"apiGroups", {"certificates.k8s.io"}},
             {"resources", {"certificatesigningrequests/selfnodeclient"}}}}}}}}});
  ASSERT_TRUE(granted.ok() && granted->status == 200) << (granted.ok() ? granted->body : "");
  auto approver = StartApprover(kKubeletPolicy);
  ASSERT_TRUE(approver);
  CreateCsr(ClientRenewal("w1-renewal", "w1"));
  CreateCsr(ClientRenewal("w2-renewal", "w2"));
  EXPECT_EQ(WaitForDecision("w2-renewal"), "Approved");
  EXPECT_EQ(WaitForDecision("w1-renewal"), "Denied");
}

}  // namespace
}  // namespace kca::e2e
