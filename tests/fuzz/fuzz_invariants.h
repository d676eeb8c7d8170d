// Invariants the fuzz targets check beyond "no crash". A violated one aborts with a message, which
// libFuzzer reports as a finding with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "independent_der.h"
#include "kube_csr_approver/common/base64.h"
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

// The DER inside the one PEM block of `pem`, or empty.
inline std::string DerOfPem(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE REQUEST-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE REQUEST-----";
  const size_t begin = pem.find(kBegin);
  const size_t end = pem.find(kEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) return {};
  std::string body;
  for (char c : pem.substr(begin + kBegin.size(), end - begin - kBegin.size())) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') body += c;
  }
  auto der = DecodeBase64(body, "PEM body");
  return der.ok() ? *der : std::string();
}

// The inspector's facts agree with the independent reading of the same DER, when both accept it.
inline void CheckIndependentReading(std::string_view der, const CsrFacts& facts) {
  const auto reading = ReadIndependently(der);
  if (!reading) return;
  if (reading->subject.size() != facts.subject.size()) Violated("subject attribute count differs");
  std::vector<std::string> common_names, organizations, units;
  for (size_t i = 0; i < facts.subject.size(); ++i) {
    const auto& [oid, value] = reading->subject[i];
    if (oid != facts.subject[i].oid) Violated("a subject attribute type differs", oid);
    if (value != facts.subject[i].value) Violated("a subject value differs", value);
    if (oid == "2.5.4.3") common_names.push_back(value);
    if (oid == "2.5.4.10") organizations.push_back(value);
    if (oid == "2.5.4.11") units.push_back(value);
  }
  if (common_names != facts.common_names || organizations != facts.organizations ||
      units != facts.organizational_units) {
    Violated("CN, O or OU lists differ");
  }
  if (reading->dns_names != facts.sans.dns_names) Violated("DNS SANs differ");
  if (reading->email_addresses != facts.sans.email_addresses) Violated("email SANs differ");
  if (reading->uris != facts.sans.uris) Violated("URI SANs differ");
  if (reading->other_names != facts.sans.other.size()) Violated("other SAN counts differ");
  if (reading->ip_addresses.size() != facts.sans.ip_addresses.size()) Violated("IP SANs differ");
  for (size_t i = 0; i < reading->ip_addresses.size(); ++i) {
    const IpAddress& ip = facts.sans.ip_addresses[i];
    const std::string bytes(reinterpret_cast<const char*>(ip.bytes().data()), ip.is_v4() ? 4 : 16);
    if (bytes != reading->ip_addresses[i]) Violated("an IP SAN differs", ip.ToString());
  }
  const PublicKeyFacts& key = facts.key;
  switch (key.algorithm) {
    case KeyAlgorithm::kRsa:
      if (reading->key_oid != "1.2.840.113549.1.1.1")
        Violated("an RSA key read as", reading->key_oid);
      break;
    case KeyAlgorithm::kEcdsa: {
      if (reading->key_oid != "1.2.840.10045.2.1") Violated("an EC key read as", reading->key_oid);
      const std::string& curve = reading->curve_oid;
      const std::string_view expected = curve == "1.2.840.10045.3.1.7" ? "P-256"
                                        : curve == "1.3.132.0.34"      ? "P-384"
                                        : curve == "1.3.132.0.35"      ? "P-521"
                                                                       : "";
      if (!expected.empty() && key.curve != expected) Violated("the curve differs", key.curve);
      if (expected.empty()) return;  // a curve this reader does not know: no size to compare
      break;
    }
    case KeyAlgorithm::kEd25519:
      if (reading->key_oid != "1.3.101.112") Violated("an Ed25519 key read as", reading->key_oid);
      break;
  }
  if (reading->key_bits != key.bits) {
    Violated("the key size differs",
             std::to_string(reading->key_bits) + " vs " + std::to_string(key.bits));
  }
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
  if (const std::string der = DerOfPem(pem); !der.empty()) CheckIndependentReading(der, *facts);
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
