#include "kube_csr_approver/kube/kube_config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <exception>

#include "files.h"
#include "kube_csr_approver/common/base64.h"

namespace kca::kube {
namespace {

// A kubeconfig being read: its path (for messages and relative paths) and its directory.
struct Source {
  std::string path;
  std::string dir;
  const KubeconfigFileReader& read;

  Error At(const YAML::Node& node, const std::string& field, const std::string& what) const {
    std::string where = path;
    if (node.IsDefined() && node.Mark().line >= 0) {
      where += ":" + std::to_string(node.Mark().line + 1);
    }
    return Error{where + ": " + field + ": " + what};
  }
};

// The optional string `key` of map `parent`; an error when present but not a string.
Result<std::optional<std::string>> OptionalString(const Source& src, const YAML::Node& parent,
                                                  const std::string& key,
                                                  const std::string& field) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) return std::optional<std::string>();
  if (!node.IsScalar()) return src.At(node, field, "expected a string");
  return std::optional<std::string>(node.Scalar());
}

Result<bool> OptionalBool(const Source& src, const YAML::Node& parent, const std::string& key,
                          const std::string& field) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) return false;
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return src.At(node, field, "expected true or false");
  }
  return value;
}

// The map of the entry named `name` in list `list_key` (clusters, users, contexts), found under
// `inner_key` (cluster, user, context).
Result<YAML::Node> NamedEntry(const Source& src, const YAML::Node& root,
                              const std::string& list_key, const std::string& inner_key,
                              const std::string& name, const std::string& referrer) {
  const YAML::Node list = root[list_key];
  if (list.IsDefined() && !list.IsNull() && !list.IsSequence()) {
    return src.At(list, list_key, "expected a list");
  }
  if (list.IsSequence()) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node entry = list[i];
      const std::string field = list_key + "[" + std::to_string(i) + "]";
      if (!entry.IsMap()) return src.At(entry, field, "expected a map with name and " + inner_key);
      auto entry_name = OptionalString(src, entry, "name", field + ".name");
      if (!entry_name.ok()) return entry_name.error();
      if (!entry_name->has_value() || **entry_name != name) continue;
      const YAML::Node inner = entry[inner_key];
      if (!inner.IsMap()) {
        return src.At(entry, field + "." + inner_key, "missing or not a map");
      }
      return inner;
    }
  }
  return Error{src.path + ": " + referrer + " names " + list_key.substr(0, list_key.size() - 1) +
               " \"" + name + "\", but " + list_key + " has no entry with that name"};
}

// A PEM given either inline as base64 (`data_key`) or as a file (`file_key`); data wins, as in
// client-go. Empty when neither is set.
Result<std::string> PemFromDataOrFile(const Source& src, const YAML::Node& parent,
                                      const std::string& field_prefix, const std::string& data_key,
                                      const std::string& file_key) {
  auto data = OptionalString(src, parent, data_key, field_prefix + data_key);
  if (!data.ok()) return data.error();
  if (data->has_value() && !(*data)->empty()) {
    constexpr std::string_view kWhat = "the value";
    auto decoded = DecodeBase64(**data, kWhat);
    if (!decoded.ok()) {
      // "the value is not valid base64: <why>" → "not valid base64: <why>" after the field name.
      return src.At(parent[data_key], field_prefix + data_key,
                    decoded.error().message.substr(kWhat.size() + 4) +
                        " (it must hold the base64 of the PEM text)");
    }
    return *decoded;
  }
  auto file = OptionalString(src, parent, file_key, field_prefix + file_key);
  if (!file.ok()) return file.error();
  if (!file->has_value() || (*file)->empty()) return std::string();
  auto contents = src.read(ResolveAgainst(src.dir, **file));
  if (!contents.ok()) {
    return src.At(parent[file_key], field_prefix + file_key, contents.error().message);
  }
  return *contents;
}

