#include "kube_csr_approver/kube/kube_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "fake_files.h"
#include "temp_dir.h"

namespace kca::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
// base64 of kCaPem
constexpr char kCaPemBase64[] =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwRT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

std::string Kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& context_extra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
         "contexts:\n- name: other\n  context: {cluster: nowhere, user: nobody}\n"
         "- name: ctx\n  context:\n    cluster: c1\n    user: u1\n" +
         context_extra + "clusters:\n- name: c1\n  cluster:\n" + cluster +
         "users:\n- name: u1\n  user:\n" + user;
}

class KubeconfigTest : public ::testing::Test {
 protected:
  Result<KubeConfig> Load(const std::string& text) {
    return LoadKubeconfigFile(dir_.Write("config", text));
  }
  std::string ErrorOf(const std::string& text) {
    auto loaded = Load(text);
    EXPECT_FALSE(loaded.ok());
    return loaded.ok() ? std::string() : loaded.error().message;
  }
  testing::TempDir dir_;
};

TEST_F(KubeconfigTest, ReadsInlineDataOfTheCurrentContext) {
  auto config = Load(Kubeconfig(std::string("    server: https://api.example.com:6443/\n"
                                            "    certificate-authority-data: ") +
                                    kCaPemBase64 + "\n    tls-server-name: kubernetes.default\n",
                                std::string("    client-certificate-data: ") + kCaPemBase64 +
                                    "\n    client-key-data: a2V5\n    token: s3cret\n",
                                "    namespace: ops\n"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://api.example.com:6443");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->tls_server_name, "kubernetes.default");
  EXPECT_EQ(config->client_certificate_pem, kCaPem);
  EXPECT_EQ(config->client_key_pem, "key");
  EXPECT_EQ(config->token, "s3cret");
  EXPECT_EQ(config->namespace_name, "ops");
  EXPECT_FALSE(config->exec.has_value());
}

TEST_F(KubeconfigTest, ResolvesRelativeFilesAgainstTheKubeconfigDirectory) {
  dir_.Write("pki/ca.crt", kCaPem);
  dir_.Write("pki/client.crt", "CERT");
  dir_.Write("pki/client.key", "KEY");
  const std::string token_path = dir_.Write("token", "t0\n");
  auto config =
      Load(Kubeconfig("    server: https://10.0.0.1\n    certificate-authority: pki/ca.crt\n",
                      "    client-certificate: pki/client.crt\n    client-key: pki/client.key\n"
                      "    tokenFile: token\n"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->client_certificate_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->token_file, token_path);
  EXPECT_EQ(config->namespace_name, "default");
}

TEST_F(KubeconfigTest, ReadsAnExecPlugin) {
  auto config = Load(Kubeconfig("    server: https://10.0.0.1\n",
                                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                                "      command: ./bin/get-token\n      args: [--cluster, prod]\n"
                                "      env:\n      - {name: REGION, value: eu-west-1}\n"
                                "      interactiveMode: Never\n      provideClusterInfo: true\n"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->command, dir_.path() + "/./bin/get-token");
  EXPECT_THAT(config->exec->args, ::testing::ElementsAre("--cluster", "prod"));
  ASSERT_EQ(config->exec->env.size(), 1u);
  EXPECT_EQ(config->exec->env[0].first, "REGION");
  EXPECT_EQ(config->exec->env[0].second, "eu-west-1");
  EXPECT_TRUE(config->exec->provide_cluster_info);
}

TEST_F(KubeconfigTest, BareExecCommandIsLeftForPathLookup) {
  auto config =
      Load(Kubeconfig("    server: https://10.0.0.1\n",
                      "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                      "      command: aws\n"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->exec->command, "aws");
}

TEST_F(KubeconfigTest, RefusesInsecureSkipTlsVerify) {
  const std::string error = ErrorOf(Kubeconfig(
      "    server: https://10.0.0.1\n    insecure-skip-tls-verify: true\n", "    token: x\n"));
  EXPECT_THAT(error, HasSubstr("clusters[name=c1].cluster.insecure-skip-tls-verify"));
  EXPECT_THAT(error, HasSubstr("refused"));
  EXPECT_THAT(error, HasSubstr(dir_.path() + "/config:"));
}

TEST_F(KubeconfigTest, RefusesPlainHttp) {
  EXPECT_THAT(ErrorOf(Kubeconfig("    server: http://10.0.0.1\n", "    token: x\n")),
              HasSubstr("must start with https://"));
}

TEST_F(KubeconfigTest, NamesTheMissingContext) {
  const std::string error =
      ErrorOf("current-context: gone\ncontexts: []\nclusters: []\nusers: []\n");
  EXPECT_THAT(error, HasSubstr("current-context names context \"gone\""));
}

TEST_F(KubeconfigTest, NamesTheMissingCluster) {
  const std::string error = ErrorOf(
      "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c9, user: u}\n"
      "clusters: []\nusers: []\n");
  EXPECT_THAT(error, HasSubstr("cluster \"c9\""));
}

TEST_F(KubeconfigTest, RequiresCurrentContext) {
  EXPECT_THAT(ErrorOf("contexts: []\n"), HasSubstr("current-context is not set"));
}

TEST_F(KubeconfigTest, NamesBadBase64WithItsLine) {
  const std::string error = ErrorOf(
      Kubeconfig("    server: https://10.0.0.1\n    certificate-authority-data: not*base64\n", ""));
  EXPECT_THAT(error, HasSubstr("certificate-authority-data: not valid base64"));
  EXPECT_THAT(error, HasSubstr("config:15:"));  // the line of the bad value
}

TEST_F(KubeconfigTest, NamesAnUnreadableFile) {
  const std::string error = ErrorOf(
      Kubeconfig("    server: https://10.0.0.1\n    certificate-authority: missing/ca.crt\n", ""));
  EXPECT_THAT(error, HasSubstr("certificate-authority"));
  EXPECT_THAT(error, HasSubstr("missing/ca.crt"));
}

TEST_F(KubeconfigTest, RefusesACertificateWithoutKey) {
  EXPECT_THAT(
      ErrorOf(Kubeconfig("    server: https://10.0.0.1\n", "    client-certificate-data: a2V5\n")),
      HasSubstr("must be given together"));
}

TEST_F(KubeconfigTest, RefusesExecWithTokenAndInteractivePlugins) {
  EXPECT_THAT(ErrorOf(Kubeconfig("    server: https://10.0.0.1\n",
                                 "    token: x\n    exec:\n"
                                 "      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: x\n")),
              HasSubstr("either exec or token"));
  EXPECT_THAT(ErrorOf(Kubeconfig("    server: https://10.0.0.1\n",
                                 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: x\n      interactiveMode: Always\n")),
              HasSubstr("interactiveMode"));
  EXPECT_THAT(
      ErrorOf(Kubeconfig("    server: https://10.0.0.1\n",
                         "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                         "      command: x\n")),
      HasSubstr("is not supported"));
  EXPECT_THAT(
      ErrorOf(Kubeconfig("    server: https://10.0.0.1\n", "    auth-provider: {name: gcp}\n")),
      HasSubstr("use an exec credential plugin"));
}

TEST_F(KubeconfigTest, ReportsYamlSyntaxErrorsWithTheLine) {
  const std::string error = ErrorOf("current-context: a\nclusters: [\n");
  EXPECT_THAT(error, HasSubstr("not valid YAML"));
}

TEST_F(KubeconfigTest, ReportsWrongTypes) {
  EXPECT_THAT(ErrorOf(Kubeconfig("    server: [a, b]\n", "")),
              HasSubstr("clusters[name=c1].cluster.server: expected a string"));
  EXPECT_THAT(
      ErrorOf(Kubeconfig("    server: https://x\n    insecure-skip-tls-verify: maybe\n", "")),
      HasSubstr("expected true or false"));
}

TEST(KubeconfigFileTest, NamesAMissingKubeconfig) {
  auto loaded = LoadKubeconfigFile("/nonexistent/kubeconfig");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("/nonexistent/kubeconfig"));
}

class InClusterTest : public ::testing::Test {
 protected:
  EnvironmentLookup Env() {
    return [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  testing::TempDir dir_;
  std::map<std::string, std::string> env_{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                          {"KUBERNETES_SERVICE_PORT", "443"},
                                          {"KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR", dir_.path()}};
};

TEST_F(InClusterTest, ReadsTheMountedServiceAccount) {
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("token", "tok");
  dir_.Write("namespace", "csr-system\n");
  auto config = LoadInClusterConfig(Env());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->token_file, dir_.path() + "/token");
  EXPECT_TRUE(config->token.empty());
  EXPECT_EQ(config->namespace_name, "csr-system");
  EXPECT_EQ(config->source, "in-cluster");
}

TEST_F(InClusterTest, BracketsIpv6AndPrefersPodNamespace) {
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("token", "tok");
  dir_.Write("namespace", "from-file");
  env_["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  env_["POD_NAMESPACE"] = "from-env";
  auto config = LoadInClusterConfig(Env());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->namespace_name, "from-env");
}

TEST_F(InClusterTest, ExplainsMissingEnvironmentAndFiles) {
  env_.erase("KUBERNETES_SERVICE_PORT");
  auto no_env = LoadInClusterConfig(Env());
  ASSERT_FALSE(no_env.ok());
  EXPECT_THAT(no_env.error().message, HasSubstr("KUBERNETES_SERVICE_PORT must be defined"));

  env_["KUBERNETES_SERVICE_PORT"] = "443";
  auto no_ca = LoadInClusterConfig(Env());
  ASSERT_FALSE(no_ca.ok());
  EXPECT_THAT(no_ca.error().message, HasSubstr(dir_.path() + "/ca.crt"));

  dir_.Write("ca.crt", kCaPem);
  auto no_token = LoadInClusterConfig(Env());
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.error().message, HasSubstr(dir_.path() + "/token"));
}

TEST_F(InClusterTest, ClientConfigPrefersAGivenKubeconfig) {
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("token", "tok");
  const std::string kubeconfig = dir_.Write(
      "kubeconfig", Kubeconfig("    server: https://outside.example\n", "    token: t\n"));
  auto outside = LoadClientConfig(kubeconfig, Env());
  ASSERT_TRUE(outside.ok()) << outside.error().message;
  EXPECT_EQ(outside->server, "https://outside.example");
  auto inside = LoadClientConfig("", Env());
  ASSERT_TRUE(inside.ok()) << inside.error().message;
  EXPECT_EQ(inside->source, "in-cluster");
}

// client-go's order: --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config.
TEST_F(InClusterTest, ClientConfigFollowsClientGosOrder) {
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("token", "tok");
  const std::string from_env = dir_.Write(
      "env-kubeconfig", Kubeconfig("    server: https://from-env.example\n", "    token: t\n"));
  dir_.Write("home/.kube/config",
             Kubeconfig("    server: https://from-home.example\n", "    token: t\n"));
  env_["HOME"] = dir_.path() + "/home";
  env_["KUBECONFIG"] = dir_.path() + "/missing:" + from_env;
  auto config = LoadClientConfig("", Env());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://from-env.example") << "the first existing file of the list";

  env_["KUBECONFIG"] = dir_.path() + "/missing";
  auto none = LoadClientConfig("", Env());
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message, HasSubstr("$KUBECONFIG"));

  env_.erase("KUBECONFIG");
  config = LoadClientConfig("", Env());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->source, "in-cluster");

  env_.erase("KUBERNETES_SERVICE_HOST");
  config = LoadClientConfig("", Env());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://from-home.example");

  env_["HOME"] = dir_.path() + "/nobody";
  auto nothing = LoadClientConfig("", Env());
  ASSERT_FALSE(nothing.ok());
  EXPECT_THAT(nothing.error().message, HasSubstr("--kubeconfig"));
}

// Every file of the configuration is read through the FileReader seam: an unreadable CA is an
// error naming the file and the cause, in-cluster and in a kubeconfig.
TEST(FileReaderSeamTest, AnUnreadableInClusterCaNamesTheFile) {
  testing::FakeFiles files;
  files.Fail("/sa/ca.crt", "Permission denied");
  files.Set("/sa/token", "t");
  const std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                   {"KUBERNETES_SERVICE_PORT", "443"},
                                                   {"KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR", "/sa"}};
  auto env = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto loaded = LoadInClusterConfig(env, files);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("cannot read /sa/ca.crt: Permission denied"));

  files.Set("/sa/ca.crt", "CA");
  files.Set("/sa/namespace", "kube-system\n");
  loaded = LoadInClusterConfig(env, files);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->ca_pem, "CA");
  EXPECT_EQ(loaded->namespace_name, "kube-system");
  EXPECT_EQ(loaded->token_file, "/sa/token");
}

TEST(FileReaderSeamTest, AKubeconfigsFilesAreReadThroughTheSeam) {
  testing::FakeFiles files;
  files.Set("/home/me/.kube/config",
            Kubeconfig("    server: https://10.0.0.1:6443\n    certificate-authority: ca.pem\n",
                       "    tokenFile: /tokens/me\n"));
  files.Fail("/home/me/.kube/ca.pem", "Permission denied");
  files.Set("/tokens/me", "t");
  auto loaded = LoadKubeconfigFile("/home/me/.kube/config", files);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("/home/me/.kube/config:"));
  EXPECT_THAT(loaded.error().message,
              HasSubstr("cannot read /home/me/.kube/ca.pem: Permission denied"));

  files.Set("/home/me/.kube/ca.pem", "CA PEM");
  loaded = LoadKubeconfigFile("/home/me/.kube/config", files);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->ca_pem, "CA PEM");
  EXPECT_EQ(files.reads("/tokens/me"), 1) << "the token file is checked when loading";
}

}  // namespace
}  // namespace kca::kube
