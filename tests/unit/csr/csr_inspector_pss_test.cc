// RSASSA-PSS requests (DESIGN.md "Requests that prove nothing": "RSA-PSS only with SHA-256/384/512
// and a matching MGF1 hash"). What is accepted follows Go's getSignatureAlgorithmFromAI (golang/go
// src/crypto/x509/x509.go), which the API server uses: SHA-256/384/512, MGF1 over the same hash,
// a salt as long as the hash, trailer field 1, each hash's parameters NULL or absent; of those,
// only DER encodings. Go's getPublicKeyAlgorithmFromOID has no id-RSASSA-PSS key type.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>

#include <optional>

#include "csr_factory.h"
#include "kube_csr_approver/csr/csr_inspector.h"

namespace kca {
namespace {

namespace der = testing::der;
using testing::DerToPem;
using testing::KeySpec;
using testing::RequestSpec;

constexpr std::string_view kRsaPss = "1.2.840.113549.1.1.10";
constexpr std::string_view kMgf1 = "1.2.840.113549.1.1.8";
constexpr std::string_view kSha1 = "1.3.14.3.2.26";
constexpr std::string_view kSha224 = "2.16.840.1.101.3.4.2.4";
constexpr std::string_view kSha256 = "2.16.840.1.101.3.4.2.1";
constexpr std::string_view kSha384 = "2.16.840.1.101.3.4.2.2";
constexpr std::string_view kSha512 = "2.16.840.1.101.3.4.2.3";
const std::string kNull = der::Tlv(0x05, "");

RequestSpec PssSpec(std::string digest = "SHA256", RequestSpec::Pss pss = {}) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}, {"O", "team-a"}};
  spec.key = KeySpec::Rsa(2048);
  spec.digest = std::move(digest);
  spec.pss = std::move(pss);
  return spec;
}

std::string Pem(const std::string& der) { return DerToPem(der, "CERTIFICATE REQUEST"); }

void ExpectRefusedDer(const std::string& der, const std::string& expected) {
  auto facts = InspectPemRequest(Pem(der));
  ASSERT_FALSE(facts.ok()) << "accepted; expected: " << expected;
  EXPECT_NE(facts.error().message.find(expected), std::string::npos) << facts.error().message;
}

std::string Integer(unsigned char value) { return der::Tlv(0x02, std::string(1, char(value))); }

// AlgorithmIdentifier { hash, parameters } with `parameters` (a whole TLV, or empty: absent).
std::string Algorithm(std::string_view oid, const std::string& parameters) {
  return der::Sequence({der::Oid(oid), parameters});
}

// The parts of RSASSA-PSS-params (RFC 4055 section 3.1), each a whole TLV or empty (absent).
struct PssFields {
  std::string hash;
  std::string mask;
  std::string salt;
  std::string trailer;
};

PssFields GoFields(std::string_view hash_oid, unsigned char salt) {
  return {Algorithm(hash_oid, kNull), Algorithm(kMgf1, Algorithm(hash_oid, kNull)), Integer(salt),
          ""};
}

std::string PssAlgorithm(const PssFields& fields) {
  std::string content;
  if (!fields.hash.empty()) content += der::Tlv(0xA0, fields.hash);
  if (!fields.mask.empty()) content += der::Tlv(0xA1, fields.mask);
  if (!fields.salt.empty()) content += der::Tlv(0xA2, fields.salt);
  if (!fields.trailer.empty()) content += der::Tlv(0xA3, fields.trailer);
  return Algorithm(kRsaPss, der::Tlv(0x30, content));
}

// A valid SHA-256 PSS request whose signatureAlgorithm is replaced by `algorithm`.
std::string WithAlgorithm(const std::string& algorithm, const RequestSpec& spec = PssSpec()) {
  return testing::ReplaceSignatureAlgorithm(testing::MakeRequestDer(spec), algorithm);
}

TEST(CsrInspectorPssTest, AcceptsEachHashWithItsMgf1AndSalt) {
  for (const char* digest : {"SHA256", "SHA384", "SHA512"}) {
    SCOPED_TRACE(digest);
    auto facts = InspectPemRequest(testing::MakeRequestPem(PssSpec(digest)));
    ASSERT_TRUE(facts.ok()) << facts.error().message;
    EXPECT_EQ(facts->key.algorithm, KeyAlgorithm::kRsa);
    EXPECT_EQ(facts->key.bits, 2048);
    EXPECT_EQ(facts->common_names, std::vector<std::string>{"alice"});
    const std::string hash = std::string("SHA-") + (digest + 3);
    EXPECT_EQ(facts->signature_algorithm, "RSASSA-PSS over " + hash);
  }
  RequestSpec small = PssSpec("SHA384");
  small.key = KeySpec::Rsa(1024);  // reported as it is; minRSABits is the policy's to apply
  auto facts = InspectPemRequest(testing::MakeRequestPem(small));
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->key.bits, 1024);
}

