#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ostream>

namespace kca {
namespace {

constexpr const char* kProgram = "kube-csr-approver";

std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(command->get_name());
  }
  return names;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined;
}

}  // namespace

int RunCommandLine(const std::vector<std::string>& args, CommandStreams streams,
                   const RunControllerFunction& run_controller) {
  CLI::App app{
      "kube-csr-approver: approves, denies or logs Kubernetes CertificateSigningRequests "
      "by policy",
      kProgram};
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionText());

  RunOptions run;
  auto* run_command = app.add_subcommand(
      "run", "Watch CertificateSigningRequests and approve, deny or log them by policy");
  AddRunFlags(*run_command, run);

  CheckOptions check;
  auto* check_command =
      app.add_subcommand("check",
                         "Evaluate CSR files offline against a policy and explain each "
                         "decision");
  check_command->add_option("--policy", check.policy_path, "Policy file (YAML or JSON)")
      ->required();
  check_command->add_option("--output", check.output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  check_command->add_flag("--ignore-status", check.ignore_status,
                          "Evaluate decided CSRs (Approved, Denied, Failed, issued) as if "
                          "pending: why was this one denied?");
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

  ValidatePolicyOptions validate;
  auto* validate_command =
      app.add_subcommand("validate-policy", "Check a policy file and report every problem");
  validate_command->add_option("FILE", validate.policy_path, "Policy file")->required();
  validate_command
      ->add_option("--output", validate.output,
                   "Output format: text, or json ({file, valid, errors, warnings, rules, "
                   "sha256}) for CI")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  auto* version_command = app.add_subcommand("version", "Print the version");

  std::string help_topic;
  auto* help_command = app.add_subcommand("help", "Print the help of the program or of COMMAND");
  help_command->add_option("COMMAND", help_topic, "A command");

  // CLI11 would call an unknown command an unexpected argument; say what it is.
  const std::vector<std::string> commands = CommandNames(app);
  if (!args.empty() && !args.front().starts_with("-") &&
      std::find(commands.begin(), commands.end(), args.front()) == commands.end()) {
    streams.err << kProgram << ": unknown command \"" << args.front() << "\"; the commands are "
                << JoinNames(commands) << " (" << kProgram << " help COMMAND)\n";
    return kExitUsageError;
  }

  std::vector<const char*> argv{kProgram};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, streams.out, streams.err);
  } catch (const CLI::ParseError& e) {
    app.exit(e, streams.out, streams.err);
    return kExitUsageError;
  }

  if (*run_command) return run_controller(std::move(run));
  if (*check_command) return RunCheck(check, streams);
  if (*validate_command) return RunValidatePolicy(validate, streams);
  if (*version_command) return RunVersion(streams);
  if (*help_command) {
    if (help_topic.empty()) {
      // Not app.help(): after parsing it delegates to the parsed subcommand, `help` itself.
      streams.out << app.get_formatter()->make_help(&app, kProgram, CLI::AppFormatMode::Normal);
      return kExitOk;
    }
    for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (command->get_name() == help_topic) {
        streams.out << command->help();
        return kExitOk;
      }
    }
    streams.err << kProgram << " help: unknown command \"" << help_topic << "\"; the commands are "
                << JoinNames(commands) << "\n";
    return kExitUsageError;
  }
  return kExitUsageError;
}

}  // namespace kca
