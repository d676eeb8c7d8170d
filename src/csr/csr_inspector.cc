#include "kube_csr_approver/csr/csr_inspector.h"

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"
#include "pem.h"
#include "rsa_pss.h"
#include "strict_der.h"

// PKCS#10 (RFC 2986) as OpenSSL's X509_REQ template reads it, except that the
// SubjectPublicKeyInfo is only read, not decoded into a key: OpenSSL 3.0's X509_PUBKEY decodes
// the key through the provider decoders while parsing, whose set-up per request cost more than
// the rest of the parse (docs/benchmarks-analysis.md). DecodePublicKey builds the key itself.
struct KCA_RAW_SPKI {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* public_key;
};
struct KCA_RAW_REQ_INFO {
  ASN1_INTEGER* version;
  X509_NAME* subject;
  KCA_RAW_SPKI* key;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};
struct KCA_RAW_REQ {
  KCA_RAW_REQ_INFO* info;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

namespace {
// clang-format off
ASN1_SEQUENCE(KCA_RAW_SPKI) = {
  ASN1_SIMPLE(KCA_RAW_SPKI, algorithm, X509_ALGOR),
  ASN1_SIMPLE(KCA_RAW_SPKI, public_key, ASN1_BIT_STRING)
} ASN1_SEQUENCE_END(KCA_RAW_SPKI)

ASN1_SEQUENCE(KCA_RAW_REQ_INFO) = {
  ASN1_SIMPLE(KCA_RAW_REQ_INFO, version, ASN1_INTEGER),
  ASN1_SIMPLE(KCA_RAW_REQ_INFO, subject, X509_NAME),
  ASN1_SIMPLE(KCA_RAW_REQ_INFO, key, KCA_RAW_SPKI),
  // OPTIONAL as in OpenSSL's X509_REQ_INFO, so that the same requests parse.
  ASN1_IMP_SET_OF_OPT(KCA_RAW_REQ_INFO, attributes, X509_ATTRIBUTE, 0)
} ASN1_SEQUENCE_END(KCA_RAW_REQ_INFO)

ASN1_SEQUENCE(KCA_RAW_REQ) = {
  ASN1_SIMPLE(KCA_RAW_REQ, info, KCA_RAW_REQ_INFO),
  ASN1_SIMPLE(KCA_RAW_REQ, signature_algorithm, X509_ALGOR),
  ASN1_SIMPLE(KCA_RAW_REQ, signature, ASN1_BIT_STRING)
} ASN1_SEQUENCE_END(KCA_RAW_REQ)
// clang-format on
}  // namespace

namespace kca {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

void FreeExtensions(STACK_OF(X509_EXTENSION) * exts) {
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}
void FreeOpenSslString(unsigned char* text) { OPENSSL_free(text); }
void FreeOpenSslChars(char* text) { OPENSSL_free(text); }

void FreeRequest(KCA_RAW_REQ* req) {
  ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(req), ASN1_ITEM_rptr(KCA_RAW_REQ));
}

using ReqPtr = Owned<KCA_RAW_REQ, FreeRequest>;
using DigestContextPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using KeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using KeyContextPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using ExtensionsPtr = Owned<STACK_OF(X509_EXTENSION), FreeExtensions>;
using GeneralNamesPtr = Owned<GENERAL_NAMES, GENERAL_NAMES_free>;
using BasicConstraintsPtr = Owned<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using BitStringPtr = Owned<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using ExtendedKeyUsagePtr = Owned<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using Utf8Ptr = Owned<unsigned char, FreeOpenSslString>;

// OpenSSL's error queue is per thread: whatever a failed call left there must not surface in
// an unrelated later call on this thread.
class ErrorQueueGuard {
 public:
  ErrorQueueGuard() { ERR_clear_error(); }
  ~ErrorQueueGuard() { ERR_clear_error(); }
  ErrorQueueGuard(const ErrorQueueGuard&) = delete;
  ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
};

std::string DottedOid(const ASN1_OBJECT* object) {
  char buffer[128];
  const int length = OBJ_obj2txt(buffer, sizeof(buffer), object, 1);
  if (length <= 0) return "(unreadable OID)";
  if (static_cast<std::size_t>(length) >= sizeof(buffer)) return "(overlong OID)";
  return std::string(buffer, static_cast<std::size_t>(length));
}

// OpenSSL's short name when it has one ("CN"), else the dotted OID.
std::string ShortNameOrOid(const ASN1_OBJECT* object) {
  const int nid = OBJ_obj2nid(object);
  if (nid != NID_undef) {
    if (const char* name = OBJ_nid2sn(nid)) return name;
  }
  return DottedOid(object);
}

std::string LongNameOrOid(const ASN1_OBJECT* object) {
  const int nid = OBJ_obj2nid(object);
  if (nid != NID_undef) {
    if (const char* name = OBJ_nid2ln(nid)) return name;
  }
  return DottedOid(object);
}

// OpenSSL reads a TeletexString's high bytes as Latin-1, Go's x509 (the signer, the
// authenticator) keeps them raw: the same bytes would be two different names.
bool IsLegacyEightBitString(int asn1_type) {
  return asn1_type == V_ASN1_T61STRING || asn1_type == V_ASN1_VIDEOTEXSTRING ||
         asn1_type == V_ASN1_GRAPHICSTRING || asn1_type == V_ASN1_GENERALSTRING;
}

Result<std::string> SubjectValue(const ASN1_STRING* value, const std::string& type) {
  if (IsLegacyEightBitString(ASN1_STRING_type(value))) {
    const unsigned char* bytes = ASN1_STRING_get0_data(value);
    for (int i = 0; i < ASN1_STRING_length(value); ++i) {
      if (bytes[i] >= 0x80) {
        return Error{"subject attribute " + type +
                     " is a TeletexString with non-ASCII bytes, which programs read "
                     "differently; encode it as UTF8String"};
      }
    }
  }
  unsigned char* raw = nullptr;
  const int length = ASN1_STRING_to_UTF8(&raw, value);
  Utf8Ptr owned(raw);
  if (length < 0) {
    if (ASN1_STRING_type(value) == V_ASN1_UTF8STRING) {
      return Error{"subject attribute " + type + " is not valid UTF-8"};
    }
    return Error{"subject attribute " + type + " is not a readable string (ASN.1 type " +
                 std::to_string(ASN1_STRING_type(value)) + ")"};
  }
  std::string text(reinterpret_cast<const char*>(raw), static_cast<std::size_t>(length));
  if (text.find('\0') != std::string::npos) {
    return Error{"subject attribute " + type + " contains a NUL byte (" + Quote(text) +
                 "); such a name reads differently to different programs"};
  }
  if (!IsValidUtf8(text)) {
    return Error{"subject attribute " + type + " is not valid UTF-8 (" + Quote(text) + ")"};
  }
  return text;
}

Status ReadSubject(const X509_NAME* name, CsrFacts& facts) {
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
    SubjectAttribute attribute;
    attribute.type = ShortNameOrOid(object);
    attribute.oid = DottedOid(object);
    auto value = SubjectValue(X509_NAME_ENTRY_get_data(entry), attribute.type);
    if (!value.ok()) return value.error();
    attribute.value = std::move(*value);
    switch (OBJ_obj2nid(object)) {
      case NID_commonName:
        facts.common_names.push_back(attribute.value);
        break;
      case NID_organizationName:
        facts.organizations.push_back(attribute.value);
        break;
      case NID_organizationalUnitName:
        facts.organizational_units.push_back(attribute.value);
        break;
      default:
        break;
    }
    facts.subject.push_back(std::move(attribute));
  }
  return Status::Ok();
}

