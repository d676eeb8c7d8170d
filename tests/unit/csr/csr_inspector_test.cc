// What the inspector reports for well-formed requests made by the test factory.
#include "kube_csr_approver/csr/csr_inspector.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/err.h>

#include <thread>

#include "csr_factory.h"

namespace kca {
namespace {

using testing::KeySpec;
using testing::MakeRequestPem;
using testing::RequestSpec;

CsrFacts InspectOk(const RequestSpec& spec) {
  auto facts = InspectPemRequest(MakeRequestPem(spec));
  if (!facts.ok()) {
    ADD_FAILURE() << facts.error().message;
    return {};
  }
  return *facts;
}

RequestSpec WithKey(KeySpec key) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}};
  spec.key = std::move(key);
  return spec;
}

TEST(CsrInspectorTest, ReportsRsaKeysWithTheirSize) {
  const CsrFacts rsa2048 = InspectOk(WithKey(KeySpec::Rsa(2048)));
  EXPECT_EQ(rsa2048.key.algorithm, KeyAlgorithm::kRsa);
  EXPECT_EQ(rsa2048.key.bits, 2048);
  EXPECT_EQ(rsa2048.key.curve, "");
  EXPECT_EQ(rsa2048.signature_algorithm, "sha256WithRSAEncryption");

  // Weak but well-formed: refusing small keys is the policy's job (minRSABits).
  const CsrFacts rsa1024 = InspectOk(WithKey(KeySpec::Rsa(1024)));
  EXPECT_EQ(rsa1024.key.bits, 1024);
}

TEST(CsrInspectorTest, ReportsEcdsaCurvesByNistName) {
  struct Case {
    const char* curve;
    int bits;
  };
  for (const Case& c : {Case{"P-256", 256}, Case{"P-384", 384}, Case{"P-521", 521}}) {
    const CsrFacts facts = InspectOk(WithKey(KeySpec::Ecdsa(c.curve)));
    EXPECT_EQ(facts.key.algorithm, KeyAlgorithm::kEcdsa);
    EXPECT_EQ(facts.key.curve, c.curve);
    EXPECT_EQ(facts.key.bits, c.bits);
    EXPECT_EQ(facts.signature_algorithm, "ecdsa-with-SHA256");
  }
}

TEST(CsrInspectorTest, ReportsNonNistCurvesByOpenSslName) {
  const CsrFacts facts = InspectOk(WithKey(KeySpec::Ecdsa("secp256k1")));
  EXPECT_EQ(facts.key.algorithm, KeyAlgorithm::kEcdsa);
  EXPECT_EQ(facts.key.curve, "secp256k1");
}

TEST(CsrInspectorTest, ReportsEd25519) {
  const CsrFacts facts = InspectOk(WithKey(KeySpec::Ed25519()));
  EXPECT_EQ(facts.key.algorithm, KeyAlgorithm::kEd25519);
  EXPECT_EQ(facts.key.bits, 256);
  EXPECT_EQ(facts.signature_algorithm, "ED25519");
  EXPECT_EQ(KeyAlgorithmName(facts.key.algorithm), "Ed25519");
  EXPECT_EQ(KeyAlgorithmName(KeyAlgorithm::kRsa), "RSA");
  EXPECT_EQ(KeyAlgorithmName(KeyAlgorithm::kEcdsa), "ECDSA");
}

TEST(CsrInspectorTest, AcceptsStrongerDigests) {
  RequestSpec spec = WithKey(KeySpec::Rsa(2048));
  spec.digest = "SHA384";
  EXPECT_EQ(InspectOk(spec).signature_algorithm, "sha384WithRSAEncryption");
  spec.digest = "SHA512";
  EXPECT_EQ(InspectOk(spec).signature_algorithm, "sha512WithRSAEncryption");
  spec.key = KeySpec::Ecdsa("P-384");
  spec.digest = "SHA384";
  EXPECT_EQ(InspectOk(spec).signature_algorithm, "ecdsa-with-SHA384");
}

