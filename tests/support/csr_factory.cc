#include "csr_factory.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/dsa.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace kca::testing {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using BioPtr = Owned<BIO, BIO_free_all>;
using ReqPtr = Owned<X509_REQ, X509_REQ_free>;
using X509Ptr = Owned<X509, X509_free>;
using NamePtr = Owned<X509_NAME, X509_NAME_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using ExtPtr = Owned<X509_EXTENSION, X509_EXTENSION_free>;
using ObjPtr = Owned<ASN1_OBJECT, ASN1_OBJECT_free>;
using OctetPtr = Owned<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using GeneralNamePtr = Owned<GENERAL_NAME, GENERAL_NAME_free>;
using BasicConstraintsPtr = Owned<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;

void FreeExtensions(STACK_OF(X509_EXTENSION) * exts) {
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}
void FreeGeneralNames(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using ExtensionsPtr = Owned<STACK_OF(X509_EXTENSION), FreeExtensions>;
using GeneralNamesPtr = Owned<GENERAL_NAMES, FreeGeneralNames>;

[[noreturn]] void Fail(const std::string& step) {
  std::string detail;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    detail += std::string(" | ") + buffer;
  }
  throw std::runtime_error("csr_factory: " + step + detail);
}

template <typename T>
T* Check(T* pointer, const std::string& step) {
  if (pointer == nullptr) Fail(step);
  return pointer;
}

void Check(int rc, const std::string& step) {
  if (rc <= 0) Fail(step);
}

KeyPtr Generate(const KeySpec& spec) {
  EVP_PKEY* key = nullptr;
  switch (spec.type) {
    case KeyType::kRsa:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(spec.rsa_bits));
      break;
    case KeyType::kEcdsa:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", spec.curve.c_str());
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kEd448:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448");
      break;
    case KeyType::kRsaPss: {  // EVP_PKEY_Q_keygen takes a size only for "RSA"
      PkeyCtxPtr key_ctx(
          Check(EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr), "RSA-PSS ctx"));
      Check(EVP_PKEY_keygen_init(key_ctx.get()), "RSA-PSS keygen init");
      Check(EVP_PKEY_CTX_set_rsa_keygen_bits(key_ctx.get(), spec.rsa_bits), "RSA-PSS bits");
      Check(EVP_PKEY_keygen(key_ctx.get(), &key), "RSA-PSS keygen");
      break;
    }
    case KeyType::kDsa: {
      PkeyCtxPtr param_ctx(Check(EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr), "DSA ctx"));
      Check(EVP_PKEY_paramgen_init(param_ctx.get()), "DSA paramgen init");
      Check(EVP_PKEY_CTX_set_dsa_paramgen_bits(param_ctx.get(), spec.rsa_bits), "DSA bits");
      EVP_PKEY* params = nullptr;
      Check(EVP_PKEY_paramgen(param_ctx.get(), &params), "DSA paramgen");
      KeyPtr owned_params(params, EVP_PKEY_free);
      PkeyCtxPtr key_ctx(
          Check(EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr), "DSA key ctx"));
      Check(EVP_PKEY_keygen_init(key_ctx.get()), "DSA keygen init");
      Check(EVP_PKEY_keygen(key_ctx.get(), &key), "DSA keygen");
      break;
    }
  }
  return KeyPtr(Check(key, "key generation"), EVP_PKEY_free);
}

std::string CacheKey(const KeySpec& spec) {
  return std::to_string(static_cast<int>(spec.type)) + "/" + std::to_string(spec.rsa_bits) + "/" +
         spec.curve;
}

bool SignsWithoutDigest(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
}

const EVP_MD* DigestFor(EVP_PKEY* key, const std::string& name) {
  if (SignsWithoutDigest(key)) return nullptr;
  return Check(EVP_get_digestbyname(name.c_str()), "digest " + name);
}

ASN1_OBJECT* Oid(const std::string& text) {
  return Check(OBJ_txt2obj(text.c_str(), 0), "object identifier " + text);
}

