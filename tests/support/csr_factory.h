// Test-only factory for keys, PKCS#10 requests and CertificateSigningRequest objects, built with
// the OpenSSL 3 API (no openssl CLI). Every suite that needs a CSR uses this instead of fixtures on
// disk, so a case states in code exactly what the request holds.
//
// Errors: a failure inside the factory is a broken test, not a case under test; it throws
// std::runtime_error naming the step (GoogleTest reports the exception and fails the test).
// Thread-safety: every function may be called from any thread; the key cache is locked.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kca::testing {

// kEd448, kDsa and kRsaPss (an RSA key written as id-RSASSA-PSS) exist to exercise refusals of
// unsupported key types.
enum class KeyType { kRsa, kEcdsa, kEd25519, kEd448, kDsa, kRsaPss };

struct KeySpec {
  KeyType type = KeyType::kEcdsa;
  int rsa_bits = 2048;          // kRsa, kRsaPss (also the DSA prime size for kDsa)
  std::string curve = "P-256";  // kEcdsa: "P-256", "P-384", "P-521" or any OpenSSL group name

  static KeySpec Rsa(int bits) { return {KeyType::kRsa, bits, ""}; }
  static KeySpec Ecdsa(std::string curve) { return {KeyType::kEcdsa, 0, std::move(curve)}; }
  static KeySpec Ed25519() { return {KeyType::kEd25519, 0, ""}; }
  static KeySpec Ed448() { return {KeyType::kEd448, 0, ""}; }
  static KeySpec Dsa(int bits) { return {KeyType::kDsa, bits, ""}; }
  static KeySpec RsaPss(int bits) { return {KeyType::kRsaPss, bits, ""}; }
};

using KeyPtr = std::shared_ptr<EVP_PKEY>;

// The same key for the same spec for the whole process (RSA and DSA generation are slow).
KeyPtr CachedKey(const KeySpec& spec);
// A key nobody else holds, e.g. to sign a request with a key that does not match its public key.
KeyPtr FreshKey(const KeySpec& spec);

// A subject attribute written with a raw ASN.1 string type and raw bytes, bypassing OpenSSL's
// checks: embedded NUL, a BMPString, a TeletexString, ... (OpenSSL will not encode invalid
// UTF-8 in a name at all: write a placeholder here and replace it with `patches`).
struct RawSubjectAttribute {
  std::string type;   // short name ("CN") or dotted OID
  int asn1_type = 0;  // V_ASN1_UTF8STRING, V_ASN1_BMPSTRING, V_ASN1_PRINTABLESTRING, ...
  std::string bytes;  // the content octets as stored
};

// An extension written verbatim: `der` is the content of its extnValue OCTET STRING.
struct RawExtension {
  std::string oid;  // dotted, e.g. "2.5.29.17" for subjectAltName
  std::string der;
  bool critical = false;
};

// A request attribute written verbatim (e.g. a second extensionRequest, with `patches`).
struct RawAttribute {
  std::string oid;
  int asn1_type = 0;  // V_ASN1_SEQUENCE: `bytes` is the whole DER of the value (tag included)
  std::string bytes;
};

// RSASSA-PSS signing: MGF1 over `mgf1_digest` (empty: the request's digest) and a salt of
// `salt_length` bytes (-1: the digest's length). OpenSSL writes the AlgorithmIdentifier's
// parameters from these. At namespace scope: clang (unlike gcc) takes a nested struct with
// default member initializers for not default-constructible inside its enclosing class, so
// std::optional<Pss>::emplace() would not compile there.
struct RsaPssSigning {
  std::string mgf1_digest;
  int salt_length = -1;
};

struct RequestSpec {
  // In order, duplicates allowed: {"CN", "a"}, {"O", "x"}, {"O", "y"}, {"2.5.4.5", "42"}.
  // Values are UTF-8 and go through OpenSSL's normal string encoding.
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<RawSubjectAttribute> raw_subject;  // appended after `subject`

  // SAN values are written as given, byte for byte (an embedded NUL stays in).
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;      // text, IPv4 or IPv6 (::ffff:1.2.3.4 stays 16 bytes)
  std::vector<std::string> raw_ip_addresses;  // raw iPAddress octets of any length
  std::vector<std::string> email_addresses;
  std::vector<std::string> uris;
  bool other_name = false;      // adds otherName 1.3.6.1.4.1.311.20.2.3 (UPN) "user@example.com"
  bool directory_name = false;  // adds directoryName CN=dir
  bool registered_id = false;   // adds registeredID 1.2.3.4

  std::optional<bool> basic_constraints_ca;  // absent when nullopt
  std::vector<std::string> key_usages;       // config names: "digitalSignature", "keyEncipherment"
  std::vector<std::string> extended_key_usages;  // config names: "clientAuth", "serverAuth"
  std::vector<RawExtension> raw_extensions;      // appended after the ones above
  std::vector<RawAttribute> raw_attributes;      // beside the extensionRequest attribute

