// Every refusal of the inspector, with the message a human reads, and garbage that must not crash.
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <random>

#include "csr_factory.h"
#include "kube_csr_approver/csr/csr_inspector.h"

namespace kca {
namespace {

using testing::Base64Encode;
using testing::KeySpec;
using testing::MakeRequestPem;
using testing::RequestSpec;

RequestSpec Basic() {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}, {"O", "team-a"}};
  return spec;
}

// Refused by both entry points, with `expected` in the message.
void ExpectRefusedPem(const std::string& pem, const std::string& expected) {
  auto facts = InspectPemRequest(pem);
  ASSERT_FALSE(facts.ok()) << "accepted; expected: " << expected;
  EXPECT_NE(facts.error().message.find(expected), std::string::npos) << facts.error().message;
  auto encoded = InspectEncodedRequest(Base64Encode(pem));
  ASSERT_FALSE(encoded.ok()) << "accepted as base64; expected: " << expected;
  EXPECT_EQ(encoded.error().message, facts.error().message);
}

void ExpectRefused(const RequestSpec& spec, const std::string& expected) {
  ExpectRefusedPem(MakeRequestPem(spec), expected);
}

// --- names ---------------------------------------------------------------------------------

TEST(CsrInspectorRefusalTest, EmbeddedNulInSubject) {
  RequestSpec spec = Basic();
  spec.subject = {};
  spec.raw_subject = {{"CN", V_ASN1_UTF8STRING, std::string("admin\0.evil", 11)}};
  ExpectRefused(spec, "subject attribute CN contains a NUL byte");
  spec.raw_subject = {{"O", V_ASN1_PRINTABLESTRING, std::string("system:masters\0", 15)}};
  ExpectRefused(spec, "subject attribute O contains a NUL byte");
  spec.raw_subject = {{"OU", V_ASN1_BMPSTRING, std::string("\0a\0\0", 4)}};
  ExpectRefused(spec, "subject attribute OU contains a NUL byte");
}

// OpenSSL will not encode these names, so the factory writes a placeholder and patches it.
RequestSpec WithPatchedSubjectValue(const std::string& type_oid_der, unsigned char asn1_tag,
                                    const std::string& bytes) {
  RequestSpec spec;
  const std::string placeholder(bytes.size(), 'q');
  spec.raw_subject = {
      {type_oid_der == std::string("\x55\x04\x03") ? "CN" : "O", V_ASN1_UTF8STRING, placeholder}};
  const std::string header = std::string("\x06\x03", 2) + type_oid_der;
  spec.patches = {{header + '\x0c' + static_cast<char>(bytes.size()) + placeholder,
                   header + static_cast<char>(asn1_tag) + static_cast<char>(bytes.size()) + bytes}};
  return spec;
}

const std::string kOidCommonName("\x55\x04\x03", 3);
const std::string kOidOrganization("\x55\x04\x0a", 3);

TEST(CsrInspectorRefusalTest, InvalidUtf8InSubject) {
  for (const std::string& bytes :
       {std::string("\xff\xfe"), std::string("a\xc3"), std::string("\xc0\xaf"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
    ExpectRefused(WithPatchedSubjectValue(kOidOrganization, V_ASN1_UTF8STRING, bytes),
                  "a name in the request is not valid UTF-8");
  }
}

TEST(CsrInspectorRefusalTest, NonStringSubjectValue) {
  ExpectRefused(WithPatchedSubjectValue(kOidCommonName, V_ASN1_OCTET_STRING, "abc"),
                "a name in the request holds a value of a type that is not a string");
}

TEST(CsrInspectorRefusalTest, TeletexStringWithHighBytes) {
  RequestSpec spec;
  spec.raw_subject = {{"O", V_ASN1_T61STRING, "caf\xe9"}};
  ExpectRefused(spec, "subject attribute O is a TeletexString with non-ASCII bytes");
  spec.raw_subject = {{"O", V_ASN1_T61STRING, "plain ascii"}};
  auto facts = InspectPemRequest(MakeRequestPem(spec));
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->organizations, std::vector<std::string>{"plain ascii"});
}

TEST(CsrInspectorRefusalTest, PatchedButValidSubjectIsAccepted) {
  auto facts = InspectPemRequest(
      MakeRequestPem(WithPatchedSubjectValue(kOidCommonName, V_ASN1_UTF8STRING, "m\xc3\xbcller")));
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->common_names, std::vector<std::string>{"m\xc3\xbcller"});
}

