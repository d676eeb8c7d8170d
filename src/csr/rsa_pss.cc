#include "rsa_pss.h"

#include <openssl/objects.h>
#include <openssl/rsa.h>

#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

// Go's x509 (kube-apiserver's CSR validation, the kube-controller-manager signer) reads an
// RSASSA-PSS AlgorithmIdentifier in getSignatureAlgorithmFromAI (golang/go
// src/crypto/x509/x509.go): it decodes RSASSA-PSS-params (RFC 4055 section 3.1) and accepts only
// SHA-256, SHA-384 or SHA-512 whose parameters are absent or NULL, MGF1 over the same hash (its
// parameters absent or NULL too), a salt length equal to the hash length and the trailer field 1;
// it verifies with rsa.PSSSaltLengthEqualsHash. Go decodes field by field and would also take
// forms DER forbids (trailerField written out although 1 is its DEFAULT, elements after it):
// here only the DER encodings of exactly the values Go accepts pass, compared byte for byte, so
// that no request reads one way here and another way there.

namespace kca::csr_internal {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

struct PssHash {
  int nid;
  const char* name;
  std::string_view oid;  // the OBJECT IDENTIFIER's whole TLV
  int size;              // bytes of output: the salt length Go requires
};

constexpr std::string_view kMgf1Oid{"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08", 11};
constexpr std::string_view kNull{"\x05\x00", 2};
constexpr std::array<PssHash, 3> kHashes{{
    {NID_sha256, "SHA-256", {"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01", 11}, 32},
    {NID_sha384, "SHA-384", {"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02", 11}, 48},
    {NID_sha512, "SHA-512", {"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03", 11}, 64},
}};

// Every piece of RSASSA-PSS-params is shorter than 128 bytes: short-form lengths only.
std::string Tlv(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  out += static_cast<char>(content.size());
  out.append(content);
  return out;
}

std::string HashAlgorithmDer(const PssHash& hash, bool with_null) {
  return Tlv(0x30, std::string(hash.oid) + (with_null ? std::string(kNull) : std::string()));
}

// RSASSA-PSS-params with Go's values for `hash`; the hash's parameters NULL or absent in each of
// its two places, as Go takes either. The trailer field is absent: 1 is its DEFAULT.
std::string PssParametersDer(const PssHash& hash, bool hash_null, bool mgf1_hash_null) {
  const std::string salt = Tlv(0x02, std::string(1, static_cast<char>(hash.size)));
  return Tlv(0x30, Tlv(0xA0, HashAlgorithmDer(hash, hash_null)) +
                       Tlv(0xA1, Tlv(0x30, std::string(kMgf1Oid) +
                                               HashAlgorithmDer(hash, mgf1_hash_null))) +
                       Tlv(0xA2, salt));
}

using Encodings = std::vector<std::pair<std::string, const PssHash*>>;

const Encodings& AcceptedEncodings() {
  static const Encodings encodings = [] {
    Encodings all;
    for (const PssHash& hash : kHashes) {
      for (bool hash_null : {true, false}) {
        for (bool mgf1_hash_null : {true, false}) {
          all.emplace_back(PssParametersDer(hash, hash_null, mgf1_hash_null), &hash);
        }
      }
    }
    return all;
  }();
  return encodings;
}

std::string ObjectName(const ASN1_OBJECT* object) {
  char buffer[128];
  const int length = OBJ_obj2txt(buffer, sizeof(buffer), object, 0);
  if (length <= 0) return "(unreadable OID)";
  if (static_cast<std::size_t>(length) >= sizeof(buffer)) return "(overlong OID)";
  return std::string(buffer, static_cast<std::size_t>(length));
}

const ASN1_OBJECT* AlgorithmOid(const X509_ALGOR* algorithm) {
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  return oid;
}

// Null when absent (RFC 4055's default, SHA-1) or not one of kHashes.
const PssHash* FindHash(const X509_ALGOR* algorithm) {
  if (algorithm == nullptr) return nullptr;
  const int nid = OBJ_obj2nid(AlgorithmOid(algorithm));
  for (const PssHash& hash : kHashes) {
    if (hash.nid == nid) return &hash;
  }
  return nullptr;
}

// A hash AlgorithmIdentifier's name as a user would write it; RFC 4055's default is SHA-1.
std::string HashName(const X509_ALGOR* algorithm) {
  if (algorithm == nullptr) return "SHA-1 (the default)";
  if (const PssHash* hash = FindHash(algorithm)) return hash->name;
  const ASN1_OBJECT* oid = AlgorithmOid(algorithm);
  if (OBJ_obj2nid(oid) == NID_sha1) return "SHA-1";
  return ObjectName(oid);
}

bool ParametersAbsentOrNull(const X509_ALGOR* algorithm) {
  int type = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &type, nullptr, algorithm);
  return type == V_ASN1_UNDEF || type == V_ASN1_NULL;
}