TEST(CsrInspectorTest, ReportsEverySubjectAttributeInOrder) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"},        {"O", "team-a"},
                  {"O", "team-b"},        {"OU", "ops"},
                  {"OU", "dev"},          {"C", "DE"},
                  {"ST", "Bavaria"},      {"L", "München"},
                  {"serialNumber", "42"}, {"1.3.6.1.4.1.99999.1", "custom"}};
  const CsrFacts facts = InspectOk(spec);
  ASSERT_EQ(facts.subject.size(), 10u);
  const std::vector<std::string> types = {"CN", "O",  "O", "OU",           "OU",
                                          "C",  "ST", "L", "serialNumber", "1.3.6.1.4.1.99999.1"};
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(facts.subject[i].type, types[i]) << i;
    EXPECT_EQ(facts.subject[i].value, spec.subject[i].second) << i;
  }
  EXPECT_EQ(facts.subject[0].oid, "2.5.4.3");
  EXPECT_EQ(facts.subject[9].oid, "1.3.6.1.4.1.99999.1");
  EXPECT_EQ(facts.common_names, std::vector<std::string>{"alice"});
  EXPECT_EQ(facts.organizations, (std::vector<std::string>{"team-a", "team-b"}));
  EXPECT_EQ(facts.organizational_units, (std::vector<std::string>{"ops", "dev"}));
}

TEST(CsrInspectorTest, ReportsEveryCommonName) {
  RequestSpec spec;
  spec.subject = {{"CN", "alice"}, {"O", "x"}, {"CN", "system:admin"}};
  const CsrFacts facts = InspectOk(spec);
  EXPECT_EQ(facts.common_names, (std::vector<std::string>{"alice", "system:admin"}));
}

TEST(CsrInspectorTest, ReportsAnEmptySubject) {
  const CsrFacts facts = InspectOk(RequestSpec{});
  EXPECT_TRUE(facts.subject.empty());
  EXPECT_TRUE(facts.common_names.empty());
  EXPECT_TRUE(facts.sans.empty());
  EXPECT_FALSE(facts.extensions.has_basic_constraints);
}

TEST(CsrInspectorTest, ConvertsOtherStringTypesToUtf8) {
  RequestSpec spec;
  // "é" as a BMPString (UTF-16BE) and a PrintableString: both legal in names.
  spec.raw_subject = {{"CN", V_ASN1_BMPSTRING, std::string("\x00\xe9", 2)},
                      {"O", V_ASN1_PRINTABLESTRING, "Example Org"}};
  const CsrFacts facts = InspectOk(spec);
  EXPECT_EQ(facts.common_names, std::vector<std::string>{"\xc3\xa9"});
  EXPECT_EQ(facts.organizations, std::vector<std::string>{"Example Org"});
}

