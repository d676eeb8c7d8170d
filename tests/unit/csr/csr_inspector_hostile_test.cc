// Requests that prove nothing or parse ambiguously (DESIGN.md, same title): each is refused with
// its reason. Every case is crafted so that, without its check, OpenSSL would read it (the
// request is signed again over the altered bytes), so each test fails without the refusal.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "csr_factory.h"
#include "kube_csr_approver/csr/csr_inspector.h"

namespace kca {
namespace {

namespace der = testing::der;
using testing::DerToPem;
using testing::EditInfoAndResign;
using testing::EditInfoWithSignature;
using testing::KeySpec;
using testing::RequestSpec;

RequestSpec Basic(KeySpec key = KeySpec::Ecdsa("P-256")) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}, {"O", "team-a"}};
  spec.key = std::move(key);
  return spec;
}

std::string Pem(const std::string& der) { return DerToPem(der, "CERTIFICATE REQUEST"); }

void ExpectRefusedDer(const std::string& der, const std::string& expected) {
  auto facts = InspectPemRequest(Pem(der));
  ASSERT_FALSE(facts.ok()) << "accepted; expected: " << expected;
  EXPECT_NE(facts.error().message.find(expected), std::string::npos) << facts.error().message;
}

// CertificationRequestInfo children: version, subject, subjectPKInfo, [0] attributes.
enum InfoPart { kVersion = 0, kSubject = 1, kKey = 2, kAttributes = 3 };

std::function<std::string(std::string)> Replace(InfoPart part, std::string replacement) {
  return [part, replacement](std::string info) {
    std::vector<std::string> children = der::Children(info);
    children.at(part) = replacement;
    return der::Sequence(children);
  };
}

std::string BitString(std::string_view bytes) {
  return der::Tlv(0x03, std::string(1, '\0') + std::string(bytes));
}

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

TEST(CsrInspectorHostileTest, ControlRequestsThroughTheRebuildPathAreAccepted) {
  // The rebuild path itself does not make requests fail: only the crafted bytes do.
  for (const KeySpec& key : {KeySpec::Ecdsa("P-256"), KeySpec::Rsa(2048), KeySpec::Ed25519()}) {
    auto facts = InspectPemRequest(Pem(EditInfoAndResign(
        Basic(key), [](std::string info) { return der::Sequence(der::Children(info)); })));
    EXPECT_TRUE(facts.ok()) << facts.error().message;
  }
}

// --- keys whose signature proves nothing ---------------------------------------------------

std::string Ed25519Spki(std::string_view point) {
  return der::Sequence({der::Sequence({der::Oid("1.3.101.112")}), BitString(point)});
}

TEST(CsrInspectorHostileTest, Ed25519IdentityKeyWithTheUniversalSignatureIsRefused) {
  // A = identity, R = identity, S = 0: [S]B = R + [k]A holds for every message k.
  const std::string identity = Hex("01" + std::string(62, '0'));
  const std::string signature = identity + std::string(32, '\0');
  ExpectRefusedDer(EditInfoWithSignature(Basic(KeySpec::Ed25519()),
                                         Replace(kKey, Ed25519Spki(identity)), signature),
                   "the request's Ed25519 key is a point of small order");
}

TEST(CsrInspectorHostileTest, EverySmallOrderEd25519EncodingIsRefused) {
  const std::vector<std::string> encodings = {
      // the 8 points, canonical: y = 1, p-1, 0 (two x), +-y8 (two x each)
      "0100000000000000000000000000000000000000000000000000000000000000",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0000000000000000000000000000000000000000000000000000000000000080",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
      // non-canonical: x = 0 with the sign bit set, y = p (reads 0) and y = p + 1 (reads 1)
      "0100000000000000000000000000000000000000000000000000000000000080",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  };
  for (const std::string& hex : encodings) {
    SCOPED_TRACE(hex);
    ExpectRefusedDer(
        EditInfoAndResign(Basic(KeySpec::Ed25519()), Replace(kKey, Ed25519Spki(Hex(hex)))),
        "point of small order");
  }
}

