// Invariants the fuzz targets check beyond "no crash". A violated one aborts with a message, which
// libFuzzer reports as a finding with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kube_csr_approver/csr/csr_inspector.h"

namespace kca::fuzz {

[[noreturn]] inline void Violated(const char* invariant, std::string_view detail = "") {
  std::fprintf(stderr, "fuzz invariant violated: %s %.*s\n", invariant,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline bool SameFacts(const CsrFacts& a, const CsrFacts& b) {
  if (a.subject.size() != b.subject.size()) return false;
  for (size_t i = 0; i < a.subject.size(); ++i) {
    if (a.subject[i].type != b.subject[i].type || a.subject[i].oid != b.subject[i].oid ||
        a.subject[i].value != b.subject[i].value) {
      return false;
    }
  }
  if (a.sans.ip_addresses.size() != b.sans.ip_addresses.size()) return false;
  for (size_t i = 0; i < a.sans.ip_addresses.size(); ++i) {
    if (a.sans.ip_addresses[i].ToString() != b.sans.ip_addresses[i].ToString()) return false;
  }
  return a.common_names == b.common_names && a.organizations == b.organizations &&
         a.organizational_units == b.organizational_units && a.sans.dns_names == b.sans.dns_names &&
         a.sans.email_addresses == b.sans.email_addresses && a.sans.uris == b.sans.uris &&
         a.sans.other == b.sans.other &&
         a.extensions.has_basic_constraints == b.extensions.has_basic_constraints &&
         a.extensions.basic_constraints_ca == b.extensions.basic_constraints_ca &&
         a.extensions.key_usages == b.extensions.key_usages &&
         a.extensions.extended_key_usages == b.extensions.extended_key_usages &&
         a.key.algorithm == b.key.algorithm && a.key.bits == b.key.bits &&
         a.key.curve == b.key.curve && a.signature_algorithm == b.signature_algorithm;
}

// `facts` came from `pem`: inspecting it again, directly or as the base64 the API carries, must
// give the same verdict and the same facts; a refusal always says why.
inline void CheckReinspection(std::string_view pem, const Result<CsrFacts>& facts,
                              std::string_view base64) {
  if (!facts.ok()) {
    if (facts.error().message.empty()) Violated("a refusal without a reason");
    return;
  }
  const Result<CsrFacts> again = InspectPemRequest(pem);
  if (!again.ok() || !SameFacts(*facts, *again)) Violated("re-inspection differs");
  if (!base64.empty()) {
    const Result<CsrFacts> encoded = InspectEncodedRequest(base64);
    if (!encoded.ok()) Violated("accepted as PEM, refused as base64", encoded.error().message);
    if (!SameFacts(*facts, *encoded)) Violated("base64 inspection differs");
  }
  for (const auto& attribute : facts->subject) {
    if (attribute.value.find('\0') != std::string::npos || attribute.type.empty()) {
      Violated("a subject value with NUL or without type");
    }
  }
}

}  // namespace kca::fuzz

namespace kca::fuzz {

// Approves anything a policy can allow, so that only the inspector and the fixed checks stand
// between a fuzzed CSR and an approval.
inline constexpr std::string_view kPermissivePolicy = R"(apiVersion: csr.approver.io/v1
kind: ApprovalPolicy
rules:
  - name: everything
    allowed:
      commonName: "*"
      organizations: ["*", system:masters, "kubeadm:cluster-admins"]
      organizationalUnits: ["*"]
      dnsNames: ["*", {regex: ".*"}]
      ipAddresses: ["*"]
      emailAddresses: ["*"]
      uris: ["*"]
      usages: [signing, digital signature, content commitment, key encipherment, key agreement,
               data encipherment, cert sign, crl sign, encipher only, decipher only, any,
               server auth, client auth, code signing, email protection, s/mime,
               ipsec end system, ipsec tunnel, ipsec user, timestamping, ocsp signing,
               microsoft sgc, netscape sgc]
      isCA: true
    constraints: {minRSABits: 1024}
    action: approve
)";

}  // namespace kca::fuzz