void AddString(GENERAL_NAMES* names, int type, const std::string& value) {
  GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
  ASN1_IA5STRING* string = Check(ASN1_IA5STRING_new(), "ASN1_IA5STRING_new");
  if (ASN1_STRING_set(string, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(string);
    Fail("ASN1_STRING_set");
  }
  GENERAL_NAME_set0_value(name.get(), type, string);
  Check(sk_GENERAL_NAME_push(names, name.release()), "push SAN");
}

void AddIpBytes(GENERAL_NAMES* names, const std::string& bytes) {
  GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
  ASN1_OCTET_STRING* octets = Check(ASN1_OCTET_STRING_new(), "ASN1_OCTET_STRING_new");
  if (ASN1_OCTET_STRING_set(octets, reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size())) != 1) {
    ASN1_OCTET_STRING_free(octets);
    Fail("ASN1_OCTET_STRING_set");
  }
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets);
  Check(sk_GENERAL_NAME_push(names, name.release()), "push IP SAN");
}

std::string IpTextToBytes(const std::string& text) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) == 1) return std::string(buffer, buffer + 4);
  if (inet_pton(AF_INET6, text.c_str(), buffer) == 1) return std::string(buffer, buffer + 16);
  throw std::runtime_error("csr_factory: not an IP address: " + text);
}

void AddOtherName(GENERAL_NAMES* names) {
  GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
  ASN1_TYPE* value = Check(ASN1_TYPE_new(), "ASN1_TYPE_new");
  ASN1_UTF8STRING* utf8 = ASN1_UTF8STRING_new();
  ASN1_STRING_set(utf8, "user@example.com", -1);
  ASN1_TYPE_set(value, V_ASN1_UTF8STRING, utf8);
  Check(GENERAL_NAME_set0_othername(name.get(), Oid("1.3.6.1.4.1.311.20.2.3"), value), "otherName");
  Check(sk_GENERAL_NAME_push(names, name.release()), "push otherName");
}

void AddDirectoryName(GENERAL_NAMES* names) {
  GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
  X509_NAME* directory = Check(X509_NAME_new(), "X509_NAME_new");
  X509_NAME_add_entry_by_txt(directory, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("dir"), -1, -1, 0);
  GENERAL_NAME_set0_value(name.get(), GEN_DIRNAME, directory);
  Check(sk_GENERAL_NAME_push(names, name.release()), "push directoryName");
}

void AddRegisteredId(GENERAL_NAMES* names) {
  GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
  GENERAL_NAME_set0_value(name.get(), GEN_RID, Oid("1.2.3.4"));
  Check(sk_GENERAL_NAME_push(names, name.release()), "push registeredID");
}

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ",") + item;
  return joined;
}

void PushExtension(STACK_OF(X509_EXTENSION) * exts, X509_EXTENSION* ext, const std::string& step) {
  ExtPtr owned(Check(ext, step));
  Check(sk_X509_EXTENSION_push(exts, owned.release()), "push " + step);
}

