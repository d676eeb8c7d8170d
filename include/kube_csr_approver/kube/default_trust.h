// OpenSSL's default CA bundle, which cpprestsdk loads into every new TLS connection.
#pragma once

#include <string>
#include <vector>

namespace kca::kube {

// cpprestsdk loads OpenSSL's default CA file (SSL_CERT_FILE, else the compiled-in bundle) into
// the SSL_CTX of every new connection, and the API client then replaces that store with the
// cluster's CA: ~140 PEM certificates parsed for nothing, ~50 ms of CPU and ~1 MiB of heap per
// connection under OpenSSL 3.0 (docs/benchmarks-analysis.md). After this call that load reads
// /dev/null instead; the API client loads the remembered file itself for a server without a
// configured CA, and exec plugins get SSL_CERT_FILE as it was (RestoreTrustEnvironment).
// Call once, before any thread starts (it calls setenv).
void DeferDefaultTrustStore();

// The default CA file to load for a server without a configured CA, when DeferDefaultTrustStore
// has run (empty otherwise: cpprestsdk has loaded it).
const std::string& DeferredDefaultCaFile();

// `environment` ("NAME=value" entries for a child process) with SSL_CERT_FILE as the process
// started with, when DeferDefaultTrustStore changed it.
void RestoreTrustEnvironment(std::vector<std::string>& environment);

}  // namespace kca::kube
