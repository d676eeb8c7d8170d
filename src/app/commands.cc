#include "commands.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "decision_report.h"
#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/common/utf8.h"
#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/csr/node_facts.h"
#include "kube_csr_approver/policy/policy.h"
#include "kube_csr_approver/version.h"

namespace kca {
namespace {

// Larger than any real CSR list an admin would check at once; protects against reading a device.
constexpr std::streamsize kMaxInputBytes = 64 * 1024 * 1024;

Result<std::string> ReadAll(std::istream& stream, const std::string& name) {
  std::string text;
  char buffer[64 * 1024];
  while (stream.read(buffer, sizeof(buffer)) || stream.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(stream.gcount()));
    if (static_cast<std::streamsize>(text.size()) > kMaxInputBytes) {
      return Error{name + ": larger than " + std::to_string(kMaxInputBytes / (1024 * 1024)) +
                   " MiB; split the input"};
    }
  }
  if (stream.bad()) return Error{name + ": read error"};
  return text;
}

Result<std::string> ReadInput(const std::string& path, std::istream& in) {
  if (path == "-") return ReadAll(in, "<stdin>");
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error{path + ": cannot open the file (does it exist and is it readable?)"};
  return ReadAll(file, path);
}

bool LooksLikePem(std::string_view text) {
  const auto start = text.find_first_not_of(" \t\r\n");
  return start != std::string_view::npos && text.substr(start).starts_with("-----BEGIN");
}

// A bare PEM request carries no Kubernetes object: the flags supply what the API server would.
Result<CsrObject> ObjectFromBarePem(const std::string& source, std::string_view pem,
                                    const CheckOptions& options) {
  if (options.signer_name.empty()) {
    return Error{source +
                 ": a bare PEM request needs --signer-name (and usually --username, --group and "
                 "--usage) to be evaluated like a CertificateSigningRequest"};
  }
  CsrObject csr;
  csr.name = source;
  csr.request = EncodeBase64(pem);
  csr.signer_name = options.signer_name;
  csr.username = options.username;
  csr.groups = options.groups;
  csr.usages = options.usages;
  csr.expiration_seconds = options.expiration_seconds;
  return csr;
}

struct Tally {
  int approve = 0, deny = 0, log = 0, skip = 0, pending = 0;
  void Count(Action action) {
    switch (action) {
      case Action::kApprove:
        ++approve;
        break;
      case Action::kDeny:
        ++deny;
        break;
      case Action::kLog:
        ++log;
        break;
      case Action::kSkip:
        ++skip;
        break;
      case Action::kPending:
        ++pending;
        break;
    }
  }
};

template <typename T>
void AppendAll(std::vector<T>&& from, std::vector<T>& to) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

void Append(InputObjects&& from, InputObjects& to) {
  AppendAll(std::move(from.csrs), to.csrs);
  AppendAll(std::move(from.nodes), to.nodes);
  AppendAll(std::move(from.reviews), to.reviews);
  AppendAll(std::move(from.service_cidrs), to.service_cidrs);
}

// Offline, the facts come from the input files; what they do not carry is "not given" (pending),
// except ServiceCIDR objects: without any, the cluster is taken to have none beyond the policy's.
NodeFacts OfflineFacts(const Policy& policy, const CsrObject& csr, const Result<CsrFacts>& facts,
                       const InputObjects& objects) {
  NodeFacts nodes;
  nodes.service_cidrs.ranges = objects.service_cidrs;
  const FactsNeeded needed = NeededFacts(policy, csr, facts);
  if (needed.node_name) {
    for (const NodeObject& node : objects.nodes) {
      if (node.name == *needed.node_name) nodes.node = NodeFact{FactState::kKnown, node, ""};
    }
  }
  if (needed.review) {
    for (const ReviewAnswer& answer : objects.reviews) {
      if (answer.user == needed.review->user && answer.attributes == needed.review->attributes) {
        nodes.review = ReviewFact{FactState::kKnown, answer.allowed, answer.reason, ""};
      }
    }
  }
  return nodes;
}

void PrintIssues(const std::vector<PolicyIssue>& issues, const char* kind, std::ostream& out) {
  for (const auto& issue : issues) out << kind << ": " << issue.ToString() << "\n";
}

}  // namespace