ExtensionsPtr BuildExtensions(const RequestSpec& spec) {
  ExtensionsPtr exts(Check(sk_X509_EXTENSION_new_null(), "extension stack"));
  GeneralNamesPtr names(Check(sk_GENERAL_NAME_new_null(), "SAN stack"));
  for (const auto& dns : spec.dns_names) AddString(names.get(), GEN_DNS, dns);
  for (const auto& ip : spec.ip_addresses) AddIpBytes(names.get(), IpTextToBytes(ip));
  for (const auto& raw : spec.raw_ip_addresses) AddIpBytes(names.get(), raw);
  for (const auto& email : spec.email_addresses) AddString(names.get(), GEN_EMAIL, email);
  for (const auto& uri : spec.uris) AddString(names.get(), GEN_URI, uri);
  if (spec.other_name) AddOtherName(names.get());
  if (spec.directory_name) AddDirectoryName(names.get());
  if (spec.registered_id) AddRegisteredId(names.get());
  if (sk_GENERAL_NAME_num(names.get()) > 0) {
    PushExtension(exts.get(), X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()),
                  "subjectAltName");
  }
  if (spec.basic_constraints_ca.has_value()) {
    BasicConstraintsPtr constraints(Check(BASIC_CONSTRAINTS_new(), "BASIC_CONSTRAINTS_new"));
    constraints->ca = *spec.basic_constraints_ca ? 0xFF : 0;
    PushExtension(exts.get(), X509V3_EXT_i2d(NID_basic_constraints, 1, constraints.get()),
                  "basicConstraints");
  }
  if (!spec.key_usages.empty()) {
    const std::string value = Join(spec.key_usages);
    PushExtension(exts.get(), X509V3_EXT_conf_nid(nullptr, nullptr, NID_key_usage, value.c_str()),
                  "keyUsage " + value);
  }
  if (!spec.extended_key_usages.empty()) {
    const std::string value = Join(spec.extended_key_usages);
    PushExtension(exts.get(),
                  X509V3_EXT_conf_nid(nullptr, nullptr, NID_ext_key_usage, value.c_str()),
                  "extendedKeyUsage " + value);
  }
  for (const auto& raw : spec.raw_extensions) {
    ObjPtr oid(Oid(raw.oid));
    OctetPtr content(Check(ASN1_OCTET_STRING_new(), "ASN1_OCTET_STRING_new"));
    Check(
        ASN1_OCTET_STRING_set(content.get(), reinterpret_cast<const unsigned char*>(raw.der.data()),
                              static_cast<int>(raw.der.size())),
        "raw extension content");
    PushExtension(
        exts.get(),
        X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), raw.critical ? 1 : 0, content.get()),
        "raw extension " + raw.oid);
  }
  return exts;
}

// Length of the DER header (tag and length octets) and of the content at `at`.
std::pair<size_t, size_t> ReadTlv(std::string_view der, size_t at) {
  if (at + 2 > der.size()) throw std::runtime_error("csr_factory: truncated DER");
  const auto first = static_cast<unsigned char>(der[at + 1]);
  if (first < 0x80) return {2, first};
  const size_t octets = first & 0x7F;
  if (octets == 0 || octets > 4 || at + 2 + octets > der.size()) {
    throw std::runtime_error("csr_factory: unsupported DER length");
  }
  size_t length = 0;
  for (size_t i = 0; i < octets; ++i) {
    length = (length << 8) | static_cast<unsigned char>(der[at + 2 + i]);
  }
  return {2 + octets, length};
}

std::string Tlv(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  const size_t length = content.size();
  if (length < 0x80) {
    out += static_cast<char>(length);
  } else {
    std::string octets;
    for (size_t rest = length; rest > 0; rest >>= 8) {
      octets.insert(octets.begin(), static_cast<char>(rest & 0xFF));
    }
    out += static_cast<char>(0x80 | octets.size());
    out += octets;
  }
  out.append(content);
  return out;
}

// The three parts of a request's DER: CertificationRequestInfo, algorithm, signature TLVs.
struct RequestParts {
  std::string info;
  std::string algorithm;
};

RequestParts SplitRequest(const std::string& der) {
  const size_t info_at = ReadTlv(der, 0).first;
  const auto [info_header, info_length] = ReadTlv(der, info_at);
  RequestParts parts;
  parts.info = der.substr(info_at, info_header + info_length);
  const size_t algorithm_at = info_at + parts.info.size();
  const auto [algorithm_header, algorithm_length] = ReadTlv(der, algorithm_at);
  parts.algorithm = der.substr(algorithm_at, algorithm_header + algorithm_length);
  return parts;
}

std::string Assemble(const RequestParts& parts, std::string_view signature) {
  const std::string bits = Tlv(0x03, std::string(1, '\0') + std::string(signature));
  return Tlv(0x30, parts.info + parts.algorithm + bits);
}

using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;