TEST(CsrInspectorPssTest, AcceptsGoEncodingsWithTheHashParametersNullOrAbsent) {
  struct Case {
    std::string_view oid;
    const char* digest;
    unsigned char salt;
  };
  for (const Case& c :
       {Case{kSha256, "SHA256", 32}, Case{kSha384, "SHA384", 48}, Case{kSha512, "SHA512", 64}}) {
    SCOPED_TRACE(c.digest);
    for (bool hash_null : {true, false}) {
      for (bool mgf1_null : {true, false}) {
        PssFields fields = GoFields(c.oid, c.salt);
        fields.hash = Algorithm(c.oid, hash_null ? kNull : "");
        fields.mask = Algorithm(kMgf1, Algorithm(c.oid, mgf1_null ? kNull : ""));
        auto facts = InspectPemRequest(Pem(WithAlgorithm(PssAlgorithm(fields), PssSpec(c.digest))));
        EXPECT_TRUE(facts.ok()) << hash_null << mgf1_null << ": " << facts.error().message;
      }
    }
  }
}

TEST(CsrInspectorPssTest, RefusesOtherHashesMasksAndSalts) {
  // OpenSSL leaves out what equals RFC 4055's defaults (SHA-1, MGF1 over SHA-1, salt 20), as DER
  // requires.
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA1")),
                   "signed with RSASSA-PSS over SHA-1 (the default);");
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA224")), "RSASSA-PSS over sha224;");
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA256", {"SHA1", -1})),
                   "RSASSA-PSS over SHA-256 with MGF1 over SHA-1 (the default);");
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA512", {"SHA256", -1})),
                   "RSASSA-PSS over SHA-512 with MGF1 over SHA-256;");
  ExpectRefusedDer(
      testing::MakeRequestDer(PssSpec("SHA256", {"", 20})),
      "RSASSA-PSS over SHA-256 with a salt of 20 bytes (the default; SHA-256 needs 32)");
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA512", {"", 32})),
                   "with a salt of 32 bytes (SHA-512 needs 64)");
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA384", {"", 0})),
                   "with a salt of 0 bytes (SHA-384 needs 48)");
  // The refusal states the rule.
  ExpectRefusedDer(testing::MakeRequestDer(PssSpec("SHA1")),
                   "only RSASSA-PSS over SHA-256, SHA-384 or SHA-512 with MGF1 over the same hash, "
                   "a salt as long as the hash and the default trailer field is accepted");
}