Result<ExecPluginConfig> ParseExec(const Source& src, const YAML::Node& exec,
                                   const std::string& field) {
  if (!exec.IsMap()) return src.At(exec, field, "expected a map");
  ExecPluginConfig config;
  auto api_version = OptionalString(src, exec, "apiVersion", field + ".apiVersion");
  if (!api_version.ok()) return api_version.error();
  config.api_version = api_version->value_or("");
  if (config.api_version != "client.authentication.k8s.io/v1" &&
      config.api_version != "client.authentication.k8s.io/v1beta1") {
    return src.At(exec, field + ".apiVersion",
                  "\"" + config.api_version +
                      "\" is not supported; use client.authentication.k8s.io/v1 (or v1beta1)");
  }
  auto command = OptionalString(src, exec, "command", field + ".command");
  if (!command.ok()) return command.error();
  if (!command->has_value() || (*command)->empty()) {
    return src.At(exec, field + ".command", "required: the credential plugin to run");
  }
  config.command = **command;
  // kubectl resolves a relative path with a directory part against the kubeconfig's directory.
  if (config.command.find('/') != std::string::npos) {
    config.command = ResolveAgainst(src.dir, config.command);
  }
  const YAML::Node args = exec["args"];
  if (args.IsDefined() && !args.IsNull()) {
    if (!args.IsSequence()) return src.At(args, field + ".args", "expected a list of strings");
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return src.At(args[i], field + ".args[" + std::to_string(i) + "]", "expected a string");
      }
      config.args.push_back(args[i].Scalar());
    }
  }
  const YAML::Node env = exec["env"];
  if (env.IsDefined() && !env.IsNull()) {
    if (!env.IsSequence()) return src.At(env, field + ".env", "expected a list of {name, value}");
    for (std::size_t i = 0; i < env.size(); ++i) {
      const std::string entry_field = field + ".env[" + std::to_string(i) + "]";
      if (!env[i].IsMap()) return src.At(env[i], entry_field, "expected {name, value}");
      auto name = OptionalString(src, env[i], "name", entry_field + ".name");
      if (!name.ok()) return name.error();
      auto value = OptionalString(src, env[i], "value", entry_field + ".value");
      if (!value.ok()) return value.error();
      if (!name->has_value() || (*name)->empty() || (*name)->find('=') != std::string::npos) {
        return src.At(env[i], entry_field + ".name", "required, without '='");
      }
      config.env.emplace_back(**name, value->value_or(""));
    }
  }
  auto interactive = OptionalString(src, exec, "interactiveMode", field + ".interactiveMode");
  if (!interactive.ok()) return interactive.error();
  if (interactive->has_value() && **interactive != "Never" && **interactive != "IfAvailable") {
    return src.At(exec["interactiveMode"], field + ".interactiveMode",
                  "\"" + **interactive +
                      "\" cannot work in a daemon without a terminal; use Never or IfAvailable");
  }
  auto provide = OptionalBool(src, exec, "provideClusterInfo", field + ".provideClusterInfo");
  if (!provide.ok()) return provide.error();
  config.provide_cluster_info = *provide;
  auto hint = OptionalString(src, exec, "installHint", field + ".installHint");
  if (!hint.ok()) return hint.error();
  config.install_hint = hint->value_or("");
  return config;
}

Status ParseCluster(const Source& src, const YAML::Node& cluster, const std::string& field,
                    KubeConfig& config) {
  auto server = OptionalString(src, cluster, "server", field + ".server");
  if (!server.ok()) return server.error();
  if (!server->has_value() || (*server)->empty()) {
    return src.At(cluster, field + ".server", "required: the API server's https:// URL");
  }
  config.server = **server;
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.rfind("https://", 0) != 0) {
    return src.At(cluster["server"], field + ".server",
                  "\"" + config.server + "\" must start with https:// (TLS is always required)");
  }
  auto insecure =
      OptionalBool(src, cluster, "insecure-skip-tls-verify", field + ".insecure-skip-tls-verify");
  if (!insecure.ok()) return insecure.error();
  if (*insecure) {
    return src.At(cluster["insecure-skip-tls-verify"], field + ".insecure-skip-tls-verify",
                  "refused: this controller grants certificates and always verifies the API "
                  "server; set certificate-authority or certificate-authority-data instead");
  }
  auto ca = PemFromDataOrFile(src, cluster, field + ".", "certificate-authority-data",
                              "certificate-authority");
  if (!ca.ok()) return ca.error();
  config.ca_pem = std::move(*ca);
  auto server_name = OptionalString(src, cluster, "tls-server-name", field + ".tls-server-name");
  if (!server_name.ok()) return server_name.error();
  config.tls_server_name = server_name->value_or("");
  auto proxy = OptionalString(src, cluster, "proxy-url", field + ".proxy-url");
  if (!proxy.ok()) return proxy.error();
  if (proxy->has_value() && !(*proxy)->empty()) {
    return src.At(cluster["proxy-url"], field + ".proxy-url", "proxies are not supported");
  }
  return Status::Ok();
}