// DNS, email and URI SANs are IA5Strings: ASCII only, and a NUL would let "a.com\0.evil" pass a
// check written for one reading and be used under another.
Result<std::string> Ia5Value(const ASN1_IA5STRING* value, std::string_view kind) {
  const std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                         static_cast<std::size_t>(ASN1_STRING_length(value)));
  if (text.find('\0') != std::string::npos) {
    return Error{"the " + std::string(kind) + " SAN " + Quote(text) + " contains a NUL byte"};
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return Error{"the " + std::string(kind) + " SAN " + Quote(text) +
                   " is not ASCII (an IA5String must be)"};
    }
  }
  return text;
}

// Decodes one extension by NID; absent is fine, duplicated or undecodable is refused.
template <typename T>
Result<T*> DecodeExtension(const STACK_OF(X509_EXTENSION) * exts, int nid, std::string_view what) {
  int critical = -1;
  void* decoded = X509V3_get_d2i(exts, nid, &critical, nullptr);
  if (decoded == nullptr && critical == -2) {
    return Error{"the request has more than one " + std::string(what) + " extension"};
  }
  if (decoded == nullptr && critical >= 0) {
    return Error{"the request's " + std::string(what) + " extension cannot be decoded"};
  }
  return static_cast<T*>(decoded);
}