std::string EcSpki(std::string_view curve_parameter, std::string_view point) {
  return der::Sequence(
      {der::Sequence({der::Oid("1.2.840.10045.2.1"), std::string(curve_parameter)}),
       BitString(point)});
}

std::string UncompressedPoint(const RequestSpec& spec) {
  unsigned char point[133];
  size_t length = 0;
  EVP_PKEY_get_octet_string_param(testing::CachedKey(spec.key).get(), OSSL_PKEY_PARAM_PUB_KEY,
                                  point, sizeof(point), &length);
  return std::string(reinterpret_cast<const char*>(point), length);
}

TEST(CsrInspectorHostileTest, DegenerateEcKeysAreRefused) {
  const RequestSpec spec = Basic();
  const std::string p256 = der::Oid("1.2.840.10045.3.1.7");
  const std::string point = UncompressedPoint(spec);
  ASSERT_EQ(point.size(), 65u);
  const char parity = static_cast<char>(0x02 | (point.back() & 1));
  const std::string compressed = std::string(1, parity) + point.substr(1, 32);

  SCOPED_TRACE("infinity");
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(p256, std::string(1, '\0')))),
                   "the request's ECDSA key is the point at infinity");
  SCOPED_TRACE("compressed");
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(p256, compressed))),
                   "the request's ECDSA key is a compressed point");
  std::string hybrid = point;
  hybrid[0] = static_cast<char>(0x06 | (point.back() & 1));
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(p256, hybrid))),
                   "unknown point form 0x0");
  SCOPED_TRACE("implicit");
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(der::Tlv(0x05, ""), point))),
                   "does not name its curve");
  SCOPED_TRACE("unknown curve");
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(der::Oid("1.2.3.4"), point))),
                   "names an unknown curve 1.2.3.4");
}

// The common curves' keys are built from cached curve parameters (csr_inspector.cc): the point
// must still be checked against the curve, or a key no private key matches would be read.
TEST(CsrInspectorHostileTest, EcPointsOffTheCurveAreUndecodable) {
  for (const char* curve : {"P-256", "P-384", "P-521"}) {
    SCOPED_TRACE(curve);
    const RequestSpec spec = Basic(KeySpec::Ecdsa(curve));
    const std::string curve_oid =
        der::Children(
            der::Children(
                der::Children(der::Children(testing::MakeRequestDer(spec)).at(0)).at(kKey))
                .at(0))
            .at(1);
    std::string off_curve = UncompressedPoint(spec);
    off_curve.back() = static_cast<char>(off_curve.back() ^ 1);  // y changed: not on the curve
    ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(curve_oid, off_curve))),
                     "the request's public key cannot be decoded");
    const std::string truncated = UncompressedPoint(spec).substr(0, 64);
    ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, EcSpki(curve_oid, truncated))),
                     "the request's public key cannot be decoded");
  }
}

std::string Integer(const BIGNUM* number) {
  std::string bytes(static_cast<size_t>(BN_num_bytes(number)), '\0');
  BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
  if (bytes.empty() || (static_cast<unsigned char>(bytes[0]) & 0x80) != 0) bytes.insert(0, 1, '\0');
  return der::Tlv(0x02, bytes);
}

std::string RsaSpki(const BIGNUM* modulus, const BIGNUM* exponent) {
  const std::string key = der::Sequence({Integer(modulus), Integer(exponent)});
  return der::Sequence(
      {der::Sequence({der::Oid("1.2.840.113549.1.1.1"), der::Tlv(0x05, "")}), BitString(key)});
}