TEST(CsrInspectorPssTest, RefusesParameterEncodingsGoDoesNotAcceptOrDerForbids) {
  const PssFields go = GoFields(kSha256, 32);
  // Go's own encoding, as a control: the request is accepted.
  ASSERT_TRUE(InspectPemRequest(Pem(WithAlgorithm(PssAlgorithm(go)))).ok());

  ExpectRefusedDer(WithAlgorithm(der::Sequence({der::Oid(kRsaPss)})),
                   "signed with RSASSA-PSS without parameters;");
  ExpectRefusedDer(WithAlgorithm(Algorithm(kRsaPss, kNull)),
                   "with parameters that are not an RSASSA-PSS-params SEQUENCE");
  // Every field at its RFC 4055 default: SHA-1.
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm({})), "over SHA-1 (the default)");
  PssFields no_mask = go;
  no_mask.mask.clear();
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(no_mask)),
                   "over SHA-256 with MGF1 over SHA-1 (the default)");
  PssFields no_salt = go;
  no_salt.salt.clear();
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(no_salt)),
                   "with a salt of 20 bytes (the default; SHA-256 needs 32)");
  PssFields trailer_one = go;
  trailer_one.trailer = Integer(1);
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(trailer_one)),
                   "with the trailer field written out although 1 is its default");
  PssFields trailer_two = go;
  trailer_two.trailer = Integer(2);
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(trailer_two)), "with the trailer field 2;");
  PssFields hash_parameters = go;
  hash_parameters.hash = Algorithm(kSha256, Integer(0));
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(hash_parameters)),
                   "over SHA-256 with hash parameters other than NULL");
  PssFields mgf1_hash_parameters = go;
  mgf1_hash_parameters.mask = Algorithm(kMgf1, Algorithm(kSha256, Integer(0)));
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(mgf1_hash_parameters)),
                   "with MGF1 hash parameters other than NULL");
  PssFields other_mask = go;
  other_mask.mask = Algorithm("1.2.3.4", Algorithm(kSha256, kNull));
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(other_mask)),
                   "over SHA-256 with the mask generation function 1.2.3.4");
  PssFields mask_without_hash = go;
  mask_without_hash.mask = Algorithm(kMgf1, "");
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(mask_without_hash)), "with MGF1 without a hash");
  PssFields sha1_mask = go;
  sha1_mask.mask = Algorithm(kMgf1, Algorithm(kSha1, kNull));
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(sha1_mask)), "with MGF1 over SHA-1;");
  PssFields mixed = GoFields(kSha384, 48);
  mixed.mask = Algorithm(kMgf1, Algorithm(kSha512, kNull));
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(mixed)), "over SHA-384 with MGF1 over SHA-512;");
  ExpectRefusedDer(WithAlgorithm(Algorithm(kRsaPss, der::Sequence({Integer(1)}))),
                   "with RSASSA-PSS parameters that cannot be decoded");
  ExpectRefusedDer(WithAlgorithm(PssAlgorithm(GoFields(kSha224, 28))), "over sha224;");
}

TEST(CsrInspectorPssTest, VerifiesWithExactlyTheStatedParameters) {
  const std::string pem = testing::MakeRequestPem(PssSpec("SHA384"));
  ASSERT_TRUE(InspectPemRequest(pem).ok());
  auto tampered = InspectPemRequest(testing::TamperSignature(pem));
  ASSERT_FALSE(tampered.ok());
  EXPECT_NE(tampered.error().message.find("the request's signature does not verify"),
            std::string::npos)
      << tampered.error().message;

  // Signed with other parameters than the AlgorithmIdentifier states, which is then Go's: each
  // signature verifies only with what it was made with.
  const std::string go = PssAlgorithm(GoFields(kSha256, 32));
  for (const RequestSpec& signed_with :
       {PssSpec("SHA256", {"", 20}), PssSpec("SHA256", {"SHA1", -1}),
        PssSpec("SHA256", {"SHA512", -1}), PssSpec("SHA256", {"", 31}), [] {
          RequestSpec pkcs1 = PssSpec();
          pkcs1.pss.reset();
          return pkcs1;
        }()}) {
    ExpectRefusedDer(WithAlgorithm(go, signed_with), "the request's signature does not verify");
  }
}

TEST(CsrInspectorPssTest, RefusesIdRsassaPssKeys) {
  RequestSpec spec = PssSpec();
  spec.pss.reset();  // an RSA-PSS key signs with PSS by itself
  spec.key = KeySpec::RsaPss(2048);
  ExpectRefusedDer(testing::MakeRequestDer(spec),
                   "the request's public key is an id-RSASSA-PSS key; write an RSA key as "
                   "rsaEncryption");
}

TEST(CsrInspectorPssTest, DegenerateRsaKeysAreRefusedAsForPkcs1) {
  const RequestSpec spec = PssSpec();
  BIGNUM* raw = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(testing::CachedKey(spec.key).get(), OSSL_PKEY_PARAM_RSA_N, &raw),
            1);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> modulus(raw, BN_free);
  std::string modulus_bytes(static_cast<size_t>(BN_num_bytes(modulus.get())) + 1, '\0');
  BN_bn2bin(modulus.get(), reinterpret_cast<unsigned char*>(modulus_bytes.data()) + 1);
  const std::string key = der::Sequence({der::Tlv(0x02, modulus_bytes), Integer(1)});
  const std::string spki = der::Sequence(
      {Algorithm("1.2.840.113549.1.1.1", kNull), der::Tlv(0x03, std::string(1, '\0') + key)});
  ExpectRefusedDer(testing::EditInfoAndResign(spec,
                                              [&](std::string info) {
                                                auto children = der::Children(info);
                                                children.at(2) = spki;
                                                return der::Sequence(children);
                                              }),
                   "the request's RSA key has the public exponent 1");
}

}  // namespace
}  // namespace kca
