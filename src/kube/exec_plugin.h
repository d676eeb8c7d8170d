// Running a client.authentication.k8s.io credential plugin and reading its ExecCredential.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/kube/credentials.h"
#include "kube_csr_approver/kube/kube_config.h"
#include "kube_csr_approver/kube/rfc3339.h"

namespace kca::kube {

// Runs `plugin.command` with `plugin.args` directly (no shell), stdin /dev/null, the inherited
// environment plus `plugin.env` and KUBERNETES_EXEC_INFO (with the cluster when
// provide_cluster_info). Returns stdout when the plugin exits 0 within `timeout`; else an error
// with the exit status and the start of stderr. Output beyond 1 MiB is an error.
Result<std::string> RunExecPlugin(const ExecPluginConfig& plugin, const KubeConfig& cluster,
                                  std::chrono::milliseconds timeout);

struct ExecCredential {
  Credentials credentials;
  std::optional<std::chrono::system_clock::time_point> expiry;  // nullopt = until a 401
};

// Decodes the plugin's stdout: kind ExecCredential, apiVersion as configured, status.token or
// status.clientCertificateData + clientKeyData (PEM text), optional expirationTimestamp (RFC 3339).
Result<ExecCredential> ParseExecCredential(const std::string& output,
                                           const std::string& expected_api_version);

}  // namespace kca::kube