// The DER of a SEQUENCE-typed AlgorithmIdentifier parameter, or null.
const ASN1_STRING* SequenceParameter(const X509_ALGOR* algorithm) {
  int type = V_ASN1_UNDEF;
  const void* value = nullptr;
  X509_ALGOR_get0(nullptr, &type, &value, algorithm);
  return type == V_ASN1_SEQUENCE ? static_cast<const ASN1_STRING*>(value) : nullptr;
}

std::string IntegerText(const ASN1_INTEGER* integer) {
  std::int64_t value = 0;
  if (ASN1_INTEGER_get_int64(&value, integer) != 1) return "out of range";
  return std::to_string(value);
}

// What the parameters that matched no accepted encoding hold, for the refusal.
std::string DescribeParameters(const X509_ALGOR* algorithm) {
  int type = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &type, nullptr, algorithm);
  if (type == V_ASN1_UNDEF) return "without parameters";
  const ASN1_STRING* sequence = SequenceParameter(algorithm);
  if (sequence == nullptr) return "with parameters that are not an RSASSA-PSS-params SEQUENCE";
  const unsigned char* cursor = ASN1_STRING_get0_data(sequence);
  const unsigned char* end = cursor + ASN1_STRING_length(sequence);
  Owned<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free> params(
      d2i_RSA_PSS_PARAMS(nullptr, &cursor, ASN1_STRING_length(sequence)));
  if (!params || cursor != end) return "with RSASSA-PSS parameters that cannot be decoded";

  const PssHash* hash = FindHash(params->hashAlgorithm);
  const std::string over = "over " + HashName(params->hashAlgorithm);
  if (hash == nullptr) return over;
  if (!ParametersAbsentOrNull(params->hashAlgorithm)) {
    return over + " with hash parameters other than NULL";
  }
  const X509_ALGOR* mask = params->maskGenAlgorithm;
  if (mask == nullptr) return over + " with MGF1 over SHA-1 (the default)";
  if (OBJ_obj2nid(AlgorithmOid(mask)) != NID_mgf1) {
    return over + " with the mask generation function " + ObjectName(AlgorithmOid(mask));
  }
  const ASN1_STRING* mask_parameter = SequenceParameter(mask);
  if (mask_parameter == nullptr) return over + " with MGF1 without a hash";
  cursor = ASN1_STRING_get0_data(mask_parameter);
  end = cursor + ASN1_STRING_length(mask_parameter);
  Owned<X509_ALGOR, X509_ALGOR_free> mask_hash(
      d2i_X509_ALGOR(nullptr, &cursor, ASN1_STRING_length(mask_parameter)));
  if (!mask_hash || cursor != end) return over + " with MGF1 parameters that cannot be decoded";
  if (FindHash(mask_hash.get()) != hash) {
    return over + " with MGF1 over " + HashName(mask_hash.get());
  }
  if (!ParametersAbsentOrNull(mask_hash.get())) {
    return over + " with MGF1 hash parameters other than NULL";
  }
  const std::string salt = params->saltLength ? IntegerText(params->saltLength) : "20";
  if (salt != std::to_string(hash->size)) {
    return over + " with a salt of " + salt + " bytes (" +
           (params->saltLength ? "" : "the default; ") + hash->name + " needs " +
           std::to_string(hash->size) + ")";
  }
  if (params->trailerField != nullptr) {
    const std::string trailer = IntegerText(params->trailerField);
    if (trailer != "1") return over + " with the trailer field " + trailer;
    return over +
           " with the trailer field written out although 1 is its default (DER leaves it out)";
  }
  return over + " with RSASSA-PSS parameters that are not in DER form";
}

}  // namespace

Result<PssSignature> ReadPssSignatureAlgorithm(const X509_ALGOR* algorithm) {
  if (const ASN1_STRING* sequence = SequenceParameter(algorithm)) {
    const std::string_view der(reinterpret_cast<const char*>(ASN1_STRING_get0_data(sequence)),
                               static_cast<std::size_t>(ASN1_STRING_length(sequence)));
    for (const auto& [encoding, hash] : AcceptedEncodings()) {
      if (der != encoding) continue;
      const EVP_MD* digest = EVP_get_digestbynid(hash->nid);
      if (digest == nullptr) break;
      return PssSignature{digest, std::string("RSASSA-PSS over ") + hash->name};
    }
  }
  return Error{"the request is signed with RSASSA-PSS " + DescribeParameters(algorithm) +
               "; only RSASSA-PSS over SHA-256, SHA-384 or SHA-512 with MGF1 over the same hash, "
               "a salt as long as the hash and the default trailer field is accepted (what the "
               "API server's Go parser reads)"};
}

bool PssSignatureVerifies(EVP_PKEY* key, const PssSignature& pss, std::string_view signature,
                          std::string_view data) {
  if (EVP_PKEY_is_a(key, "RSA") != 1) return false;
  Owned<EVP_MD_CTX, EVP_MD_CTX_free> context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;  // owned by `context`
  // An exact salt length: OpenSSL's default for verification would accept any.
  return context &&
         EVP_DigestVerifyInit(context.get(), &key_context, pss.digest, nullptr, key) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, pss.digest) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, EVP_MD_get_size(pss.digest)) == 1 &&
         EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

}  // namespace kca::csr_internal