TEST(CsrInspectorRefusalTest, EmbeddedNulInSans) {
  RequestSpec spec = Basic();
  spec.dns_names = {std::string("good.example.com\0.evil.com", 26)};
  ExpectRefused(spec, "the DNS SAN \"good.example.com\\x00.evil.com\" contains a NUL byte");
  spec = Basic();
  spec.email_addresses = {std::string("a@example.com\0", 14)};
  ExpectRefused(spec, "the email SAN");
  spec = Basic();
  spec.uris = {std::string("spiffe://a\0b", 12)};
  ExpectRefused(spec, "the URI SAN \"spiffe://a\\x00b\" contains a NUL byte");
}

TEST(CsrInspectorRefusalTest, NonAsciiSans) {
  RequestSpec spec = Basic();
  spec.dns_names = {"b\xc3\xbcro.example.com"};
  ExpectRefused(spec, "is not ASCII");
}

TEST(CsrInspectorRefusalTest, IpSanOfWrongLength) {
  RequestSpec spec = Basic();
  spec.raw_ip_addresses = {std::string("\x0a\x00\x00\x01\x05", 5)};
  ExpectRefused(spec, "an IP address SAN is malformed: an IP address must be 4 or 16 bytes long");
}

// --- framing -------------------------------------------------------------------------------

TEST(CsrInspectorRefusalTest, TextAroundTheBlock) {
  const std::string pem = MakeRequestPem(Basic());
  ExpectRefusedPem("Here is my CSR:\n" + pem, "has text before its PEM block");
  ExpectRefusedPem(pem + "trailing junk\n", "has text after its PEM block");
  ExpectRefusedPem(pem.substr(0, pem.size() - 1) + "x\n", "has text after its PEM block");
  ExpectRefusedPem(pem + std::string(1, '\0'), "has text after its PEM block");
}

TEST(CsrInspectorRefusalTest, TwoRequests) {
  const std::string pem = MakeRequestPem(Basic());
  ExpectRefusedPem(pem + "\n" + pem,
                   "holds 2 PEM blocks (\"CERTIFICATE REQUEST\", \"CERTIFICATE REQUEST\"); "
                   "exactly one \"CERTIFICATE REQUEST\" block is allowed");
}

TEST(CsrInspectorRefusalTest, RequestWithACertificate) {
  ExpectRefusedPem(MakeRequestPem(Basic()) + testing::MakeCertificatePem(KeySpec::Ecdsa("P-256")),
                   "holds 2 PEM blocks (\"CERTIFICATE REQUEST\", \"CERTIFICATE\")");
}

TEST(CsrInspectorRefusalTest, RequestWithItsPrivateKey) {
  ExpectRefusedPem(MakeRequestPem(Basic()) + testing::MakePrivateKeyPem(KeySpec::Ecdsa("P-256")),
                   "holds 2 PEM blocks (\"CERTIFICATE REQUEST\", \"PRIVATE KEY\"); exactly one "
                   "\"CERTIFICATE REQUEST\" block is allowed; a private key must never leave its "
                   "owner");
}

TEST(CsrInspectorRefusalTest, CertificateInsteadOfRequest) {
  ExpectRefusedPem(testing::MakeCertificatePem(KeySpec::Ecdsa("P-256")),
                   "the request holds a certificate (PEM block \"CERTIFICATE\"), not a "
                   "certificate signing request");
}