Status ReadSubjectAlternativeNames(const STACK_OF(X509_EXTENSION) * exts, CsrFacts& facts) {
  auto decoded = DecodeExtension<GENERAL_NAMES>(exts, NID_subject_alt_name, "subjectAltName");
  if (!decoded.ok()) return decoded.error();
  GeneralNamesPtr names(*decoded);
  if (!names) return Status::Ok();
  SubjectAlternativeNames& sans = facts.sans;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
      case GEN_EMAIL:
      case GEN_URI: {
        const std::string_view kind =
            name->type == GEN_DNS ? "DNS" : (name->type == GEN_EMAIL ? "email" : "URI");
        auto value = Ia5Value(name->d.ia5, kind);
        if (!value.ok()) return value.error();
        auto& list = name->type == GEN_DNS     ? sans.dns_names
                     : name->type == GEN_EMAIL ? sans.email_addresses
                                               : sans.uris;
        list.push_back(std::move(*value));
        break;
      }
      case GEN_IPADD: {
        const std::string_view bytes(
            reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.iPAddress)),
            static_cast<std::size_t>(ASN1_STRING_length(name->d.iPAddress)));
        auto address = IpAddress::FromBytes(bytes);
        if (!address.ok()) {
          return Error{"an IP address SAN is malformed: " + address.error().message};
        }
        sans.ip_addresses.push_back(*address);
        break;
      }
      case GEN_OTHERNAME:
        sans.other.push_back("otherName " + DottedOid(name->d.otherName->type_id));
        break;
      case GEN_DIRNAME:
        sans.other.push_back("directoryName");
        break;
      case GEN_RID:
        sans.other.push_back("registeredID " + DottedOid(name->d.registeredID));
        break;
      case GEN_X400:
        sans.other.push_back("x400Address");
        break;
      case GEN_EDIPARTY:
        sans.other.push_back("ediPartyName");
        break;
      default:
        sans.other.push_back("GeneralName type " + std::to_string(name->type));
        break;
    }
  }
  return Status::Ok();
}

Status ReadExtensions(const STACK_OF(X509_EXTENSION) * exts, CsrFacts& facts) {
  // Go's x509 (the signer) rejects repeated extensions; refusing them here keeps both readings
  // equal.
  std::set<std::string> seen;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    const ASN1_OBJECT* object = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
    if (!seen.insert(DottedOid(object)).second) {
      return Error{"the request asks for the extension " + LongNameOrOid(object) + " twice"};
    }
  }

  if (Status status = ReadSubjectAlternativeNames(exts, facts); !status.ok()) return status;

  RequestedExtensions& extensions = facts.extensions;
  auto constraints =
      DecodeExtension<BASIC_CONSTRAINTS>(exts, NID_basic_constraints, "basicConstraints");
  if (!constraints.ok()) return constraints.error();
  if (BasicConstraintsPtr owned(*constraints); owned) {
    extensions.has_basic_constraints = true;
    extensions.basic_constraints_ca = owned->ca != 0;
  }

  auto key_usage = DecodeExtension<ASN1_BIT_STRING>(exts, NID_key_usage, "keyUsage");
  if (!key_usage.ok()) return key_usage.error();
  if (BitStringPtr owned(*key_usage); owned) {
    static constexpr const char* kKeyUsageNames[] = {
        "Digital Signature", "Non Repudiation", "Key Encipherment",
        "Data Encipherment", "Key Agreement",   "Certificate Sign",
        "CRL Sign",          "Encipher Only",   "Decipher Only"};
    for (int bit = 0; bit < static_cast<int>(std::size(kKeyUsageNames)); ++bit) {
      if (ASN1_BIT_STRING_get_bit(owned.get(), bit)) {
        extensions.key_usages.emplace_back(kKeyUsageNames[bit]);
      }
    }
  }

  auto extended = DecodeExtension<EXTENDED_KEY_USAGE>(exts, NID_ext_key_usage, "extendedKeyUsage");
  if (!extended.ok()) return extended.error();
  if (ExtendedKeyUsagePtr owned(*extended); owned) {
    for (int i = 0; i < sk_ASN1_OBJECT_num(owned.get()); ++i) {
      extensions.extended_key_usages.push_back(LongNameOrOid(sk_ASN1_OBJECT_value(owned.get(), i)));
    }
  }
  // Each value is DER of its own, which OpenSSL decoded tolerantly above; checked last so that
  // a value that does not decode at all says so.
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* extension = sk_X509_EXTENSION_value(exts, i);
    const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(extension);
    const std::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                                 static_cast<std::size_t>(ASN1_STRING_length(data)));
    if (auto problem = csr_internal::StrictDerProblem(value)) {
      return Error{"the extension " + LongNameOrOid(X509_EXTENSION_get_object(extension)) +
                   " is refused: " + *problem + " of its value"};
    }
  }
  return Status::Ok();
}

// OpenSSL reads only the first extensionRequest attribute while Go's x509 merges all of them: a
// second one could carry SANs the signer sees and we would not. OpenSSL also reads Microsoft's
// msExtReq when there is no extensionRequest, and signers that read it would issue what it holds:
// it is refused outright, so there is exactly one place a request's extensions can be.
Status CheckExtensionRequestAttributes(const STACK_OF(X509_ATTRIBUTE) * attributes) {
  if (X509at_get_attr_by_NID(attributes, NID_ms_ext_req, -1) >= 0) {
    return Error{
        "the request has a Microsoft msExtReq attribute (1.3.6.1.4.1.311.2.1.14); extensions "
        "are accepted only in one PKCS#9 extensionRequest attribute"};
  }
  const int first = X509at_get_attr_by_NID(attributes, NID_ext_req, -1);
  if (first < 0) return Status::Ok();
  if (X509at_get_attr_by_NID(attributes, NID_ext_req, first) >= 0) {
    return Error{"the request has more than one extensionRequest attribute"};
  }
  if (X509_ATTRIBUTE_count(X509at_get_attr(attributes, first)) != 1) {
    return Error{"the request's extensionRequest attribute must hold exactly one value"};
  }
  return Status::Ok();
}