TEST(CsrInspectorHostileTest, DegenerateRsaKeysAreRefused) {
  const RequestSpec spec = Basic(KeySpec::Rsa(2048));
  BIGNUM* raw = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(testing::CachedKey(spec.key).get(), OSSL_PKEY_PARAM_RSA_N, &raw),
            1);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> modulus(raw, BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> exponent(BN_new(), BN_free);
  for (unsigned long e : {1ul, 2ul, 65536ul}) {
    SCOPED_TRACE(e);
    BN_set_word(exponent.get(), e);
    ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, RsaSpki(modulus.get(), exponent.get()))),
                     "the request's RSA key has the public exponent " + std::to_string(e) +
                         "; it must be odd and at least 3");
  }
  BN_set_word(exponent.get(), 65537);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> even(BN_dup(modulus.get()), BN_free);
  BN_sub_word(even.get(), 1);
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, RsaSpki(even.get(), exponent.get()))),
                   "the request's RSA key has an even modulus");
  // The key inside the BIT STRING is DER too.
  const std::string key =
      der::TlvLongLength(0x30, Integer(modulus.get()) + Integer(exponent.get()), /*extra=*/1);
  const std::string spki = der::Sequence(
      {der::Sequence({der::Oid("1.2.840.113549.1.1.1"), der::Tlv(0x05, "")}), BitString(key)});
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, spki)),
                   "the request's RSA key is refused: the request is not strict DER");
}

TEST(CsrInspectorHostileTest, OtherAlgorithmsAreRefusedByName) {
  const RequestSpec spec = Basic();
  const std::string x25519 =
      der::Sequence({der::Sequence({der::Oid("1.3.101.110")}), BitString(std::string(32, '\x09'))});
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, x25519)),
                   "the request's public key is X25519; only RSA, ECDSA and Ed25519");
  const std::string ml_dsa = der::Sequence(
      {der::Sequence({der::Oid("2.16.840.1.101.3.4.3.18")}), BitString(std::string(1952, '\x01'))});
  ExpectRefusedDer(EditInfoAndResign(spec, Replace(kKey, ml_dsa)),
                   "the request's public key is ML-DSA-65; only RSA, ECDSA and Ed25519");
}

// --- extension requests --------------------------------------------------------------------

// Extensions { subjectAltName dNSName "x.example.com", basicConstraints CA:TRUE }
std::string SmuggledExtensions() {
  const std::string san = der::Sequence({der::Tlv(0x82, "x.example.com")});
  const std::string ca = der::Sequence({der::Tlv(0x01, "\xff")});
  return der::Sequence({der::Sequence({der::Oid("2.5.29.17"), der::Tlv(0x04, san)}),
                        der::Sequence({der::Oid("2.5.29.19"), der::Tlv(0x04, ca)})});
}

TEST(CsrInspectorHostileTest, MicrosoftMsExtReqIsRefused) {
  RequestSpec spec = Basic();
  spec.dns_names = {"a.example.com"};  // the extensionRequest OpenSSL reads first
  spec.raw_attributes = {{"1.3.6.1.4.1.311.2.1.14", V_ASN1_SEQUENCE, SmuggledExtensions()}};
  ExpectRefusedDer(testing::MakeRequestDer(spec),
                   "the request has a Microsoft msExtReq attribute (1.3.6.1.4.1.311.2.1.14)");
  spec.dns_names.clear();  // alone, OpenSSL would read its SAN and CA:TRUE as the request's
  ExpectRefusedDer(testing::MakeRequestDer(spec), "msExtReq");
}

// --- strict DER ----------------------------------------------------------------------------

TEST(CsrInspectorHostileTest, NonMinimalLengthIsRefused) {
  const RequestSpec spec = Basic();
  ExpectRefusedDer(EditInfoAndResign(spec,
                                     [](std::string info) {
                                       auto children = der::Children(info);
                                       children[kSubject] = der::TlvLongLength(
                                           0x30, der::Content(children[kSubject]));
                                       return der::Sequence(children);
                                     }),
                   "a length in long form that fits the short form (BER, not DER)");
  ExpectRefusedDer(EditInfoAndResign(spec,
                                     [](std::string info) {
                                       auto children = der::Children(info);
                                       return der::TlvLongLength(0x30, der::Content(info), 1);
                                     }),
                   "a length with leading zero bytes");
}

TEST(CsrInspectorHostileTest, IndefiniteLengthIsRefused) {
  ExpectRefusedDer(EditInfoAndResign(Basic(),
                                     [](std::string info) {
                                       auto children = der::Children(info);
                                       children[kSubject] = der::TlvIndefinite(
                                           0x30, der::Content(children[kSubject]));
                                       return der::Sequence(children);
                                     }),
                   "an indefinite length (BER, not DER)");
}