TEST(CsrInspectorRefusalTest, PrivateKeyInsteadOfRequest) {
  const std::string key = testing::MakePrivateKeyPem(KeySpec::Ecdsa("P-256"));
  auto facts = InspectPemRequest(key);
  ASSERT_FALSE(facts.ok());
  EXPECT_NE(facts.error().message.find("the request holds a private key (PEM block \"PRIVATE "
                                       "KEY\")"),
            std::string::npos)
      << facts.error().message;
  // The key material itself must never be echoed into logs or events.
  const std::string body = key.substr(28, 40);
  EXPECT_EQ(facts.error().message.find(body), std::string::npos);

  const std::string der = testing::PemToDer(key);
  ExpectRefusedPem(testing::DerToPem(der, "EC PRIVATE KEY"), "holds a private key");
}

TEST(CsrInspectorRefusalTest, OtherLabels) {
  const std::string der = testing::MakeRequestDer(Basic());
  ExpectRefusedPem(testing::DerToPem(der, "NEW CERTIFICATE REQUEST"),
                   "labelled \"NEW CERTIFICATE REQUEST\" (an old Netscape spelling); Kubernetes "
                   "accepts only \"CERTIFICATE REQUEST\"");
  ExpectRefusedPem(testing::DerToPem(der, "PUBLIC KEY"),
                   "holds a PEM block labelled \"PUBLIC KEY\", not \"CERTIFICATE REQUEST\"");
}

TEST(CsrInspectorRefusalTest, PemHeaders) {
  std::string pem = MakeRequestPem(Basic());
  pem.insert(pem.find('\n') + 1, "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n");
  ExpectRefusedPem(pem, "has a header line (\"Proc-Type: 4,ENCRYPTED\")");
}

TEST(CsrInspectorRefusalTest, BrokenPemFrames) {
  const std::string pem = MakeRequestPem(Basic());
  const std::string without_end = pem.substr(0, pem.find("-----END"));
  ExpectRefusedPem(without_end, "has no \"-----END CERTIFICATE REQUEST-----\" line");
  std::string wrong_end = without_end + "-----END CERTIFICATE-----\n";
  ExpectRefusedPem(wrong_end, "PEM END line \"-----END CERTIFICATE-----\" does not match");
  ExpectRefusedPem("-----BEGIN CERTIFICATE REQUEST\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n",
                   "PEM BEGIN line \"-----BEGIN CERTIFICATE REQUEST\" is malformed");
  ExpectRefusedPem("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
                   "the request's PEM block is empty");
  std::string bad_body = pem;
  bad_body[40] = '!';
  ExpectRefusedPem(bad_body, "the request's PEM block is not valid base64: unexpected character");
}

TEST(CsrInspectorRefusalTest, EmptyAndWhitespace) {
  ExpectRefusedPem("", "the request is empty");
  ExpectRefusedPem(" \n\t\r\n", "the request is empty");
}

TEST(CsrInspectorRefusalTest, NotPem) {
  ExpectRefusedPem("hello world",
                   "the request is not PEM text: it has no \"-----BEGIN "
                   "CERTIFICATE REQUEST-----\" line");
  ExpectRefusedPem(testing::MakeRequestDer(Basic()), "it looks like binary DER");
}

// --- base64 (spec.request) -----------------------------------------------------------------