std::string CurveName(const std::string& group) {
  if (group == "prime256v1" || group == "P-256") return "P-256";
  if (group == "secp384r1" || group == "P-384") return "P-384";
  if (group == "secp521r1" || group == "P-521") return "P-521";
  return group;
}

ReqPtr ParseRequest(const unsigned char** cursor, long length) {
  return ReqPtr(reinterpret_cast<KCA_RAW_REQ*>(
      ASN1_item_d2i(nullptr, cursor, length, ASN1_ITEM_rptr(KCA_RAW_REQ))));
}

// The extensions of the (single, checked) extensionRequest attribute, as X509_REQ_get_extensions
// reads them: an empty stack when there is none, null when its value cannot be decoded.
ExtensionsPtr RequestedExtensionList(const STACK_OF(X509_ATTRIBUTE) * attributes) {
  const int index = X509at_get_attr_by_NID(attributes, NID_ext_req, -1);
  if (index < 0) return ExtensionsPtr(sk_X509_EXTENSION_new_null());
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(X509at_get_attr(attributes, index), 0);
  if (value == nullptr || value->type != V_ASN1_SEQUENCE || value->value.sequence == nullptr) {
    return nullptr;
  }
  const unsigned char* cursor = value->value.sequence->data;
  return ExtensionsPtr(reinterpret_cast<STACK_OF(X509_EXTENSION)*>(ASN1_item_d2i(
      nullptr, &cursor, value->value.sequence->length, ASN1_ITEM_rptr(X509_EXTENSIONS))));
}

Error UndecodableKey() {
  return Error{"the request's public key cannot be decoded (unknown or malformed algorithm)"};
}

// A key holding only the named curve's parameters, the form each request's key starts from.
KeyPtr CurveParameters(const char* curve) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve), 0),
      OSSL_PARAM_construct_end()};
  KeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_KEY_PARAMETERS, params) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return KeyPtr(key);
}

// Importing a key by curve name sets the curve up from its constants every time (a third of
// the key's decoding, docs/benchmarks-analysis.md): the curves Kubernetes clients use are set up
// once, and a key of theirs is a copy of those parameters plus its point. Null for other curves.
const EVP_PKEY* CommonCurveParameters(const char* curve) {
  static const KeyPtr p256 = CurveParameters(SN_X9_62_prime256v1);
  static const KeyPtr p384 = CurveParameters(SN_secp384r1);
  static const KeyPtr p521 = CurveParameters(SN_secp521r1);
  if (std::strcmp(curve, SN_X9_62_prime256v1) == 0) return p256.get();
  if (std::strcmp(curve, SN_secp384r1) == 0) return p384.get();
  if (std::strcmp(curve, SN_secp521r1) == 0) return p521.get();
  return nullptr;
}

KeyPtr DecodeEcKey(const char* curve, const unsigned char* point, int length) {
  // Either way the point is decoded by EC_POINT_oct2point, which refuses a point off the curve,
  // as OpenSSL's own decoder does.
  if (const EVP_PKEY* parameters = CommonCurveParameters(curve)) {
    KeyPtr key(EVP_PKEY_dup(const_cast<EVP_PKEY*>(parameters)));
    if (!key ||
        EVP_PKEY_set1_encoded_public_key(key.get(), point, static_cast<std::size_t>(length)) != 1) {
      return nullptr;
    }
    return key;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<unsigned char*>(point),
                                        static_cast<std::size_t>(length)),
      OSSL_PARAM_construct_end()};
  KeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  return KeyPtr(key);
}