// A signing context for `key` with the digest and padding `spec` asks for.
MdCtxPtr SigningContext(EVP_PKEY* key, const RequestSpec& spec) {
  MdCtxPtr ctx(Check(EVP_MD_CTX_new(), "EVP_MD_CTX_new"));
  EVP_PKEY_CTX* key_ctx = nullptr;
  Check(EVP_DigestSignInit(ctx.get(), &key_ctx, DigestFor(key, spec.digest), nullptr, key),
        "EVP_DigestSignInit");
  if (spec.pss) {
    const std::string& mgf1 = spec.pss->mgf1_digest.empty() ? spec.digest : spec.pss->mgf1_digest;
    const int salt = spec.pss->salt_length >= 0 ? spec.pss->salt_length : RSA_PSS_SALTLEN_DIGEST;
    Check(EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PSS_PADDING), "PSS padding");
    Check(EVP_PKEY_CTX_set_rsa_mgf1_md(key_ctx, DigestFor(key, mgf1)), "MGF1 " + mgf1);
    Check(EVP_PKEY_CTX_set_rsa_pss_saltlen(key_ctx, salt), "PSS salt length");
  }
  return ctx;
}

std::string Sign(const std::string& info, EVP_PKEY* key, const RequestSpec& spec) {
  MdCtxPtr ctx = SigningContext(key, spec);
  size_t signature_length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(info.data());
  Check(EVP_DigestSign(ctx.get(), nullptr, &signature_length, data, info.size()), "sign size");
  std::string signature(signature_length, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                       &signature_length, data, info.size()),
        "EVP_DigestSign");
  signature.resize(signature_length);
  return signature;
}

// Applies `patches` to the CertificationRequestInfo of `der` and signs it again with `key`.
std::string PatchAndResign(const std::string& der, const RequestSpec& spec, EVP_PKEY* key) {
  RequestParts parts = SplitRequest(der);
  for (const auto& [from, to] : spec.patches) {
    const size_t at = parts.info.find(from);
    if (from.size() != to.size() || at == std::string::npos ||
        parts.info.find(from, at + 1) != std::string::npos) {
      throw std::runtime_error("csr_factory: a patch must match exactly once and keep the length");
    }
    parts.info.replace(at, from.size(), to);
  }
  return Assemble(parts, Sign(parts.info, key, spec));
}