TEST(CsrInspectorRefusalTest, InvalidBase64) {
  const std::string encoded = Base64Encode(MakeRequestPem(Basic()));
  auto expect = [](const std::string& text, const std::string& expected) {
    auto facts = InspectEncodedRequest(text);
    ASSERT_FALSE(facts.ok()) << expected;
    EXPECT_NE(facts.error().message.find(expected), std::string::npos) << facts.error().message;
  };
  expect(encoded.substr(0, 10) + "!" + encoded.substr(11),
         "spec.request is not valid base64: unexpected character \"!\" at offset 10");
  expect(encoded.substr(0, 10) + "-" + encoded.substr(11), "unexpected character \"-\"");
  expect(encoded.substr(0, encoded.size() - 1), "not a multiple of 4");
  expect("QQ=A", "padding \"=\" before offset 3 is not at the end");
  expect("QQ===", "not a multiple of 4");
  expect(std::string("QUJD\0", 5), "unexpected character \"\\x00\" at offset 4");
  expect(Base64Encode("hello world"), "the request is not PEM text");
  expect("", "the request is empty");
}

// --- DER -----------------------------------------------------------------------------------

TEST(CsrInspectorRefusalTest, TruncatedDer) {
  const std::string der = testing::MakeRequestDer(Basic());
  for (size_t length : {size_t{1}, size_t{2}, der.size() / 2, der.size() - 1}) {
    ExpectRefusedPem(testing::DerToPem(der.substr(0, length), "CERTIFICATE REQUEST"),
                     "does not hold a PKCS#10 certificate request");
  }
}

TEST(CsrInspectorRefusalTest, BytesAfterTheDer) {
  const std::string der = testing::MakeRequestDer(Basic());
  ExpectRefusedPem(testing::DerToPem(der + std::string("\x00\x00", 2), "CERTIFICATE REQUEST"),
                   "has 2 bytes after the PKCS#10 request");
}

TEST(CsrInspectorRefusalTest, CertificateDerInARequestBlock) {
  const std::string cert_der = testing::PemToDer(testing::MakeCertificatePem(KeySpec::Rsa(2048)));
  ExpectRefusedPem(testing::DerToPem(cert_der, "CERTIFICATE REQUEST"),
                   "does not hold a PKCS#10 certificate request");
}

TEST(CsrInspectorRefusalTest, HugeInput) {
  const std::string huge(kMaxRequestBytes + 1, 'A');
  auto encoded = InspectEncodedRequest(huge);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.error().message,
            "the request is 65537 bytes long, more than the 65536 accepted");

  RequestSpec spec = Basic();
  for (int i = 0; i < 2000; ++i) {
    spec.dns_names.push_back("host-" + std::to_string(i) + ".a-long-domain.example.com");
  }
  const std::string pem = MakeRequestPem(spec);
  ASSERT_GT(pem.size(), kMaxRequestBytes);
  auto facts = InspectPemRequest(pem);
  ASSERT_FALSE(facts.ok());
  EXPECT_NE(facts.error().message.find("more than the 65536 accepted"), std::string::npos);
}

// --- signatures and keys -------------------------------------------------------------------

TEST(CsrInspectorRefusalTest, TamperedSignature) {
  for (const KeySpec& key :
       {KeySpec::Rsa(2048), KeySpec::Ecdsa("P-256"), KeySpec::Ecdsa("P-384"), KeySpec::Ed25519()}) {
    RequestSpec spec = Basic();
    spec.key = key;
    const std::string pem = MakeRequestPem(spec);
    ASSERT_TRUE(InspectPemRequest(pem).ok());
    ExpectRefusedPem(testing::TamperSignature(pem),
                     "the request's signature does not verify with its own public key");
  }
}

TEST(CsrInspectorRefusalTest, SignedByAnotherKey) {
  RequestSpec spec = Basic();
  spec.key = KeySpec::Ecdsa("P-256");
  spec.public_key_override = testing::FreshKey(KeySpec::Ecdsa("P-256"));
  ExpectRefused(spec, "does not verify with its own public key");
}

TEST(CsrInspectorRefusalTest, TamperedSubjectAfterSigning) {
  // Same-length change inside the signed part: "alice" -> "alicf".
  std::string der = testing::MakeRequestDer(Basic());
  const size_t at = der.find("alice");
  ASSERT_NE(at, std::string::npos);
  der[at + 4] = 'f';
  ExpectRefusedPem(testing::DerToPem(der, "CERTIFICATE REQUEST"), "does not verify");
}