  // Byte replacements in the signed CertificationRequestInfo, applied before a fresh signature:
  // for encodings OpenSSL refuses to write (invalid UTF-8, a non-string name value, a second
  // extensionRequest). Each `from` must occur exactly once and be as long as its `to`.
  std::vector<std::pair<std::string, std::string>> patches;

  KeySpec key;         // used through CachedKey unless `signing_key` is set
  KeyPtr signing_key;  // overrides `key` when set
  // Its public key goes into the request while `signing_key`/`key` signs: a failing self-signature.
  KeyPtr public_key_override;
  // "SHA256", "SHA1", "MD5", "SHA384", "SHA512"; ignored for Ed25519/Ed448, which sign without one.
  std::string digest = "SHA256";
  // RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys), over `digest` (see RsaPssSigning).
  using Pss = RsaPssSigning;
  std::optional<Pss> pss;
};

// The request as DER, and as PEM text with the label "CERTIFICATE REQUEST".
std::string MakeRequestDer(const RequestSpec& spec);
std::string MakeRequestPem(const RequestSpec& spec);

// --- Hostile encodings -----------------------------------------------------------------------
// DER pieces, and requests rebuilt from them, for what OpenSSL will not write: BER forms
// (non-minimal or indefinite lengths, unsorted SETs, empty RDNs), degenerate keys (small-order
// Ed25519 points, the EC point at infinity, compressed points, RSA e = 1) and chosen signatures.
namespace der {
// tag, minimal definite length, content.
std::string Tlv(unsigned char tag, std::string_view content);
// tag, the length in `extra` more octets than needed (long form), content: non-minimal BER.
std::string TlvLongLength(unsigned char tag, std::string_view content, size_t extra = 0);
// tag, indefinite length (0x80), content, end-of-contents (00 00): BER only.
std::string TlvIndefinite(unsigned char tag, std::string_view content);
// The whole TLVs directly inside the constructed element `tlv`.
std::vector<std::string> Children(std::string_view tlv);
// The content octets of `tlv`.
std::string Content(std::string_view tlv);
std::string Sequence(const std::vector<std::string>& children);
std::string Oid(std::string_view dotted);  // OBJECT IDENTIFIER TLV
std::string Utf8(std::string_view text);   // UTF8String TLV
// SEQUENCE { OID type, UTF8String value }: one AttributeTypeAndValue.
std::string TypeAndValue(std::string_view dotted_type, std::string_view value);
}  // namespace der

// The request `spec` describes, with its CertificationRequestInfo (the whole TLV) passed through
// `edit` and signed again by the spec's key: for encodings inside the signed part.
std::string EditInfoAndResign(const RequestSpec& spec,
                              const std::function<std::string(std::string)>& edit);
// As EditInfoAndResign, with `signature` (the BIT STRING's bytes after the unused-bits octet)
// written as given instead of a real signature.
std::string EditInfoWithSignature(const RequestSpec& spec,
                                  const std::function<std::string(std::string)>& edit,
                                  std::string_view signature);

// The request `der` with its outer signatureAlgorithm (a whole AlgorithmIdentifier TLV) replaced;
// the signature stays valid, as it covers only CertificationRequestInfo.
std::string ReplaceSignatureAlgorithm(std::string_view der, std::string_view algorithm);

// Standard base64 with padding, no line breaks (how spec.request travels in JSON).
std::string Base64Encode(std::string_view bytes);

// PEM framing without any parsing: `label` is e.g. "CERTIFICATE REQUEST"; lines of 64 characters.
std::string DerToPem(std::string_view der, std::string_view label);
// The DER inside the first PEM block of `pem`, whatever its label.
std::string PemToDer(std::string_view pem);

// Flips one bit of the signature (the last byte of the DER) and writes the PEM again.
std::string TamperSignature(std::string_view pem);

// Other PEM blocks a confused client might send instead of a request.
std::string MakeCertificatePem(const KeySpec& key);  // self-signed, CN=not-a-request
std::string MakePrivateKeyPem(const KeySpec& key);   // PKCS#8 "PRIVATE KEY"

struct CsrConditionSpec {
  std::string type;  // Approved, Denied, Failed
  std::string status = "True";
  std::string reason = "TestReason";
  std::string message = "set by the test";
};

struct CsrObjectSpec {
  std::string name = "test-csr";
  std::string uid = "00000000-0000-0000-0000-000000000001";
  std::string resource_version = "1";
  std::string request_pem;  // base64-encoded into spec.request
  std::string signer_name = "kubernetes.io/kube-apiserver-client";
  std::vector<std::string> usages = {"digital signature", "client auth"};
  std::string username = "alice";
  std::vector<std::string> groups = {"system:authenticated"};
  std::optional<std::int64_t> expiration_seconds;
  std::vector<CsrConditionSpec> conditions;
  std::string certificate_pem;  // status.certificate (base64-encoded) when non-empty
};

// A certificates.k8s.io/v1 CertificateSigningRequest as the API server returns it.
nlohmann::json MakeCsrObject(const CsrObjectSpec& spec);

}  // namespace kca::testing