Status ParseUser(const Source& src, const YAML::Node& user, const std::string& field,
                 KubeConfig& config) {
  if (user["auth-provider"].IsDefined() && !user["auth-provider"].IsNull()) {
    return src.At(user["auth-provider"], field + ".auth-provider",
                  "auth-provider plugins are not supported; use an exec credential plugin");
  }
  for (const char* key : {"username", "password"}) {
    if (user[key].IsDefined() && !user[key].IsNull()) {
      return src.At(user[key], field + "." + key,
                    "basic authentication is not supported; use a token or client certificate");
    }
  }
  auto cert =
      PemFromDataOrFile(src, user, field + ".", "client-certificate-data", "client-certificate");
  if (!cert.ok()) return cert.error();
  auto key = PemFromDataOrFile(src, user, field + ".", "client-key-data", "client-key");
  if (!key.ok()) return key.error();
  if (cert->empty() != key->empty()) {
    return src.At(user, field,
                  "client-certificate and client-key must be given together (one is missing)");
  }
  config.client_certificate_pem = std::move(*cert);
  config.client_key_pem = std::move(*key);

  auto token = OptionalString(src, user, "token", field + ".token");
  if (!token.ok()) return token.error();
  config.token = token->value_or("");
  auto token_file = OptionalString(src, user, "tokenFile", field + ".tokenFile");
  if (!token_file.ok()) return token_file.error();
  if (token_file->has_value() && !(*token_file)->empty()) {
    config.token_file = ResolveAgainst(src.dir, **token_file);
    auto probe = src.read(config.token_file);
    if (!probe.ok()) return src.At(user["tokenFile"], field + ".tokenFile", probe.error().message);
  }
  const YAML::Node exec = user["exec"];
  if (exec.IsDefined() && !exec.IsNull()) {
    if (!config.token.empty() || !config.token_file.empty()) {
      return src.At(exec, field + ".exec",
                    "set either exec or token/tokenFile, not both (which one wins is ambiguous)");
    }
    auto plugin = ParseExec(src, exec, field + ".exec");
    if (!plugin.ok()) return plugin.error();
    config.exec = std::move(*plugin);
  }
  return Status::Ok();
}

Result<KubeConfig> ParseRoot(const Source& src, const YAML::Node& root) {
  if (!root.IsMap()) return Error{src.path + ": not a kubeconfig (expected a YAML map)"};
  auto current = OptionalString(src, root, "current-context", "current-context");
  if (!current.ok()) return current.error();
  if (!current->has_value() || (*current)->empty()) {
    return Error{src.path +
                 ": current-context is not set; run `kubectl config use-context NAME` on it"};
  }
  auto context = NamedEntry(src, root, "contexts", "context", **current, "current-context");
  if (!context.ok()) return context.error();
  const std::string context_field = "contexts[name=" + **current + "].context";
  auto cluster_name = OptionalString(src, *context, "cluster", context_field + ".cluster");
  if (!cluster_name.ok()) return cluster_name.error();
  if (!cluster_name->has_value()) {
    return src.At(*context, context_field + ".cluster", "required");
  }
  auto user_name = OptionalString(src, *context, "user", context_field + ".user");
  if (!user_name.ok()) return user_name.error();
  auto ns = OptionalString(src, *context, "namespace", context_field + ".namespace");
  if (!ns.ok()) return ns.error();

  KubeConfig config;
  config.source = src.path;
  if (ns->has_value() && !(*ns)->empty()) config.namespace_name = **ns;

  auto cluster =
      NamedEntry(src, root, "clusters", "cluster", **cluster_name, context_field + ".cluster");
  if (!cluster.ok()) return cluster.error();
  if (Status s =
          ParseCluster(src, *cluster, "clusters[name=" + **cluster_name + "].cluster", config);
      !s.ok()) {
    return s.error();
  }
  if (user_name->has_value() && !(*user_name)->empty()) {
    auto user = NamedEntry(src, root, "users", "user", **user_name, context_field + ".user");
    if (!user.ok()) return user.error();
    if (Status s = ParseUser(src, *user, "users[name=" + **user_name + "].user", config); !s.ok()) {
      return s.error();
    }
  }
  return config;
}