std::string ToDer(X509_REQ* req) {
  unsigned char* der = nullptr;
  const int length = i2d_X509_REQ(req, &der);
  if (length <= 0) Fail("i2d_X509_REQ");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::string ReadBio(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string Base64Decode(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int value = Base64Value(c);
    if (value < 0) continue;  // whitespace and padding: the factory only reads its own output
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

KeyPtr CachedKey(const KeySpec& spec) {
  static std::mutex mutex;
  static std::map<std::string, KeyPtr> cache;
  std::lock_guard<std::mutex> lock(mutex);
  KeyPtr& slot = cache[CacheKey(spec)];
  if (!slot) slot = Generate(spec);
  return slot;
}

KeyPtr FreshKey(const KeySpec& spec) { return Generate(spec); }

std::string MakeRequestDer(const RequestSpec& spec) {
  const KeyPtr signing_key = spec.signing_key ? spec.signing_key : CachedKey(spec.key);
  ReqPtr req(Check(X509_REQ_new(), "X509_REQ_new"));
  Check(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1), "X509_REQ_set_version");

  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  for (const auto& [type, value] : spec.subject) {
    Check(X509_NAME_add_entry_by_txt(subject, type.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0),
          "subject " + type + "=" + value);
  }
  for (const auto& raw : spec.raw_subject) {
    Check(X509_NAME_add_entry_by_txt(subject, raw.type.c_str(), raw.asn1_type,
                                     reinterpret_cast<const unsigned char*>(raw.bytes.data()),
                                     static_cast<int>(raw.bytes.size()), -1, 0),
          "raw subject " + raw.type);
  }

  for (const auto& raw : spec.raw_attributes) {
    ObjPtr oid(Oid(raw.oid));
    Check(X509_REQ_add1_attr_by_OBJ(req.get(), oid.get(), raw.asn1_type,
                                    reinterpret_cast<const unsigned char*>(raw.bytes.data()),
                                    static_cast<int>(raw.bytes.size())),
          "raw attribute " + raw.oid);
  }

  ExtensionsPtr exts = BuildExtensions(spec);
  if (sk_X509_EXTENSION_num(exts.get()) > 0) {
    Check(X509_REQ_add_extensions(req.get(), exts.get()), "X509_REQ_add_extensions");
  }

  EVP_PKEY* public_key =
      spec.public_key_override ? spec.public_key_override.get() : signing_key.get();
  Check(X509_REQ_set_pubkey(req.get(), public_key), "X509_REQ_set_pubkey");
  Check(X509_REQ_sign_ctx(req.get(), SigningContext(signing_key.get(), spec).get()),
        "X509_REQ_sign_ctx with " + spec.digest);
  const std::string der = ToDer(req.get());
  return spec.patches.empty() ? der : PatchAndResign(der, spec, signing_key.get());
}

namespace der {

std::string Tlv(unsigned char tag, std::string_view content) {
  return kca::testing::Tlv(tag, content);
}

std::string TlvLongLength(unsigned char tag, std::string_view content, size_t extra) {
  std::string octets;
  for (size_t rest = content.size(); rest > 0; rest >>= 8) {
    octets.insert(octets.begin(), static_cast<char>(rest & 0xFF));
  }
  if (octets.empty()) octets = std::string(1, '\0');
  octets.insert(0, extra, '\0');
  std::string out(1, static_cast<char>(tag));
  out += static_cast<char>(0x80 | octets.size());
  out += octets;
  out.append(content);
  return out;
}

std::string TlvIndefinite(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  out += '\x80';
  out.append(content);
  out.append(2, '\0');
  return out;
}

std::vector<std::string> Children(std::string_view tlv) {
  const auto [header, length] = ReadTlv(tlv, 0);
  std::vector<std::string> children;
  size_t at = header;
  while (at < header + length) {
    const auto [child_header, child_length] = ReadTlv(tlv, at);
    children.emplace_back(tlv.substr(at, child_header + child_length));
    at += child_header + child_length;
  }
  return children;
}

std::string Content(std::string_view tlv) {
  const auto [header, length] = ReadTlv(tlv, 0);
  return std::string(tlv.substr(header, length));
}

std::string Sequence(const std::vector<std::string>& children) {
  std::string content;
  for (const std::string& child : children) content += child;
  return Tlv(0x30, content);
}

std::string Oid(std::string_view dotted) {
  Owned<ASN1_OBJECT, ASN1_OBJECT_free> object(kca::testing::Oid(std::string(dotted)));
  const int length = i2d_ASN1_OBJECT(object.get(), nullptr);
  std::string out(static_cast<size_t>(length), '\0');
  auto* cursor = reinterpret_cast<unsigned char*>(out.data());
  i2d_ASN1_OBJECT(object.get(), &cursor);
  return out;
}

std::string Utf8(std::string_view text) { return Tlv(0x0C, text); }

std::string TypeAndValue(std::string_view dotted_type, std::string_view value) {
  return Sequence({Oid(dotted_type), Utf8(value)});
}

}  // namespace der

std::string EditInfoAndResign(const RequestSpec& spec,
                              const std::function<std::string(std::string)>& edit) {
  KeyPtr key = spec.signing_key ? spec.signing_key : CachedKey(spec.key);
  RequestParts parts = SplitRequest(MakeRequestDer(spec));
  parts.info = edit(parts.info);
  return Assemble(parts, Sign(parts.info, key.get(), spec));
}

std::string EditInfoWithSignature(const RequestSpec& spec,
                                  const std::function<std::string(std::string)>& edit,
                                  std::string_view signature) {
  RequestParts parts = SplitRequest(MakeRequestDer(spec));
  parts.info = edit(parts.info);
  return Assemble(parts, signature);
}

std::string ReplaceSignatureAlgorithm(std::string_view der, std::string_view algorithm) {
  const std::string whole(der);
  RequestParts parts = SplitRequest(whole);
  const size_t bits_at = ReadTlv(whole, 0).first + parts.info.size() + parts.algorithm.size();
  const auto [bits_header, bits_length] = ReadTlv(whole, bits_at);
  parts.algorithm = std::string(algorithm);
  // The BIT STRING's content after its unused-bits octet.
  return Assemble(parts, der.substr(bits_at + bits_header + 1, bits_length - 1));
}

std::string MakeRequestPem(const RequestSpec& spec) {
  return DerToPem(MakeRequestDer(spec), "CERTIFICATE REQUEST");
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
            kAlphabet[n & 63]};
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (rest == 2) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

std::string DerToPem(std::string_view der, std::string_view label) {
  const std::string body = Base64Encode(der);
  std::string pem = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
  pem += "-----END " + std::string(label) + "-----\n";
  return pem;
}

std::string PemToDer(std::string_view pem) {
  const size_t begin = pem.find("-----BEGIN ");
  if (begin == std::string_view::npos) throw std::runtime_error("csr_factory: no PEM block");
  const size_t body = pem.find('\n', begin);
  const size_t end = pem.find("-----END ", begin);
  if (body == std::string_view::npos || end == std::string_view::npos || end < body) {
    throw std::runtime_error("csr_factory: malformed PEM block");
  }
  return Base64Decode(pem.substr(body + 1, end - body - 1));
}

std::string TamperSignature(std::string_view pem) {
  const size_t label_begin = pem.find("-----BEGIN ");
  if (label_begin == std::string_view::npos) throw std::runtime_error("csr_factory: no PEM block");
  const size_t label_end = pem.find("-----", label_begin + 11);
  const std::string label(pem.substr(label_begin + 11, label_end - label_begin - 11));
  std::string der = PemToDer(pem);
  if (der.empty()) throw std::runtime_error("csr_factory: empty PEM block");
  der.back() = static_cast<char>(der.back() ^ 0x01);  // the signature is the DER's last field
  return DerToPem(der, label);
}

std::string MakeCertificatePem(const KeySpec& key_spec) {
  const KeyPtr key = CachedKey(key_spec);
  X509Ptr cert(Check(X509_new(), "X509_new"));
  Check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  Check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1), "serial");
  Check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr, "notBefore");
  Check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>("not-a-request"), -1, -1,
                                   0),
        "certificate subject");
  Check(X509_set_issuer_name(cert.get(), name), "issuer");
  Check(X509_set_pubkey(cert.get(), key.get()), "certificate key");
  Check(X509_sign(cert.get(), key.get(), DigestFor(key.get(), "SHA256")), "X509_sign");
  BioPtr bio(Check(BIO_new(BIO_s_mem()), "BIO_new"));
  Check(PEM_write_bio_X509(bio.get(), cert.get()), "PEM_write_bio_X509");
  return ReadBio(bio.get());
}

