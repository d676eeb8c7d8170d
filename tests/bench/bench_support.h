// What the benchmark programs share: their flag reader, the policy that approves their CSRs, and
// the CSR they create (a P-256 client request whose subject names it).
#pragma once

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "csr_factory.h"

namespace kca::bench {

// Every bench-* client CSR passes: one rule, approve.
inline constexpr char kPolicy[] = R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
defaultAction: log
rules:
  - name: bench-clients
    selector:
      signerNames: [kubernetes.io/kube-apiserver-client]
    allowed:
      commonName: "bench-*"
      usages: [digital signature, key encipherment, client auth]
    action: approve
)";

// `--name N`'s N, or `fallback`.
inline int Flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

// The key is cached by csr_factory (generation is slow); the subject makes each request unique.
inline nlohmann::json CsrObject(const std::string& name) {
  testing::RequestSpec spec;
  spec.subject = {{"CN", name}};
  spec.key = testing::KeySpec::Ecdsa("P-256");
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"request", testing::Base64Encode(testing::MakeRequestPem(spec))},
            {"signerName", "kubernetes.io/kube-apiserver-client"},
            {"usages", {"digital signature", "key encipherment", "client auth"}}}}};
}

}  // namespace kca::bench
