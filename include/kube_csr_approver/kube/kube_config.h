// Where the API server is and how to prove who we are: in-cluster service account or a kubeconfig.
// Loading reads files only; nothing here talks to the network.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::kube {

// users[].user.exec of a kubeconfig: a credential plugin (client.authentication.k8s.io), run
// without a shell whenever a fresh credential is needed.
struct ExecPluginConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or /v1beta1
  std::string command;      // a bare name is looked up in PATH; a relative path is resolved
                            // against the kubeconfig's directory (as kubectl does)
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited environment
  bool provide_cluster_info = false;  // pass server/CA to the plugin in KUBERNETES_EXEC_INFO
  std::string install_hint;           // shown when the command cannot be started
};

// Everything needed to open an authenticated, verified TLS connection to one API server.
// Secrets (token, client_key_pem) must never be logged. A plain value type.
struct KubeConfig {
  std::string server;           // base URL, e.g. https://10.0.0.1:443 or https://host/prefix
  std::string ca_pem;           // trusted CA bundle; empty = the system trust store
  std::string tls_server_name;  // name to verify in the server certificate instead of the host
  std::string client_certificate_pem;  // with client_key_pem: client-certificate authentication
  std::string client_key_pem;
  std::string token;       // static bearer token
  std::string token_file;  // bearer token re-read periodically (wins over `token`, as in client-go)
  std::optional<ExecPluginConfig> exec;
  std::string namespace_name = "default";  // for namespaced objects we own (Lease, Events)
  std::string source;                      // "in-cluster" or the kubeconfig path, for messages
};

// Reads one environment variable; nullopt when unset. Injected so tests need not touch the
// process environment.
using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment (std::getenv).
EnvironmentLookup ProcessEnvironment();

// Default directory of the mounted service-account token, CA and namespace.
inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster configuration, as client-go's rest.InClusterConfig: server from
// KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT (IPv6 hosts are bracketed), CA from
// <dir>/ca.crt (required), token re-read from <dir>/token, namespace from env POD_NAMESPACE, else
// <dir>/namespace, else "default". <dir> is env KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR if set,
// else kServiceAccountDir. Errors say which variable or file is missing.
Result<KubeConfig> LoadInClusterConfig(const EnvironmentLookup& env);

// A kubeconfig file's current-context: cluster{server, certificate-authority[-data],
// tls-server-name}, user{client-certificate[-data], client-key[-data], token, tokenFile, exec},
// context namespace. Relative file paths resolve against the file's directory; referenced files
// are read now (tokenFile is only checked to exist: it is re-read later).
// Refused with an error naming the file, line and field: insecure-skip-tls-verify: true (TLS is
// always verified), a missing or unknown current-context/cluster/user, bad base64, unreadable
// files, auth-provider (use exec), an exec plugin together with token/tokenFile, interactiveMode
// Always, a client certificate without its key.
Result<KubeConfig> LoadKubeconfigFile(const std::string& path);

// Reads a file a kubeconfig names (CA, client certificate or key, tokenFile), by its resolved
// path. LoadKubeconfigFile reads the file system; tests and fuzzing pass a fake.
using KubeconfigFileReader = std::function<Result<std::string>(const std::string& path)>;

// LoadKubeconfigFile for `text`, the contents of the kubeconfig at `path` (which names it in
// errors and resolves relative paths), reading the files it names through `read`.
Result<KubeConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                   const KubeconfigFileReader& read);

// What `run` uses, in client-go's order (controller-runtime's GetConfig): the kubeconfig at
// `kubeconfig_path` when non-empty (--kubeconfig); else $KUBECONFIG (client-go merges a colon
// list; here the first file of it that exists is loaded, an error when none does); else the
// in-cluster configuration when KUBERNETES_SERVICE_HOST and _PORT are set; else $HOME/.kube/config
// when it exists; else an error naming all four.
Result<KubeConfig> LoadClientConfig(const std::string& kubeconfig_path,
                                    const EnvironmentLookup& env);

}  // namespace kca::kube