TEST(CsrInspectorHostileTest, UnsortedSetOfInAnRdnIsRefused) {
  // One RDN holding O and CN: DER sorts CN (2.5.4.3) before O (2.5.4.10).
  const std::string unsorted =
      der::Tlv(0x31, der::TypeAndValue("2.5.4.10", "team-a") + der::TypeAndValue("2.5.4.3", "a1"));
  ExpectRefusedDer(EditInfoAndResign(Basic(), Replace(kSubject, der::Sequence({unsorted}))),
                   "SET OF elements out of DER order");
  const std::string sorted =
      der::Tlv(0x31, der::TypeAndValue("2.5.4.3", "a1") + der::TypeAndValue("2.5.4.10", "team-a"));
  auto facts = InspectPemRequest(
      Pem(EditInfoAndResign(Basic(), Replace(kSubject, der::Sequence({sorted})))));
  EXPECT_TRUE(facts.ok()) << facts.error().message;
}

TEST(CsrInspectorHostileTest, EmptyRdnIsRefused) {
  const std::string cn = der::Tlv(0x31, der::TypeAndValue("2.5.4.3", "alice"));
  ExpectRefusedDer(
      EditInfoAndResign(Basic(), Replace(kSubject, der::Sequence({der::Tlv(0x31, ""), cn}))),
      "an empty SET (e.g. an empty RDN in a name)");
}

TEST(CsrInspectorHostileTest, UnsortedAttributesAreRefused) {
  RequestSpec spec = Basic();
  spec.dns_names = {"a.example.com"};
  ExpectRefusedDer(EditInfoAndResign(spec,
                                     [](std::string info) {
                                       auto children = der::Children(info);
                                       // challengePassword after extensionRequest: the
                                       // longer encoding sorts last in DER, so put it first.
                                       const std::string password = der::Sequence(
                                           {der::Oid("1.2.840.113549.1.9.7"),
                                            der::Tlv(0x31, der::Utf8("secret-but-long-enough-"
                                                                     "to-sort-after-the-other"
                                                                     "-attribute-xxxxxxxxxxx"))});
                                       std::vector<std::string> attributes =
                                           der::Children(children[kAttributes]);
                                       attributes.push_back(password);
                                       std::sort(attributes.begin(), attributes.end());
                                       std::reverse(attributes.begin(), attributes.end());
                                       std::string content;
                                       for (const auto& a : attributes) content += a;
                                       children[kAttributes] = der::Tlv(0xA0, content);
                                       return der::Sequence(children);
                                     }),
                   "its attributes (a SET OF) are out of DER order");
}

TEST(CsrInspectorHostileTest, OtherBerFormsAreRefused) {
  // version 0 as a two-byte INTEGER: OpenSSL refuses it itself, so it only reads "malformed"
  EXPECT_FALSE(
      InspectPemRequest(
          Pem(EditInfoAndResign(Basic(), Replace(kVersion, der::Tlv(0x02, std::string(2, '\0'))))))
          .ok());
  // a constructed UTF8String (BER's segmented strings)
  const std::string segmented = der::Tlv(0x2C, der::Utf8("ali") + der::Utf8("ce"));
  const std::string rdn = der::Tlv(0x31, der::Sequence({der::Oid("2.5.4.3"), segmented}));
  ExpectRefusedDer(EditInfoAndResign(Basic(), Replace(kSubject, der::Sequence({rdn}))),
                   "a constructed string (BER, not DER)");
}

TEST(CsrInspectorHostileTest, BerInsideAnExtensionValueIsRefused) {
  RequestSpec spec = Basic();
  const std::string san =
      der::TlvLongLength(0x30, der::Tlv(0x82, "x.example.com"));  // 30 81 0f ...
  spec.raw_extensions = {{"2.5.29.17", san, false}};
  ExpectRefusedDer(testing::MakeRequestDer(spec),
                   "the extension X509v3 Subject Alternative Name is refused: the request is not "
                   "strict DER: a length in long form");
}

}  // namespace
}  // namespace kca