TEST(CsrInspectorRefusalTest, WeakDigests) {
  RequestSpec spec = Basic();
  spec.key = KeySpec::Rsa(2048);
  spec.digest = "SHA1";
  ExpectRefused(spec,
                "the request is signed with sha1WithRSAEncryption; SHA-1 and MD5 signatures "
                "are refused: sign it with SHA-256 or stronger");
  spec.digest = "MD5";
  ExpectRefused(spec, "the request is signed with md5WithRSAEncryption; SHA-1 and MD5");
  spec.key = KeySpec::Ecdsa("P-256");
  spec.digest = "SHA1";
  ExpectRefused(spec, "the request is signed with ecdsa-with-SHA1; SHA-1 and MD5");
}

TEST(CsrInspectorRefusalTest, OtherDigestsAreNotSupported) {
  RequestSpec spec = Basic();
  spec.key = KeySpec::Rsa(2048);
  spec.digest = "SHA224";
  ExpectRefused(spec, "signature algorithm sha224WithRSAEncryption is not supported");
}

TEST(CsrInspectorRefusalTest, UnsupportedKeyTypes) {
  RequestSpec spec = Basic();
  spec.key = KeySpec::Ed448();
  ExpectRefused(spec,
                "the request's public key is ED448; only RSA, ECDSA and Ed25519 keys are "
                "supported");
  spec.key = KeySpec::Dsa(1024);
  ExpectRefused(spec, "the request's public key is DSA; only RSA, ECDSA and Ed25519");
}

// An ECDSA P-256 key whose SubjectPublicKeyInfo spells the curve out instead of naming it.
testing::KeyPtr ExplicitCurveKey() {
  char group[] = "P-256";
  char encoding[] = OSSL_PKEY_EC_ENCODING_EXPLICIT;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                         OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, encoding, 0),
                         OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_keygen_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_params(context.get(), params) != 1 ||
      EVP_PKEY_generate(context.get(), &key) != 1) {
    return nullptr;
  }
  return testing::KeyPtr(key, EVP_PKEY_free);
}

TEST(CsrInspectorRefusalTest, EcdsaKeyWithExplicitCurveParameters) {
  RequestSpec spec = Basic();
  spec.signing_key = ExplicitCurveKey();
  ASSERT_TRUE(spec.signing_key);
  ExpectRefused(spec, "the request's ECDSA key uses explicit curve parameters");
}

TEST(CsrInspectorRefusalTest, EcdsaPointNotOnTheCurve) {
  // The signed request carries a point with its last coordinate byte changed: it is no longer
  // on P-256, so there is no key to check the signature with.
  RequestSpec spec = Basic();
  spec.key = KeySpec::Ecdsa("P-256");
  unsigned char point[65];
  std::size_t length = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(testing::CachedKey(spec.key).get(),
                                            OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &length),
            1);
  ASSERT_EQ(length, sizeof(point));
  std::string original(reinterpret_cast<const char*>(point), length);
  std::string moved = original;
  moved.back() = static_cast<char>(moved.back() ^ 1);
  spec.patches = {{original, moved}};
  ExpectRefused(spec, "the request's public key cannot be decoded");
}

// --- extensions ----------------------------------------------------------------------------

// SEQUENCE { [2] "x.example.com" }: a well-formed subjectAltName value.
const std::string kSanDer = std::string("\x30\x0f\x82\x0d", 4) + "x.example.com";

TEST(CsrInspectorRefusalTest, DuplicatedSubjectAltName) {
  RequestSpec spec = Basic();
  spec.dns_names = {"a.example.com"};
  spec.raw_extensions = {{"2.5.29.17", kSanDer, false}};
  ExpectRefused(spec, "the request asks for the extension X509v3 Subject Alternative Name twice");
}

