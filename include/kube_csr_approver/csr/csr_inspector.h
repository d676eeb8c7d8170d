// CsrInspector: turns spec.request (a PKCS#10 request) into plain facts, or a precise refusal.
// Pure: no I/O, no global state; every function here is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube_csr_approver/common/ip_address.h"
#include "kube_csr_approver/common/result.h"

namespace kca {

// One attribute of the request's subject, in the order it appears in the DER.
struct SubjectAttribute {
  // "CN", "O", "OU", "C", "ST", "L", "serialNumber", "emailAddress", ... or the dotted OID when
  // OpenSSL has no short name for it.
  std::string type;
  std::string oid;    // dotted form, e.g. "2.5.4.3"
  std::string value;  // UTF-8, validated: no NUL, no invalid sequence
};

struct SubjectAlternativeNames {
  std::vector<std::string> dns_names;   // as requested (lowercasing is the evaluator's job)
  std::vector<IpAddress> ip_addresses;  // IPv4-mapped IPv6 already unmapped
  std::vector<std::string> email_addresses;
  std::vector<std::string> uris;
  // Every other GeneralName type, described for humans: "otherName 1.3.6.1.4.1.311.20.2.3",
  // "directoryName", "registeredID 1.2.3", "x400Address", "ediPartyName".
  std::vector<std::string> other;

  bool empty() const {
    return dns_names.empty() && ip_addresses.empty() && email_addresses.empty() && uris.empty() &&
           other.empty();
  }
};

// Extensions the request asks for. Only basicConstraints influences decisions; the rest is
// reported so that humans see what was asked (the signer decides from spec.usages).
struct RequestedExtensions {
  bool has_basic_constraints = false;
  bool basic_constraints_ca = false;
  std::vector<std::string> key_usages;           // OpenSSL long names, e.g. "Digital Signature"
  std::vector<std::string> extended_key_usages;  // e.g. "TLS Web Client Authentication"
};

enum class KeyAlgorithm { kRsa, kEcdsa, kEd25519 };

// "RSA", "ECDSA", "Ed25519": the spellings of the policy's constraints.keyAlgorithms.
std::string_view KeyAlgorithmName(KeyAlgorithm algorithm);

struct PublicKeyFacts {
  KeyAlgorithm algorithm = KeyAlgorithm::kRsa;
  int bits = 0;       // modulus size for RSA, field size for ECDSA, 256 for Ed25519
  std::string curve;  // ECDSA only: "P-256", "P-384", "P-521" or the OpenSSL group name
};

struct CsrFacts {
  std::vector<SubjectAttribute> subject;  // every attribute, in order

  // Views of `subject` the policy checks use, in order of appearance.
  std::vector<std::string> common_names;
  std::vector<std::string> organizations;
  std::vector<std::string> organizational_units;

  SubjectAlternativeNames sans;
  RequestedExtensions extensions;
  PublicKeyFacts key;
  // OpenSSL long name, e.g. "sha256WithRSAEncryption"; "RSASSA-PSS over SHA-256" (MGF1 over the
  // same hash, a salt as long as the hash) for RSASSA-PSS.
  std::string signature_algorithm;
};

// For logs and reports: "CN=alice, O=devs" (the subject in request order, "(empty)" when it has
// no attribute) and "RSA 2048 bits", "ECDSA P-256", "Ed25519".
std::string SubjectToString(const CsrFacts& facts);
std::string KeyToString(const PublicKeyFacts& key);

// The largest spec.request accepted, in bytes of base64 or PEM text.
inline constexpr size_t kMaxRequestBytes = 64 * 1024;

// spec.request as the API carries it in JSON: base64 (standard alphabet, padded; whitespace
// tolerated) of the PEM text. Decodes, then behaves as InspectPemRequest.
Result<CsrFacts> InspectEncodedRequest(std::string_view base64);

// PEM text holding exactly one "CERTIFICATE REQUEST" block with only whitespace around it.
// Refuses, with a reason a human understands: oversize input, other or extra blocks, text around
// the block, DER that is not PKCS#10, a self-signature that does not verify, SHA-1/MD5
// signatures, keys other than RSA/ECDSA/Ed25519, NUL bytes or invalid UTF-8 in any name, a
// subjectAltName extension that is duplicated or undecodable.
// Also refused, because kube-apiserver and the signer (Go's crypto/x509) would read them
// differently or not at all: PEM header lines (Proc-Type, DEK-Info), the label "NEW CERTIFICATE
// REQUEST", bytes after the DER, any extension requested twice, more than one extensionRequest
// attribute, undecodable basicConstraints/keyUsage/extendedKeyUsage, DNS/email/URI SANs that are
// not ASCII, IP SANs not 4 or 16 bytes long, signature algorithms other than SHA-256/384/512 with
// RSA PKCS#1 v1.5 or ECDSA, and Ed25519 (e.g. SHA-224), RSASSA-PSS other than over
// SHA-256/384/512 with MGF1 over the same hash, a salt as long as the hash and the default
// trailer field, DER-encoded (the hash parameters NULL or absent), and id-RSASSA-PSS keys.
// Refused because their signature proves nothing or they parse ambiguously (DESIGN.md "Requests
// that prove nothing or parse ambiguously"): BER where DER is required (non-minimal or indefinite
// lengths, unsorted SET OF, empty RDNs, constructed strings, also inside extension values and the
// RSA key), the 8 small-order Ed25519 points in any encoding, the EC point at infinity,
// compressed or hybrid points, EC keys without a named curve, RSA keys with an exponent < 3 or
// even or an even modulus, other key types by name (DSA, X25519, Ed448, ML-DSA), and a
// Microsoft msExtReq attribute.
// Never echoes key material into messages; quoted input is escaped and cut short.
Result<CsrFacts> InspectPemRequest(std::string_view pem);

}  // namespace kca
