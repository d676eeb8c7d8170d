// kube-csr-approver: command-line entry point. Parses flags with CLI11 and hands over to one
// subcommand; usage errors exit 2 (DESIGN.md "Command line").
#include <openssl/crypto.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "run_command.h"
#include "run_options.h"

int main(int argc, char** argv) {
  // No OpenSSL clean-up at exit: it would run before cpprestsdk's I/O thread is joined (by a
  // static destructor) and so strand that thread's OpenSSL state; without it, the thread's own
  // exit frees that state.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  CLI::App app{
      "kube-csr-approver: approves, denies or logs Kubernetes CertificateSigningRequests "
      "by policy"};
  app.require_subcommand(1);

  kca::RunOptions run;
  auto* run_command = app.add_subcommand(
      "run", "Watch CertificateSigningRequests and approve, deny or log them by policy");
  kca::AddRunFlags(*run_command, run);

  kca::CheckOptions check;
  auto* check_command =
      app.add_subcommand("check",
                         "Evaluate CSR files offline against a policy and explain each "
                         "decision");
  check_command->add_option("--policy", check.policy_path, "Policy file (YAML or JSON)")
      ->required();
  check_command->add_option("--output", check.output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  check_command->add_option("--signer-name", check.signer_name,
                            "spec.signerName for bare PEM requests");
  check_command->add_option("--username", check.username, "spec.username for bare PEM requests");
  check_command->add_option("--group", check.groups, "spec.groups entry for bare PEM requests")
      ->take_all();
  check_command->add_option("--usage", check.usages, "spec.usages entry for bare PEM requests")
      ->take_all();
  check_command->add_option("--expiration-seconds", check.expiration_seconds,
                            "spec.expirationSeconds for bare PEM requests");
  check_command
      ->add_option("CSR_FILE", check.inputs,
                   "CertificateSigningRequest (or List) as YAML/JSON, or a bare PEM request; "
                   "'-' reads stdin")
      ->required();

  std::string policy_to_validate;
  auto* validate_command =
      app.add_subcommand("validate-policy", "Check a policy file and report every problem");
  validate_command->add_option("FILE", policy_to_validate, "Policy file")->required();

  auto* version_command = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kca::kExitUsageError;
  }

  if (*run_command) return kca::RunController(std::move(run));
  kca::CommandStreams streams{std::cin, std::cout, std::cerr};
  if (*check_command) return kca::RunCheck(check, streams);
  if (*validate_command) return kca::RunValidatePolicy(policy_to_validate, streams);
  if (*version_command) return kca::RunVersion(streams);
  return kca::kExitUsageError;
}
