// Checks the test factory itself with plain OpenSSL calls, so that suites built on it test what
// they claim to test.
#include "csr_factory.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace kca::testing {
namespace {

struct ReqDeleter {
  void operator()(X509_REQ* req) const { X509_REQ_free(req); }
};
using ReqPtr = std::unique_ptr<X509_REQ, ReqDeleter>;

ReqPtr ParsePem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  return ReqPtr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
}

int Verify(X509_REQ* req) { return X509_REQ_verify(req, X509_REQ_get0_pubkey(req)); }

TEST(CsrFactoryTest, MakesVerifiableRequestsForEveryKeyType) {
  for (const KeySpec& key :
       {KeySpec::Rsa(2048), KeySpec::Rsa(1024), KeySpec::Ecdsa("P-256"), KeySpec::Ecdsa("P-384"),
        KeySpec::Ecdsa("P-521"), KeySpec::Ed25519(), KeySpec::Ed448()}) {
    RequestSpec spec;
    spec.subject = {{"CN", "alice"}};
    spec.key = key;
    ReqPtr req = ParsePem(MakeRequestPem(spec));
    ASSERT_NE(req, nullptr);
    EXPECT_EQ(Verify(req.get()), 1);
  }
}

TEST(CsrFactoryTest, KeepsSubjectOrderAndDuplicates) {
  RequestSpec spec;
  spec.subject = {{"CN", "a"}, {"O", "x"}, {"O", "y"}, {"CN", "b"}, {"2.5.4.5", "42"}};
  ReqPtr req = ParsePem(MakeRequestPem(spec));
  ASSERT_NE(req, nullptr);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  ASSERT_EQ(X509_NAME_entry_count(name), 5);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, 3))), NID_commonName);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, 4))),
            NID_serialNumber);
}

TEST(CsrFactoryTest, WritesEverySanTypeAndExtension) {
  RequestSpec spec;
  spec.dns_names = {"a.example.com"};
  spec.ip_addresses = {"10.0.0.1", "2001:db8::1"};
  spec.email_addresses = {"a@example.com"};
  spec.uris = {"spiffe://cluster/ns/a"};
  spec.other_name = true;
  spec.directory_name = true;
  spec.registered_id = true;
  spec.basic_constraints_ca = true;
  spec.key_usages = {"digitalSignature"};
  spec.extended_key_usages = {"clientAuth"};
  ReqPtr req = ParsePem(MakeRequestPem(spec));
  ASSERT_NE(req, nullptr);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  ASSERT_NE(exts, nullptr);
  EXPECT_EQ(sk_X509_EXTENSION_num(exts), 4);
  auto* names =
      static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(sk_GENERAL_NAME_num(names), 8);
  GENERAL_NAMES_free(names);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

TEST(CsrFactoryTest, SignsWithWeakDigestsWhenAsked) {
  RequestSpec spec;
  spec.key = KeySpec::Rsa(2048);
  spec.digest = "SHA1";
  ReqPtr sha1 = ParsePem(MakeRequestPem(spec));
  ASSERT_NE(sha1, nullptr);
  EXPECT_EQ(X509_REQ_get_signature_nid(sha1.get()), NID_sha1WithRSAEncryption);
  spec.digest = "MD5";
  ReqPtr md5 = ParsePem(MakeRequestPem(spec));
  ASSERT_NE(md5, nullptr);
  EXPECT_EQ(X509_REQ_get_signature_nid(md5.get()), NID_md5WithRSAEncryption);
}

TEST(CsrFactoryTest, TamperedAndMismatchedSignaturesFailToVerify) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}};
  for (const KeySpec& key : {KeySpec::Rsa(2048), KeySpec::Ecdsa("P-256"), KeySpec::Ed25519()}) {
    spec.key = key;
    ReqPtr tampered = ParsePem(TamperSignature(MakeRequestPem(spec)));
    ASSERT_NE(tampered, nullptr);
    EXPECT_NE(Verify(tampered.get()), 1);
  }
  spec.key = KeySpec::Ecdsa("P-256");
  spec.public_key_override = FreshKey(KeySpec::Ecdsa("P-256"));
  ReqPtr mismatched = ParsePem(MakeRequestPem(spec));
  ASSERT_NE(mismatched, nullptr);
  EXPECT_NE(Verify(mismatched.get()), 1);
}

TEST(CsrFactoryTest, CachesKeysPerSpecButFreshKeysAreNew) {
  EXPECT_EQ(CachedKey(KeySpec::Ecdsa("P-256")), CachedKey(KeySpec::Ecdsa("P-256")));
  EXPECT_NE(CachedKey(KeySpec::Ecdsa("P-256")), CachedKey(KeySpec::Ecdsa("P-384")));
  EXPECT_NE(FreshKey(KeySpec::Ed25519()), CachedKey(KeySpec::Ed25519()));
}

TEST(CsrFactoryTest, Base64AndPemRoundTrip) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  const std::string der = MakeRequestDer(RequestSpec{});
  EXPECT_EQ(PemToDer(DerToPem(der, "CERTIFICATE REQUEST")), der);
}

TEST(CsrFactoryTest, OtherPemBlocksCarryTheirLabels) {
  EXPECT_EQ(MakeCertificatePem(KeySpec::Ecdsa("P-256")).rfind("-----BEGIN CERTIFICATE-----", 0),
            0u);
  EXPECT_EQ(MakePrivateKeyPem(KeySpec::Ecdsa("P-256")).rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
}

TEST(CsrFactoryTest, CsrObjectCarriesTheRequestAsBase64) {
  CsrObjectSpec spec;
  spec.request_pem = "PEM";
  spec.expiration_seconds = 3600;
  spec.conditions = {{"Approved"}};
  spec.certificate_pem = "CERT";
  const nlohmann::json object = MakeCsrObject(spec);
  EXPECT_EQ(object["spec"]["request"], "UEVN");
  EXPECT_EQ(object["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ(object["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ(object["status"]["certificate"], "Q0VSVA==");
  EXPECT_EQ(object["metadata"]["name"], "test-csr");
}

}  // namespace
}  // namespace kca::testing
