// RSASSA-PSS signatures as the API server's Go parser reads them. Internal to src/csr; pure,
// thread-safe (OpenSSL's error queue aside, which the inspector clears).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>

#include "kube_csr_approver/common/result.h"

namespace kca::csr_internal {

// The parameters of an accepted RSASSA-PSS signature: MGF1 uses `digest` too, and the salt is
// as long as its output.
struct PssSignature {
  const EVP_MD* digest = nullptr;  // SHA-256, SHA-384 or SHA-512 (static, not owned)
  std::string name;                // for CsrFacts::signature_algorithm: "RSASSA-PSS over SHA-256"
};

// The signature algorithm `algorithm` (whose OID is id-RSASSA-PSS) when its parameters are one of
// the DER encodings the API server accepts, or the refusal naming what was found: the hash, the
// mask generation function, the salt length, the trailer field, or missing parameters.
Result<PssSignature> ReadPssSignatureAlgorithm(const X509_ALGOR* algorithm);

// Whether `signature` is an RSASSA-PSS signature of `data` by the RSA key `key` with exactly the
// parameters of `pss`.
bool PssSignatureVerifies(EVP_PKEY* key, const PssSignature& pss, std::string_view signature,
                          std::string_view data);

}  // namespace kca::csr_internal