// Why an EC public key proves nothing or reads differently elsewhere, before OpenSSL sees it.
// Only the uncompressed form is taken: Go's parser refuses the others, and 0x00 is the point
// at infinity, the one "key" for which no private key exists.
Status CheckEcKeyEncoding(const X509_ALGOR* algorithm, const unsigned char* point, int length,
                          const char** curve) {
  int parameter_type = V_ASN1_UNDEF;
  const void* parameter = nullptr;
  X509_ALGOR_get0(nullptr, &parameter_type, &parameter, algorithm);
  if (parameter_type == V_ASN1_SEQUENCE) {
    return Error{
        "the request's ECDSA key uses explicit curve parameters; only named curves "
        "(P-256, P-384, P-521) are supported"};
  }
  if (parameter_type != V_ASN1_OBJECT) {
    return Error{"the request's ECDSA key does not name its curve (implicit parameters)"};
  }
  const auto* oid = static_cast<const ASN1_OBJECT*>(parameter);
  const int curve_nid = OBJ_obj2nid(oid);
  *curve = curve_nid == NID_undef ? nullptr : OBJ_nid2sn(curve_nid);
  if (*curve == nullptr) {
    return Error{"the request's ECDSA key names an unknown curve " + DottedOid(oid)};
  }
  if (length < 1) return Error{"the request's ECDSA key is empty"};
  switch (point[0]) {
    case 0x00:
      return Error{
          "the request's ECDSA key is the point at infinity, which has no private key: its "
          "signature proves nothing"};
    case 0x02:
    case 0x03:
      return Error{
          "the request's ECDSA key is a compressed point; the API server accepts only "
          "uncompressed points (0x04)"};
    case 0x04:
      return Status::Ok();
    default:
      return Error{"the request's ECDSA key has an unknown point form 0x" +
                   std::string(1, "0123456789abcdef"[point[0] >> 4]) +
                   std::string(1, "0123456789abcdef"[point[0] & 0xF]) +
                   "; only uncompressed points (0x04) are accepted"};
  }
}

// The y coordinates of the 8 points of small order on edwards25519 (with either x): 0 (order
// 4), 1 (the identity), p-1 (order 2) and +-y8 (order 8), little-endian as encoded.
bool IsSmallOrderEd25519(const unsigned char* encoded) {
  static constexpr unsigned char kY8[32] = {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0,
                                            0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
                                            0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39,
                                            0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05};
  static constexpr unsigned char kMinusY8[32] = {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f,
                                                 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
                                                 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6,
                                                 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a};
  // p = 2^255 - 19, little-endian; p-1 and the non-canonical p and p+1 (y >= p reads as y - p).
  static constexpr unsigned char kP[32] = {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  unsigned char y[32];
  std::memcpy(y, encoded, sizeof(y));
  y[31] &= 0x7F;  // the top bit is the sign of x
  // y - p when y >= p: only y in [p, 2^255) are non-canonical, so one subtraction reduces.
  bool at_least_p = true;
  for (int i = 31; i >= 0; --i) {
    if (y[i] != kP[i]) {
      at_least_p = y[i] > kP[i];
      break;
    }
  }
  if (at_least_p) {
    int borrow = 0;
    for (int i = 0; i < 32; ++i) {
      const int difference = y[i] - kP[i] - borrow;
      borrow = difference < 0 ? 1 : 0;
      y[i] = static_cast<unsigned char>(difference + (borrow << 8));
    }
  }
  unsigned char minus_one[32];
  std::memcpy(minus_one, kP, sizeof(minus_one));
  minus_one[0] = static_cast<unsigned char>(minus_one[0] - 1);
  const unsigned char zero[32] = {};
  unsigned char one[32] = {};
  one[0] = 1;
  for (const unsigned char* candidate :
       {zero, static_cast<const unsigned char*>(one), static_cast<const unsigned char*>(minus_one),
        kY8, kMinusY8}) {
    if (std::memcmp(y, candidate, sizeof(y)) == 0) return true;
  }
  return false;
}

// RSA keys whose "signature" anyone can make: e = 1 makes s = m a valid signature; an even e has
// no inverse modulo an even phi(n), and an even modulus factors at once.
Status CheckRsaKey(EVP_PKEY* key) {
  BIGNUM* raw_modulus = nullptr;
  BIGNUM* raw_exponent = nullptr;
  const bool read = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &raw_modulus) == 1 &&
                    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &raw_exponent) == 1;
  Owned<BIGNUM, BN_free> modulus(raw_modulus);
  Owned<BIGNUM, BN_free> exponent(raw_exponent);
  if (!read) return UndecodableKey();
  if (!BN_is_odd(exponent.get()) || BN_num_bits(exponent.get()) < 2) {
    char* text = BN_bn2dec(exponent.get());
    Owned<char, FreeOpenSslChars> owned(text);
    std::string shown = text ? text : "?";
    if (shown.size() > 20) shown = shown.substr(0, 20) + "...";
    return Error{"the request's RSA key has the public exponent " + shown +
                 "; it must be odd and at least 3 (with such a key the signature proves nothing)"};
  }
  if (!BN_is_odd(modulus.get())) {
    return Error{"the request's RSA key has an even modulus, which anyone can factor"};
  }
  return Status::Ok();
}

// Algorithms OpenSSL 3.0 has no name for, named in refusals so users see what they sent.
std::string UnnamedAlgorithm(const ASN1_OBJECT* oid) {
  const std::string dotted = DottedOid(oid);
  if (dotted == "2.16.840.1.101.3.4.3.17") return "ML-DSA-44";
  if (dotted == "2.16.840.1.101.3.4.3.18") return "ML-DSA-65";
  if (dotted == "2.16.840.1.101.3.4.3.19") return "ML-DSA-87";
  return "";
}

