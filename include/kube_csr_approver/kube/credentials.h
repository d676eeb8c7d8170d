// Who we are to the API server, kept fresh: static token, rotating token file, or exec plugin.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/kube/files.h"
#include "kube_csr_approver/kube/kube_config.h"

namespace kca::kube {

// What to present on one request. Secrets: never log any field.
struct Credentials {
  std::string bearer_token;            // empty = no Authorization header
  std::string client_certificate_pem;  // with client_key_pem, presented on new TLS connections
  std::string client_key_pem;
};

// Supplies current credentials, refreshing them when due.
// Thread-safety: all methods may be called concurrently from any thread. Current() may block while
// a file is read, or while an exec plugin runs when no usable credential is cached (one run at a
// time; others wait for its result); while a cached exec credential is still valid, a refresh
// due by exec_expiry_margin runs in the background and Current() returns the cached one at once.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;

  // The credentials to use now. An error only when none can be obtained at all (the token file
  // never read, the plugin failing with nothing cached); a failed re-read keeps the last good
  // token, as client-go does, and logs a warning.
  virtual Result<Credentials> Current() = 0;

  // The server answered 401: the next Current() re-reads the file / re-runs the plugin.
  virtual void Invalidate() = 0;
};

struct CredentialOptions {
  // A token file is re-read at least this often (bound tokens rotate; client-go: 1 minute).
  // Default: 1 minute.
  std::chrono::seconds token_file_refresh{60};
  // An exec plugin is killed and counted as failed after this long. Default: 30 s.
  std::chrono::milliseconds exec_timeout{30000};
  // An exec credential is renewed (in the background) this long before its expirationTimestamp.
  // Default: 10 s.
  std::chrono::seconds exec_expiry_margin{10};
  // Reads the token file; must outlive the source. Default (null): LocalFiles().
  const FileReader* files = nullptr;
};

// Builds the source `config` describes: exec plugin if set; else token file (wins over a static
// token); else the static token; a client certificate from the config is always included.
// `clock` must outlive the source. Never fails: problems surface from Current().
std::unique_ptr<CredentialSource> NewCredentialSource(const KubeConfig& config, const Clock& clock,
                                                      CredentialOptions options = {});

}  // namespace kca::kube
