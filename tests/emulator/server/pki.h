// OpenSSL glue for the emulator: its CA, serving and client certificates, and the CSR checks
// kube-apiserver performs at create time (PEM type, parse, signature).
// Thread-safety: free functions over caller-owned values; safe to call concurrently.
#pragma once

#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::emulator {

// A certificate and its private key, both PEM.
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// Loads DIR/ca.crt + DIR/ca.key when both exist, else generates a new CA and writes them.
Result<KeyPair> LoadOrCreateCa(const std::string& data_dir);

// Issues a certificate signed by `ca` with subject CN=common_name and one O per organization.
// `serving` adds the SANs 127.0.0.1, ::1 and localhost and the server auth usage; otherwise the
// certificate carries client auth. Keys are ECDSA P-256 (fast handshakes).
Result<KeyPair> IssueCertificate(const KeyPair& ca, const std::string& common_name,
                                 const std::vector<std::string>& organizations, bool serving);

// The subject of a certificate signing request as kube-apiserver's admission plugins see it.
struct CsrSubject {
  std::string common_name;
  std::vector<std::string> organizations;
};

// Mirrors certificates.ParseCSR + CheckSignature: the first PEM block must be of type
// "CERTIFICATE REQUEST", its DER must parse and its self-signature must verify. The error text is
// the reason kube-apiserver would give.
Result<CsrSubject> ParseCertificateRequest(const std::string& pem);

// Subject of a verified peer certificate (client-certificate authentication).
CsrSubject SubjectOfCertificate(X509* certificate);

// Random bytes as lowercase hex (tokens, uids).
std::string RandomHex(size_t bytes);

}  // namespace kca::emulator