// The SubjectPublicKeyInfo of a parsed request as a key in the default context, for the key
// types the approver accepts; the refusals name the type.
Result<KeyPtr> DecodePublicKey(const KCA_RAW_SPKI& spki) {
  const X509_ALGOR* algorithm = spki.algorithm;
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  if (oid == nullptr || spki.public_key == nullptr) return UndecodableKey();
  const unsigned char* bytes = ASN1_STRING_get0_data(spki.public_key);
  const int length = ASN1_STRING_length(spki.public_key);
  int parameter_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &parameter_type, nullptr, algorithm);
  const int nid = OBJ_obj2nid(oid);
  KeyPtr key;
  switch (nid) {
    case NID_rsaEncryption: {
      // RFC 3279: the parameters are NULL; OpenSSL also tolerates them absent.
      if (parameter_type != V_ASN1_NULL && parameter_type != V_ASN1_UNDEF) break;
      // The RSAPublicKey inside the BIT STRING is DER of its own.
      if (auto problem = csr_internal::StrictDerProblem(std::string_view(
              reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length)))) {
        return Error{"the request's RSA key is refused: " + *problem + " of the key"};
      }
      const unsigned char* cursor = bytes;
      key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, length));
      if (key && cursor != bytes + length) key.reset();
      if (key) {
        if (Status status = CheckRsaKey(key.get()); !status.ok()) return status.error();
      }
      break;
    }
    case NID_X9_62_id_ecPublicKey: {
      const char* curve = nullptr;
      if (Status status = CheckEcKeyEncoding(algorithm, bytes, length, &curve); !status.ok()) {
        return status.error();
      }
      key = DecodeEcKey(curve, bytes, length);
      break;
    }
    case NID_ED25519:
      if (parameter_type != V_ASN1_UNDEF) break;  // RFC 8410: the parameters are absent
      if (length == 32 && IsSmallOrderEd25519(bytes)) {
        return Error{
            "the request's Ed25519 key is a point of small order, for which a signature "
            "verifies on every message: it proves nothing"};
      }
      key.reset(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes,
                                               static_cast<std::size_t>(length)));
      break;
    case NID_rsassaPss:
      // Go's x509 has no public key algorithm for this OID (getPublicKeyAlgorithmFromOID in
      // golang/go src/crypto/x509/x509.go): the API server could not check the signature.
      return Error{
          "the request's public key is an id-RSASSA-PSS key; write an RSA key as rsaEncryption "
          "(it can still sign with RSASSA-PSS), the only form the API server's Go parser reads"};
    case NID_undef: {
      const std::string name = UnnamedAlgorithm(oid);
      if (name.empty()) return UndecodableKey();
      return Error{"the request's public key is " + name +
                   "; only RSA, ECDSA and Ed25519 keys are supported"};
    }
    default: {
      const char* type = OBJ_nid2sn(nid);
      return Error{"the request's public key is " +
                   std::string(type ? type : "of an unknown type") +
                   "; only RSA, ECDSA and Ed25519 keys are supported"};
    }
  }
  if (!key) return UndecodableKey();
  return key;
}

Result<PublicKeyFacts> ReadPublicKey(EVP_PKEY* key) {
  PublicKeyFacts facts;
  facts.bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      facts.algorithm = KeyAlgorithm::kRsa;
      return facts;
    case EVP_PKEY_EC: {
      char group[80] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &length) != 1 || length == 0) {
        return UndecodableKey();
      }
      facts.algorithm = KeyAlgorithm::kEcdsa;
      facts.curve = CurveName(std::string(group, length));
      return facts;
    }
    case EVP_PKEY_ED25519:
      facts.algorithm = KeyAlgorithm::kEd25519;
      facts.bits = 256;
      return facts;
    default:
      return UndecodableKey();  // DecodePublicKey builds no other type
  }
}

// Only signatures kube-apiserver (Go's x509) verifies with a strong digest are accepted.
Status CheckSignatureAlgorithm(int nid, const std::string& name) {
  switch (nid) {
    case NID_sha256WithRSAEncryption:
    case NID_sha384WithRSAEncryption:
    case NID_sha512WithRSAEncryption:
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
    case NID_ED25519:
      return Status::Ok();
    default:
      break;
  }
  int digest = NID_undef;
  int key_type = NID_undef;
  if (OBJ_find_sigid_algs(nid, &digest, &key_type) == 1 &&
      (digest == NID_sha1 || digest == NID_md5 || digest == NID_md4 || digest == NID_md2 ||
       digest == NID_md5_sha1)) {
    return Error{"the request is signed with " + name +
                 "; SHA-1 and MD5 signatures are refused: sign it with SHA-256 or stronger"};
  }
  return Error{"the request's signature algorithm " + name +
               " is not supported; use SHA-256/384/512 with RSA (PKCS#1 v1.5 or PSS) or ECDSA, or "
               "Ed25519"};
}

