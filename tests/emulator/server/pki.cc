#include "pki.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kca::emulator {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
void FreeBio(BIO* b) { BIO_free(b); }
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, FreeBio>>;

std::string OpenSslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = {0};
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return what + ": " + (code != 0 ? buf : "unknown OpenSSL error");
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioToString(bio.get());
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioToString(bio.get());
}

PkeyPtr NewKey() { return PkeyPtr(EVP_EC_gen("P-256")); }

X509Ptr ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

void SetSerialAndValidity(X509* cert, long days) {
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_set_version(cert, 2);
  // Backdated so clocks that disagree by a little still accept the certificate.
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), days * 24 * 3600);
}

std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteWholeFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

}  // namespace

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  RAND_bytes(buf.data(), static_cast<int>(bytes));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Result<KeyPair> LoadOrCreateCa(const std::string& data_dir) {
  namespace fs = std::filesystem;
  fs::path cert_path = fs::path(data_dir) / "ca.crt";
  fs::path key_path = fs::path(data_dir) / "ca.key";
  if (fs::exists(cert_path) && fs::exists(key_path)) {
    KeyPair ca{ReadWholeFile(cert_path), ReadWholeFile(key_path)};
    if (!ReadCert(ca.cert_pem) || !ReadKey(ca.key_pem)) {
      return Error{"cannot load the CA from " + cert_path.string() + " and " + key_path.string() +
                   ": not a PEM certificate and private key; delete both to generate a new CA"};
    }
    return ca;
  }
  PkeyPtr key = NewKey();
  X509Ptr cert(X509_new());
  if (!key || !cert) return Error{OpenSslError("cannot generate the emulator CA key")};
  SetSerialAndValidity(cert.get(), 3650);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("kube-apiserver-emulator-ca"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert.get(), cert.get(), NID_key_usage,
               "critical,keyCertSign,cRLSign,digitalSignature");
  AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Error{OpenSslError("cannot self-sign the emulator CA")};
  }
  KeyPair ca{CertPem(cert.get()), KeyPem(key.get())};
  if (!WriteWholeFile(cert_path, ca.cert_pem) || !WriteWholeFile(key_path, ca.key_pem)) {
    return Error{"cannot write the CA into " + data_dir + ": check that the directory is writable"};
  }
  fs::permissions(key_path, fs::perms::owner_read | fs::perms::owner_write);
  return ca;
}

Result<KeyPair> IssueCertificate(const KeyPair& ca, const std::string& common_name,
                                 const std::vector<std::string>& organizations, bool serving) {
  X509Ptr ca_cert = ReadCert(ca.cert_pem);
  PkeyPtr ca_key = ReadKey(ca.key_pem);
  if (!ca_cert || !ca_key) return Error{"the emulator CA is not a PEM certificate and key"};
  PkeyPtr key = NewKey();
  X509Ptr cert(X509_new());
  if (!key || !cert) return Error{OpenSslError("cannot generate a key for " + common_name)};
  SetSerialAndValidity(cert.get(), 365);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const std::string& org : organizations) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  X509_set_pubkey(cert.get(), key.get());
  AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), ca_cert.get(), NID_key_usage,
               "critical,digitalSignature,keyEncipherment");
  AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, serving ? "serverAuth" : "clientAuth");
  AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid");
  if (serving) {
    AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name,
                 "DNS:localhost,IP:127.0.0.1,IP:::1");
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return Error{OpenSslError("cannot sign the certificate for " + common_name)};
  }
  return KeyPair{CertPem(cert.get()), KeyPem(key.get())};
}

namespace {

std::vector<std::string> NameEntries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) {
      out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  return out;
}

CsrSubject SubjectOfName(X509_NAME* name) {
  CsrSubject subject;
  std::vector<std::string> cns = NameEntries(name, NID_commonName);
  if (!cns.empty()) subject.common_name = cns.front();
  subject.organizations = NameEntries(name, NID_organizationName);
  return subject;
}

}  // namespace

CsrSubject SubjectOfCertificate(X509* certificate) {
  return SubjectOfName(X509_get_subject_name(certificate));
}

Result<CsrSubject> ParseCertificateRequest(const std::string& pem) {
  const std::string kTypeError = "PEM block type must be CERTIFICATE REQUEST";
  if (pem.empty()) return Error{kTypeError};
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* type = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long der_len = 0;
  if (PEM_read_bio(bio.get(), &type, &header, &der, &der_len) != 1) {
    ERR_clear_error();
    return Error{kTypeError};
  }
  std::string block_type = type;
  OPENSSL_free(type);
  OPENSSL_free(header);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owner(
      der, [](unsigned char* p) { OPENSSL_free(p); });
  if (block_type != "CERTIFICATE REQUEST") return Error{kTypeError};
  const unsigned char* cursor = der;
  ReqPtr req(d2i_X509_REQ(nullptr, &cursor, der_len));
  if (!req || cursor != der + der_len) {
    ERR_clear_error();
    return Error{"x509: malformed certificate request"};
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) {
    ERR_clear_error();
    return Error{"x509: unsupported public key algorithm"};
  }
  if (X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return Error{EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "crypto/rsa: verification error"
                                                           : "x509: ECDSA verification failure"};
  }
  return SubjectOfName(X509_REQ_get_subject_name(req.get()));
}

}  // namespace kca::emulator