int RunCheck(const CheckOptions& options, CommandStreams streams) {
  if (options.output != "text" && options.output != "json") {
    streams.err << "--output must be text or json, not \"" << options.output << "\"\n";
    return kExitUsageError;
  }
  const PolicyLoadResult loaded = LoadPolicyFile(options.policy_path);
  if (!loaded.policy) {
    PrintIssues(loaded.errors, "error", streams.err);
    streams.err << options.policy_path << ": the policy is invalid; nothing was evaluated\n";
    return kExitUsageError;
  }

  int exit_code = kExitOk;
  nlohmann::json results = nlohmann::json::array();
  Tally tally;
  // Every input is read before any CSR is evaluated: a Node may come in a later file.
  InputObjects objects;
  for (const auto& input : options.inputs) {
    const std::string source = input == "-" ? "<stdin>" : input;
    auto text = ReadInput(input, streams.in);
    if (!text.ok()) {
      streams.err << "error: " << text.error().message << "\n";
      exit_code = kExitInputError;
      continue;
    }
    if (LooksLikePem(*text)) {
      auto csr = ObjectFromBarePem(source, *text, options);
      if (!csr.ok()) {
        streams.err << "error: " << csr.error().message << "\n";
        return kExitUsageError;
      }
      objects.csrs.push_back(std::move(*csr));
    } else {
      auto decoded = DecodeInputDocument(*text, source);
      if (!decoded.ok()) {
        streams.err << "error: " << decoded.error().message << "\n";
        exit_code = kExitInputError;
        continue;
      }
      Append(std::move(*decoded), objects);
    }
  }
  for (auto& csr : objects.csrs) {
    if (options.ignore_status) {
      csr.conditions.clear();
      csr.has_certificate = false;
    }
    const Result<CsrFacts> facts = InspectEncodedRequest(csr.request);
    const NodeFacts nodes = OfflineFacts(*loaded.policy, csr, facts, objects);
    const Decision decision = Evaluate(*loaded.policy, csr, facts, nodes);
    tally.Count(decision.action);
    if (options.output == "json") {
      results.push_back(DecisionToJson(csr.name, decision));
    } else {
      streams.out << ToValidUtf8(DecisionToText(csr, facts, decision)) << "\n";
    }
  }
  if (options.output == "json") {
    // File names, flags and CSR fields may hold any bytes: replaced, never thrown on.
    streams.out << results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    streams.out << tally.approve + tally.deny + tally.log + tally.skip + tally.pending
                << " CSRs: " << tally.approve << " approve, " << tally.deny << " deny, "
                << tally.log << " log, " << tally.skip << " skip";
    if (tally.pending > 0) streams.out << ", " << tally.pending << " pending";
    streams.out << "\n";
  }
  return exit_code;
}

namespace {

nlohmann::json IssuesToJson(const std::vector<PolicyIssue>& issues) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& issue : issues) {
    // 0 means unknown (e.g. the file cannot be read): null, never a made-up position.
    list.push_back({{"line", issue.line > 0 ? nlohmann::json(issue.line) : nlohmann::json()},
                    {"column", issue.column > 0 ? nlohmann::json(issue.column) : nlohmann::json()},
                    {"path", issue.path},
                    {"message", issue.message}});
  }
  return list;
}

}  // namespace

int RunValidatePolicy(const ValidatePolicyOptions& options, CommandStreams streams) {
  if (options.output != "text" && options.output != "json") {
    streams.err << "--output must be text or json, not \"" << options.output << "\"\n";
    return kExitUsageError;
  }
  const std::string& policy_path = options.policy_path;
  const PolicyLoadResult loaded = LoadPolicyFile(policy_path);
  if (options.output == "json") {
    nlohmann::json report = {{"file", policy_path},
                             {"valid", loaded.policy != nullptr},
                             {"errors", IssuesToJson(loaded.errors)},
                             {"warnings", IssuesToJson(loaded.warnings)},
                             {"rules", nullptr},
                             {"sha256", nullptr}};
    if (loaded.policy) {
      const PolicySummary summary = Summarize(*loaded.policy);
      report["rules"] = summary.rule_names.size();
      report["sha256"] = summary.sha256;
    }
    // Invalid UTF-8 in a message (it may quote the file) is replaced, never thrown.
    streams.out << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return loaded.policy ? kExitOk : kExitUsageError;
  }
  if (!loaded.policy) {
    PrintIssues(loaded.errors, "error", streams.err);
    streams.err << policy_path << ": invalid policy (" << loaded.errors.size() << " error"
                << (loaded.errors.size() == 1 ? "" : "s") << ")\n";
    return kExitUsageError;
  }
  PrintIssues(loaded.warnings, "warning", streams.err);
  const PolicySummary summary = Summarize(*loaded.policy);
  streams.out << policy_path << ": valid policy, " << summary.rule_names.size() << " rule"
              << (summary.rule_names.size() == 1 ? "" : "s") << ", sha256 " << summary.sha256;
  if (!loaded.warnings.empty()) streams.out << ", " << loaded.warnings.size() << " warning(s)";
  streams.out << "\n";
  return kExitOk;
}

std::string VersionText() {
  return std::string("kube-csr-approver ") + kVersion + " (revision " + kRevision + ")";
}

int RunVersion(CommandStreams streams) {
  streams.out << VersionText() << "\n";
  return kExitOk;
}

}  // namespace kca