TEST(CsrInspectorRefusalTest, UndecodableExtensions) {
  RequestSpec spec = Basic();
  spec.raw_extensions = {{"2.5.29.17", "\x30\x03\x01\x02", false}};
  ExpectRefused(spec, "the request's subjectAltName extension cannot be decoded");
  spec.raw_extensions = {{"2.5.29.19", "\xff", true}};
  ExpectRefused(spec, "the request's basicConstraints extension cannot be decoded");
  spec.raw_extensions = {{"2.5.29.15", "\x04\x00", false}};
  ExpectRefused(spec, "the request's keyUsage extension cannot be decoded");
  spec.raw_extensions = {{"2.5.29.37", "\x30\x01", false}};
  ExpectRefused(spec, "the request's extendedKeyUsage extension cannot be decoded");
}

TEST(CsrInspectorRefusalTest, RawSanIsReadLikeABuiltOne) {
  RequestSpec spec = Basic();
  spec.raw_extensions = {{"2.5.29.17", kSanDer, false}};
  auto facts = InspectPemRequest(MakeRequestPem(spec));
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->sans.dns_names, std::vector<std::string>{"x.example.com"});
}

// Go's x509 merges every extensionRequest attribute, OpenSSL reads only the first: a second one
// could smuggle SANs past the policy.
TEST(CsrInspectorRefusalTest, SecondExtensionRequestAttribute) {
  RequestSpec spec = Basic();
  spec.dns_names = {"a.example.com"};
  // SEQUENCE OF Extension { subjectAltName }, first as smimeCapabilities (1.2.840.113549.1.9.15),
  // then renamed to extensionRequest (...9.14), which OpenSSL refuses to add twice.
  const std::string extension = std::string("\x30\x18\x06\x03\x55\x1d\x11\x04\x11", 9) + kSanDer;
  spec.raw_attributes = {
      {"1.2.840.113549.1.9.15", V_ASN1_SEQUENCE, std::string("\x30\x1a", 2) + extension}};
  const std::string oid_prefix("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09", 10);
  spec.patches = {{oid_prefix + '\x0f', oid_prefix + '\x0e'}};
  ExpectRefused(spec, "the request has more than one extensionRequest attribute");
}

// --- nothing crashes -----------------------------------------------------------------------

TEST(CsrInspectorRefusalTest, GarbageNeverCrashes) {
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::string garbage(static_cast<size_t>(round * 7), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(random));
    EXPECT_FALSE(InspectPemRequest(garbage).ok());
    EXPECT_FALSE(InspectEncodedRequest(garbage).ok());
    EXPECT_FALSE(InspectEncodedRequest(Base64Encode(garbage)).ok());
    EXPECT_FALSE(InspectPemRequest(testing::DerToPem(garbage, "CERTIFICATE REQUEST")).ok());
  }
}

TEST(CsrInspectorRefusalTest, MutatedRequestsNeverCrashOrPassUnsigned) {
  RequestSpec spec = Basic();
  spec.dns_names = {"a.example.com"};
  spec.ip_addresses = {"10.0.0.1"};
  spec.basic_constraints_ca = false;
  const std::string der = testing::MakeRequestDer(spec);
  std::mt19937 random(777);
  int accepted = 0;
  for (int round = 0; round < 1000; ++round) {
    std::string mutated = der;
    const size_t at = random() % mutated.size();
    mutated[at] = static_cast<char>(mutated[at] ^ (1 + random() % 255));
    auto facts = InspectPemRequest(testing::DerToPem(mutated, "CERTIFICATE REQUEST"));
    if (facts.ok()) ++accepted;
  }
  // A one-byte change anywhere in the signed part or the signature breaks the signature; only
  // a few bytes of the outer framing (e.g. the signature algorithm's NULL parameter) may be
  // non-semantic. Whatever passes must still have verified, so it is a rare event.
  EXPECT_LT(accepted, 10);
}

}  // namespace
}  // namespace kca