TEST(CsrInspectorTest, ReportsSansOfEveryType) {
  RequestSpec spec;
  spec.dns_names = {"Node-1.Example.com", "*.apps.example.com"};
  spec.ip_addresses = {"10.0.0.1", "2001:0db8:0:0:0:0:0:0001", "::ffff:192.0.2.7"};
  spec.email_addresses = {"alice@example.com"};
  spec.uris = {"spiffe://cluster.local/ns/a/sa/b"};
  spec.other_name = true;
  spec.directory_name = true;
  spec.registered_id = true;
  const CsrFacts facts = InspectOk(spec);
  EXPECT_EQ(facts.sans.dns_names,
            (std::vector<std::string>{"Node-1.Example.com", "*.apps.example.com"}));
  ASSERT_EQ(facts.sans.ip_addresses.size(), 3u);
  EXPECT_EQ(facts.sans.ip_addresses[0].ToString(), "10.0.0.1");
  EXPECT_EQ(facts.sans.ip_addresses[1].ToString(), "2001:db8::1");
  EXPECT_TRUE(facts.sans.ip_addresses[2].is_v4());
  EXPECT_EQ(facts.sans.ip_addresses[2].ToString(), "192.0.2.7");
  EXPECT_EQ(facts.sans.email_addresses, std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(facts.sans.uris, std::vector<std::string>{"spiffe://cluster.local/ns/a/sa/b"});
  EXPECT_EQ(facts.sans.other, (std::vector<std::string>{"otherName 1.3.6.1.4.1.311.20.2.3",
                                                        "directoryName", "registeredID 1.2.3.4"}));
  EXPECT_FALSE(facts.sans.empty());
}

TEST(CsrInspectorTest, ReportsRequestedExtensions) {
  RequestSpec spec;
  spec.basic_constraints_ca = true;
  spec.key_usages = {"digitalSignature", "keyEncipherment", "keyCertSign"};
  spec.extended_key_usages = {"clientAuth", "serverAuth", "1.3.6.1.4.1.99999.7"};
  const CsrFacts facts = InspectOk(spec);
  EXPECT_TRUE(facts.extensions.has_basic_constraints);
  EXPECT_TRUE(facts.extensions.basic_constraints_ca);
  EXPECT_EQ(
      facts.extensions.key_usages,
      (std::vector<std::string>{"Digital Signature", "Key Encipherment", "Certificate Sign"}));
  EXPECT_EQ(facts.extensions.extended_key_usages,
            (std::vector<std::string>{"TLS Web Client Authentication",
                                      "TLS Web Server Authentication", "1.3.6.1.4.1.99999.7"}));

  spec = RequestSpec{};
  spec.basic_constraints_ca = false;
  const CsrFacts not_ca = InspectOk(spec);
  EXPECT_TRUE(not_ca.extensions.has_basic_constraints);
  EXPECT_FALSE(not_ca.extensions.basic_constraints_ca);
}

TEST(CsrInspectorTest, DecodesBase64WithLineBreaksAndCrlfPem) {
  RequestSpec spec = WithKey(KeySpec::Ecdsa("P-256"));
  std::string pem = MakeRequestPem(spec);
  std::string crlf;
  for (char c : pem) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const std::string padded = "\n  \t" + crlf + "\r\n\n   ";
  std::string base64 = testing::Base64Encode(padded);
  std::string wrapped;
  for (size_t i = 0; i < base64.size(); i += 76) wrapped += base64.substr(i, 76) + "\n";

  auto facts = InspectEncodedRequest(wrapped);
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->common_names, std::vector<std::string>{"alice"});
}

TEST(CsrInspectorTest, AcceptsTheLargestAllowedRequest) {
  RequestSpec spec = WithKey(KeySpec::Ecdsa("P-256"));
  for (int i = 0; i < 200; ++i)
    spec.dns_names.push_back("host-" + std::to_string(i) + ".example.com");
  const std::string pem = MakeRequestPem(spec);
  ASSERT_LT(pem.size(), kMaxRequestBytes);
  auto facts = InspectEncodedRequest(testing::Base64Encode(pem));
  ASSERT_TRUE(facts.ok()) << facts.error().message;
  EXPECT_EQ(facts->sans.dns_names.size(), 200u);
}

TEST(CsrInspectorTest, IsSafeToCallFromManyThreads) {
  const std::string pem = MakeRequestPem(WithKey(KeySpec::Ecdsa("P-256")));
  const std::string bad = testing::TamperSignature(pem);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!InspectPemRequest(pem).ok() || InspectPemRequest(bad).ok()) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(CsrInspectorTest, LeavesNoOpenSslErrorsBehind) {
  ERR_put_error(ERR_LIB_X509, 0, 0, __FILE__, __LINE__);  // a stale error from someone else
  EXPECT_TRUE(InspectPemRequest(MakeRequestPem(WithKey(KeySpec::Rsa(2048)))).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_FALSE(InspectPemRequest("-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n"
                                 "-----END CERTIFICATE REQUEST-----\n")
                   .ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace kca