std::string DirectoryOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<KubeConfig> LoadInClusterConfig(const EnvironmentLookup& env) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return Error{
        "unable to load in-cluster configuration: KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT must be defined (outside a cluster, pass --kubeconfig)"};
  }
  KubeConfig config;
  config.source = "in-cluster";
  const bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;

  const std::string dir =
      env("KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR").value_or(std::string(kServiceAccountDir));
  auto ca = ReadSmallFile(dir + "/ca.crt");
  if (!ca.ok()) {
    return Error{"in-cluster configuration: " + ca.error().message +
                 " (is the service-account token mounted?)"};
  }
  config.ca_pem = std::move(*ca);
  config.token_file = dir + "/token";
  auto token = ReadSmallFile(config.token_file);
  if (!token.ok()) {
    return Error{"in-cluster configuration: " + token.error().message +
                 " (is automountServiceAccountToken disabled?)"};
  }
  if (auto ns = env("POD_NAMESPACE"); ns && !ns->empty()) {
    config.namespace_name = *ns;
  } else if (auto file = ReadSmallFile(dir + "/namespace"); file.ok()) {
    std::string trimmed = *file;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
      trimmed.pop_back();
    }
    if (!trimmed.empty()) config.namespace_name = trimmed;
  }
  return config;
}

Result<KubeConfig> LoadKubeconfigFile(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return Error{"kubeconfig: " + text.error().message};
  return ParseKubeconfig(*text, path, [](const std::string& file) { return ReadSmallFile(file); });
}

Result<KubeConfig> ParseKubeconfig(std::string_view text, const std::string& path,
                                   const KubeconfigFileReader& read) {
  const Source src{path, DirectoryOf(path), read};
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return ParseRoot(src, root);
  } catch (const YAML::Exception& e) {
    return Error{path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg};
  } catch (const std::exception& e) {
    return Error{path + ": cannot read kubeconfig: " + e.what()};
  }
}

Result<KubeConfig> LoadClientConfig(const std::string& kubeconfig_path,
                                    const EnvironmentLookup& env) {
  if (!kubeconfig_path.empty()) return LoadKubeconfigFile(kubeconfig_path);
  if (auto list = env("KUBECONFIG"); list && !list->empty()) {
    // client-go merges every file of the list; we take the first one that exists.
    std::string_view rest = *list;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string file(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (!file.empty() && ::access(file.c_str(), F_OK) == 0) return LoadKubeconfigFile(file);
    }
    return Error{"$KUBECONFIG=\"" + *list + "\": none of its files exists"};
  }
  const bool in_cluster =
      env("KUBERNETES_SERVICE_HOST").has_value() && env("KUBERNETES_SERVICE_PORT").has_value();
  if (in_cluster) return LoadInClusterConfig(env);
  if (auto home = env("HOME"); home && !home->empty()) {
    const std::string file = *home + "/.kube/config";
    if (::access(file.c_str(), F_OK) == 0) return LoadKubeconfigFile(file);
  }
  return Error{
      "no API server configuration: pass --kubeconfig, set $KUBECONFIG, run in a pod (in-cluster: "
      "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set) or create "
      "~/.kube/config"};
}

}  // namespace kca::kube
