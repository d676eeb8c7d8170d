// libFuzzer target: the kubeconfig loader on any YAML, with the files it names read from a fake
// (never the file system: the input names paths). A fake file exists when its name contains
// "ok", else it is missing. Invariants: never throws; errors name the kubeconfig; a loaded
// config points at an https:// server without a trailing slash, has a client certificate only
// with its key, never both an exec plugin and a token, and every file it read was resolved
// against the kubeconfig's directory.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "kube_csr_approver/kube/files.h"
#include "kube_csr_approver/kube/kube_config.h"

namespace {

using kca::fuzz::Violated;

constexpr std::string_view kPath = "/fuzz/home/.kube/config";

std::string Contents(const std::string& path) { return "contents of " + path + "\n"; }

// The input at kPath; any other file exists when its name contains "ok". Records what was read.
class FuzzFiles final : public kca::kube::FileReader {
 public:
  explicit FuzzFiles(std::string_view kubeconfig) : kubeconfig_(kubeconfig) {}

  kca::Result<std::string> Read(const std::string& path, std::size_t /*max_bytes*/) const override {
    if (path == kPath) return std::string(kubeconfig_);
    if (path.empty()) Violated("read a file without a name");
    if (path.front() != '/') Violated("read a relative path, not resolved against the directory");
    read_.insert(path);
    if (path.find("ok") == std::string::npos) {
      return kca::Error{"cannot read " + path + ": No such file or directory"};
    }
    return Contents(path);
  }

  const std::set<std::string>& read() const { return read_; }

 private:
  std::string_view kubeconfig_;
  mutable std::set<std::string> read_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const FuzzFiles files(input);
  const auto config = kca::kube::LoadKubeconfigFile(std::string(kPath), files);
  const std::set<std::string>& read = files.read();
  if (!config.ok()) {
    if (config.error().message.find(kPath) == std::string::npos) {
      Violated("an error that does not name the kubeconfig", config.error().message);
    }
    return 0;
  }
  if (config->source != kPath) Violated("the config does not name its source");
  if (config->server.rfind("https://", 0) != 0) Violated("a server that is not https://");
  if (config->server.back() == '/') Violated("a server URL with a trailing slash");
  if (config->client_certificate_pem.empty() != config->client_key_pem.empty()) {
    Violated("a client certificate without its key, or a key without its certificate");
  }
  if (config->exec && (!config->token.empty() || !config->token_file.empty())) {
    Violated("an exec plugin together with a token");
  }
  if (!config->token_file.empty() && !read.contains(config->token_file)) {
    Violated("a tokenFile never checked");
  }
  if (config->exec) {
    const auto& exec = *config->exec;
    if (exec.command.empty()) Violated("an exec plugin without a command");
    if (exec.command.find('/') != std::string::npos && exec.command.front() != '/') {
      Violated("a relative plugin path not resolved against the kubeconfig's directory");
    }
    for (const auto& [name, value] : exec.env) {
      if (name.empty() || name.find('=') != std::string::npos) Violated("a bad env name");
    }
  }
  return 0;
}