// OpenSSL already refuses some bad names while decoding (it builds a canonical form of each
// name); its error queue says which, so the user learns more than "malformed".
Error DescribeDecodeFailure() {
  while (const unsigned long code = ERR_get_error()) {
    if (ERR_GET_LIB(code) != ERR_LIB_ASN1) continue;
    switch (ERR_GET_REASON(code)) {
      case ASN1_R_INVALID_UTF8STRING:
        return Error{"a name in the request is not valid UTF-8"};
      case ASN1_R_INVALID_BMPSTRING_LENGTH:
      case ASN1_R_INVALID_UNIVERSALSTRING_LENGTH:
        return Error{"a name in the request is a malformed BMPString or UniversalString"};
      case ASN1_R_MSTRING_WRONG_TAG:
        return Error{"a name in the request holds a value of a type that is not a string"};
      default:
        break;
    }
  }
  return Error{
      "the request's PEM block does not hold a PKCS#10 certificate request (the DER "
      "is truncated or malformed)"};
}

// The identifier and length octets, and the content length, of the element `tlv` starts with;
// only for bytes already known to be DER (low tag numbers: PKCS#10 uses no others).
size_t HeaderLength(std::string_view tlv) {
  const auto first = static_cast<unsigned char>(tlv[1]);
  return first < 0x80 ? 2 : 2 + (first & 0x7F);
}
size_t ContentLength(std::string_view tlv) {
  const auto first = static_cast<unsigned char>(tlv[1]);
  if (first < 0x80) return first;
  size_t value = 0;
  for (size_t i = 0; i < (first & 0x7Fu); ++i) {
    value = (value << 8) | static_cast<unsigned char>(tlv[2 + i]);
  }
  return value;
}

// SEQUENCE { CertificationRequestInfo, ... }: the signed bytes, as received.
std::string_view RequestInfoDer(std::string_view der) {
  const std::string_view info = der.substr(HeaderLength(der));
  return info.substr(0, HeaderLength(info) + ContentLength(info));
}

// The [0] IMPLICIT SET OF Attribute of CertificationRequestInfo is a SET OF that StrictDerProblem
// cannot recognise by its tag; `der` is already known to be DER.
Status CheckAttributesSorted(std::string_view der) {
  // SEQUENCE { CertificationRequestInfo SEQUENCE { version, subject, spki, [0] attributes } ...
  const auto header = HeaderLength;
  const auto length = ContentLength;
  const std::string_view info = RequestInfoDer(der);
  std::string_view rest = info.substr(header(info));
  for (int skipped = 0; skipped < 3 && !rest.empty(); ++skipped) {
    rest.remove_prefix(header(rest) + length(rest));
  }
  if (rest.empty() || static_cast<unsigned char>(rest[0]) != 0xA0) return Status::Ok();
  if (!csr_internal::ElementsSorted(rest.substr(header(rest), length(rest)))) {
    return Error{"the request is not strict DER: its attributes (a SET OF) are out of DER order"};
  }
  return Status::Ok();
}

// X509_REQ_verify's steps (ASN1_item_verify) on our own parse: the algorithm names a digest
// (none for Ed25519) and the key type, which the key must be; the signature BIT STRING has no
// unused bits; it verifies over the DER of CertificationRequestInfo as received. RSASSA-PSS
// verifies with the parameters `pss` read from the algorithm's.
bool SignatureVerifies(const KCA_RAW_REQ& req, std::string_view info_der, EVP_PKEY* key,
                       int signature_nid, const csr_internal::PssSignature* pss) {
  if ((req.signature->flags & 0x07) != 0) return false;
  if (pss != nullptr) {
    return csr_internal::PssSignatureVerifies(
        key, *pss,
        std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(req.signature)),
                         static_cast<std::size_t>(ASN1_STRING_length(req.signature))),
        info_der);
  }
  int digest_nid = NID_undef;
  int key_nid = NID_undef;
  if (OBJ_find_sigid_algs(signature_nid, &digest_nid, &key_nid) != 1) return false;
  const char* key_type = OBJ_nid2sn(key_nid);
  if (key_type == nullptr || EVP_PKEY_is_a(key, key_type) != 1) return false;
  const EVP_MD* digest = nullptr;
  if (digest_nid != NID_undef) {
    digest = EVP_get_digestbynid(digest_nid);
    if (digest == nullptr) return false;
  }
  DigestContextPtr context(EVP_MD_CTX_new());
  return context && EVP_DigestVerifyInit(context.get(), nullptr, digest, nullptr, key) == 1 &&
         EVP_DigestVerify(context.get(), ASN1_STRING_get0_data(req.signature),
                          static_cast<std::size_t>(ASN1_STRING_length(req.signature)),
                          reinterpret_cast<const unsigned char*>(info_der.data()),
                          info_der.size()) == 1;
}

