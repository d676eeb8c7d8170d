#include "decision_report.h"

#include <algorithm>
#include <sstream>

namespace kca {
namespace {

std::string Join(const std::vector<std::string>& values, const char* separator) {
  std::string joined;
  for (const auto& value : values) {
    if (!joined.empty()) joined += separator;
    joined += value;
  }
  return joined;
}

std::string SansToString(const SubjectAlternativeNames& sans) {
  std::vector<std::string> parts;
  for (const auto& dns : sans.dns_names) parts.push_back("DNS:" + dns);
  for (const auto& ip : sans.ip_addresses) parts.push_back("IP:" + ip.ToString());
  for (const auto& email : sans.email_addresses) parts.push_back("email:" + email);
  for (const auto& uri : sans.uris) parts.push_back("URI:" + uri);
  for (const auto& other : sans.other) parts.push_back(other);
  return parts.empty() ? "none" : Join(parts, ", ");
}

std::string Upper(std::string_view word) {
  std::string upper(word);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

}  // namespace

nlohmann::json DecisionToJson(const std::string& csr_name, const Decision& decision) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& check : decision.checks) {
    nlohmann::json entry = {
        {"name", check.name}, {"passed", check.passed}, {"detail", check.detail}};
    if (check.pending) entry["pending"] = true;
    checks.push_back(std::move(entry));
  }
  return {{"name", csr_name},
          {"decision", std::string(ActionName(decision.action))},
          {"rule", decision.rule ? nlohmann::json(*decision.rule) : nlohmann::json(nullptr)},
          {"reasons", decision.reasons},
          {"checks", std::move(checks)}};
}

std::string DecisionToText(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision) {
  std::ostringstream out;
  out << csr.name << ": " << Upper(ActionName(decision.action));
  out << (decision.rule ? " (rule \"" + *decision.rule + "\")" : std::string(" (no rule)")) << "\n";
  out << "  requestor: " << (csr.username.empty() ? "(none)" : csr.username);
  if (!csr.groups.empty()) out << " [groups: " << Join(csr.groups, ", ") << "]";
  out << "\n  signer:    " << csr.signer_name << "\n";
  out << "  usages:    " << (csr.usages.empty() ? "(none)" : Join(csr.usages, ", ")) << "\n";
  if (csr.expiration_seconds) out << "  expires:   after " << *csr.expiration_seconds << " s\n";
  if (facts.ok()) {
    out << "  subject:   " << SubjectToString(*facts) << "\n";
    out << "  SANs:      " << SansToString(facts->sans) << "\n";
    out << "  key:       " << KeyToString(facts->key) << ", signed with "
        << facts->signature_algorithm << "\n";
  } else {
    out << "  request:   refused: " << facts.error().message << "\n";
  }
  for (const auto& check : decision.checks) {
    out << "    ["
        << (check.passed    ? "pass"
            : check.pending ? "wait"
                            : "FAIL")
        << "] " << check.name << ": " << check.detail << "\n";
  }
  // Failed checks already explain themselves; print only reasons no check carries (no rule, skip,
  // a refused request).
  for (const auto& reason : decision.reasons) {
    const bool from_check = std::any_of(decision.checks.begin(), decision.checks.end(),
                                        [&](const CheckResult& c) { return c.detail == reason; });
    if (!from_check) out << "  reason:    " << reason << "\n";
  }
  return out.str();
}

}  // namespace kca