std::string MakePrivateKeyPem(const KeySpec& key_spec) {
  const KeyPtr key = CachedKey(key_spec);
  BioPtr bio(Check(BIO_new(BIO_s_mem()), "BIO_new"));
  Check(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return ReadBio(bio.get());
}

nlohmann::json MakeCsrObject(const CsrObjectSpec& spec) {
  nlohmann::json spec_json = {
      {"request", Base64Encode(spec.request_pem)},
      {"signerName", spec.signer_name},
      {"usages", spec.usages},
      {"username", spec.username},
      {"groups", spec.groups},
  };
  if (spec.expiration_seconds.has_value())
    spec_json["expirationSeconds"] = *spec.expiration_seconds;

  nlohmann::json status = nlohmann::json::object();
  if (!spec.conditions.empty()) {
    nlohmann::json conditions = nlohmann::json::array();
    for (const auto& condition : spec.conditions) {
      conditions.push_back({{"type", condition.type},
                            {"status", condition.status},
                            {"reason", condition.reason},
                            {"message", condition.message},
                            {"lastUpdateTime", "2026-01-01T00:00:05Z"},
                            {"lastTransitionTime", "2026-01-01T00:00:05Z"}});
    }
    status["conditions"] = conditions;
  }
  if (!spec.certificate_pem.empty()) status["certificate"] = Base64Encode(spec.certificate_pem);

  return {
      {"apiVersion", "certificates.k8s.io/v1"},
      {"kind", "CertificateSigningRequest"},
      {"metadata",
       {{"name", spec.name},
        {"uid", spec.uid},
        {"resourceVersion", spec.resource_version},
        {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
      {"spec", spec_json},
      {"status", status},
  };
}

}  // namespace kca::testing