Result<CsrFacts> InspectDer(const std::string& der) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = cursor + der.size();
  ReqPtr req = ParseRequest(&cursor, static_cast<long>(der.size()));
  if (!req) return DescribeDecodeFailure();
  if (cursor != end) {
    return Error{"the request's PEM block has " + std::to_string(end - cursor) +
                 " bytes after the PKCS#10 request"};
  }
  if (auto problem = csr_internal::StrictDerProblem(der)) return Error{*problem};
  if (Status status = CheckAttributesSorted(der); !status.ok()) return status.error();
  const KCA_RAW_REQ_INFO& info = *req->info;
  if (const long version = ASN1_INTEGER_get(info.version); version != X509_REQ_VERSION_1) {
    return Error{"the request has version " + std::to_string(version + 1) +
                 "; PKCS#10 defines only version 1"};
  }

  CsrFacts facts;
  auto key = DecodePublicKey(*info.key);
  if (!key.ok()) return key.error();
  auto key_facts = ReadPublicKey(key->get());
  if (!key_facts.ok()) return key_facts.error();
  facts.key = *key_facts;

  const ASN1_OBJECT* signature_oid = nullptr;
  X509_ALGOR_get0(&signature_oid, nullptr, nullptr, req->signature_algorithm);
  const int signature_nid = OBJ_obj2nid(signature_oid);
  const char* signature_name = OBJ_nid2ln(signature_nid);
  if (signature_nid == NID_undef || signature_name == nullptr) {
    facts.signature_algorithm = signature_oid ? DottedOid(signature_oid) : "(unknown)";
  } else {
    facts.signature_algorithm = signature_name;
  }
  std::optional<csr_internal::PssSignature> pss;
  if (signature_nid == NID_rsassaPss) {
    auto read = csr_internal::ReadPssSignatureAlgorithm(req->signature_algorithm);
    if (!read.ok()) return read.error();
    pss = std::move(*read);
    facts.signature_algorithm = pss->name;
  } else if (Status status = CheckSignatureAlgorithm(signature_nid, facts.signature_algorithm);
             !status.ok()) {
    return status.error();
  }
  if (!SignatureVerifies(*req, RequestInfoDer(der), key->get(), signature_nid,
                         pss ? &*pss : nullptr)) {
    return Error{
        "the request's signature does not verify with its own public key (no proof of "
        "possession of the private key; the request is corrupt or forged)"};
  }

  if (Status status = ReadSubject(info.subject, facts); !status.ok()) return status.error();
  if (Status status = CheckExtensionRequestAttributes(info.attributes); !status.ok()) {
    return status.error();
  }
  ExtensionsPtr exts = RequestedExtensionList(info.attributes);
  if (!exts) return Error{"the request's extensionRequest attribute cannot be decoded"};
  if (Status status = ReadExtensions(exts.get(), facts); !status.ok()) return status.error();
  return facts;
}

Error TooLarge(std::size_t size) {
  return Error{"the request is " + std::to_string(size) + " bytes long, more than the " +
               std::to_string(kMaxRequestBytes) + " accepted"};
}

}  // namespace

std::string_view KeyAlgorithmName(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      return "RSA";
    case KeyAlgorithm::kEcdsa:
      return "ECDSA";
    case KeyAlgorithm::kEd25519:
      return "Ed25519";
  }
  return "unknown";
}

std::string SubjectToString(const CsrFacts& facts) {
  std::string text;
  for (const auto& attribute : facts.subject) {
    if (!text.empty()) text += ", ";
    text += attribute.type + "=" + attribute.value;
  }
  return text.empty() ? "(empty)" : text;
}

std::string KeyToString(const PublicKeyFacts& key) {
  std::string text(KeyAlgorithmName(key.algorithm));
  if (key.algorithm == KeyAlgorithm::kRsa) text += " " + std::to_string(key.bits) + " bits";
  if (key.algorithm == KeyAlgorithm::kEcdsa) text += " " + key.curve;
  return text;
}

Result<CsrFacts> InspectEncodedRequest(std::string_view base64) {
  if (base64.size() > kMaxRequestBytes) return TooLarge(base64.size());
  auto pem = DecodeBase64(base64, "spec.request");
  if (!pem.ok()) return pem.error();
  return InspectPemRequest(*pem);
}

Result<CsrFacts> InspectPemRequest(std::string_view pem) {
  if (pem.size() > kMaxRequestBytes) return TooLarge(pem.size());
  ErrorQueueGuard guard;
  auto der = csr_internal::ExtractRequestDer(pem);
  if (!der.ok()) return der.error();
  return InspectDer(*der);
}

}  // namespace kca
