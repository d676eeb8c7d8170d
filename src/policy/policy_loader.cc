// ParsePolicy: YAML (or JSON) text → validated, compiled Policy. Strict: every problem becomes
// an issue with file, line, column and path, and all of them are collected before giving up.
#include <openssl/evp.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"
#include "kube_csr_approver/policy/policy.h"
#include "policy_lint.h"
#include "policy_model.h"
#include "san_syntax.h"

namespace kca {
namespace {

using policy::Location;
using policy::Pattern;
using policy::PatternList;

constexpr std::string_view kApiVersion = "csr.approver.io/v1";
constexpr std::string_view kKind = "ApprovalPolicy";
constexpr std::string_view kStringTag = "tag:yaml.org,2002:str";

// YAML aliases let a few bytes stand for thousands of entries (each `*alias` is walked again),
// so loading is bounded: past these limits the loader stops with one error instead of
// spending seconds and gigabytes on a hostile or broken file.
constexpr size_t kMaxEntries = 20000;  // mapping keys plus list items, aliases expanded
constexpr size_t kMaxRegexes = 1000;
constexpr size_t kMaxErrors = 100;
constexpr size_t kMaxDocuments = 10;  // enough to say how many there are

// Group names in Kubernetes are case-sensitive: "System:Masters" is another group, so only these
// exact spellings are protected.
constexpr std::array<std::string_view, 2> kBuiltinProtectedOrganizations = {
    "system:masters", "kubeadm:cluster-admins"};

// A node with the path and position messages about it use. A null value (`key:` with nothing
// after it) has no useful mark of its own, so it carries its key's position instead.
struct Value {
  YAML::Node node;
  std::string path;
  Location at;
};

Location LocationOf(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

Location MarkOf(const YAML::Node& node) { return LocationOf(node.Mark()); }

std::string DescribeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Scalar:
      return "the scalar " + Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "an unknown node";
}

bool IsYaml11Boolean(std::string_view text) {
  static constexpr std::array<std::string_view, 22> kBooleans = {
      "y",    "Y",    "yes",   "Yes",   "YES",   "n",  "N",  "no", "No",  "NO",  "true",
      "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
  return std::find(kBooleans.begin(), kBooleans.end(), text) != kBooleans.end();
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

// DNS comparisons ignore ASCII case and one trailing dot (DESIGN.md "Patterns").
std::string NormalizeDnsName(std::string name) {
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// Records where each document of a YAML stream starts. yaml-cpp 0.7's LoadAll never returns on
// some malformed input (a lone ","): its parser keeps yielding empty documents without moving
// on, and LoadAll collects them until memory runs out. Counting documents here, and stopping
// when the parser stops advancing, turns that into an error.
class DocumentCounter : public YAML::EventHandler {
 public:
  const std::vector<YAML::Mark>& starts() const { return starts_; }

  void OnDocumentStart(const YAML::Mark& mark) override { starts_.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::vector<YAML::Mark> starts_;
};

class Loader {
 public:
  explicit Loader(std::string_view file_name) : file_(file_name) {}

  PolicyLoadResult Load(std::string_view text) {
    PolicyLoadResult result;
    auto policy = std::make_shared<Policy>();
    if (const size_t valid = ValidUtf8Prefix(text); valid != text.size()) {
      // yaml-cpp passes invalid bytes through into names and patterns, where they would reach
      // logs and JSON; the file is refused whole, pointing at the first bad byte.
      const std::string_view before = text.substr(0, valid);
      const size_t line_start = before.rfind('\n');
      const int line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
      const int column =
          static_cast<int>(line_start == std::string_view::npos ? valid : valid - line_start - 1) +
          1;
      result.errors.push_back(PolicyIssue{file_, line, column, "",
                                          "the policy is not valid UTF-8 (byte " +
                                              std::to_string(valid + 1) + "); save it as UTF-8"});
      return result;
    }
    try {
      ParseDocument(text, *policy);
    } catch (const YAML::Exception& e) {
      // Node accessors can throw on malformed trees; report rather than crash.
      AddError(LocationOf(e.mark), "", "cannot read the YAML: " + e.msg);
    }
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const PolicyIssue& a, const PolicyIssue& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    if (!stop_reason_.empty()) errors_.push_back(PolicyIssue{file_, 0, 0, "", stop_reason_});
    result.errors = std::move(errors_);
    if (!result.errors.empty()) return result;

    policy->summary.sha256 = Sha256Hex(text);
    for (const policy::Rule& rule : policy->rules) policy->summary.rule_names.push_back(rule.name);
    IndexSigners(*policy);
    result.warnings = policy::LintPolicy(*policy, file_);
    result.policy = std::move(policy);
    return result;
  }

 private:
  using Fields = std::map<std::string, Value, std::less<>>;

  void AddError(Location at, std::string path, std::string message) {
    if (errors_.size() >= kMaxErrors) {
      Stop("more than " + std::to_string(kMaxErrors) + " errors; fix these first");
      return;
    }
    errors_.push_back(PolicyIssue{file_, at.line, at.column, std::move(path), std::move(message)});
  }

  // Ends loading: every later Mapping/Sequence yields nothing, so the walk unwinds quickly.
  void Stop(std::string reason) {
    if (!stop_reason_.empty()) return;
    stop_reason_ = std::move(reason);
  }

  // Counts one more entry against kMaxEntries; false once loading must stop.
  bool Spend() {
    if (!stop_reason_.empty()) return false;
    if (++entries_ > kMaxEntries) {
      Stop("the policy has more than " + std::to_string(kMaxEntries) +
           " entries (aliases counted each time they are used); loading stopped");
      return false;
    }
    return true;
  }
  void AddError(const Value& value, std::string message) {
    AddError(value.at, value.path, std::move(message));
  }

  static std::string Child(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // The known keys of a mapping; unknown and duplicate keys are reported here.
  std::optional<Fields> Mapping(const Value& value, std::initializer_list<std::string_view> keys) {
    if (!stop_reason_.empty()) return std::nullopt;
    std::vector<std::string> expected(keys.begin(), keys.end());
    if (!value.node.IsMap()) {
      AddError(value, "expected a mapping with keys " + Join(expected) + ", found " +
                          DescribeKind(value.node));
      return std::nullopt;
    }
    Fields fields;
    std::map<std::string, Location, std::less<>> seen;
    for (auto it = value.node.begin(); it != value.node.end(); ++it) {
      if (!Spend()) return std::nullopt;
      const YAML::Node key = it->first;
      Location key_at = MarkOf(key);
      if (!key.IsScalar()) {
        AddError(key_at, value.path, "a key must be a string, found " + DescribeKind(key));
        continue;
      }
      const std::string& name = key.Scalar();
      std::string path = Child(value.path, name);
      if (auto first = seen.find(name); first != seen.end()) {
        AddError(key_at, path,
                 "duplicate key " + Quote(name) + " (first at line " +
                     std::to_string(first->second.line) + ", column " +
                     std::to_string(first->second.column) + "); remove one of them");
        continue;
      }
      seen.emplace(name, key_at);
      if (std::find(keys.begin(), keys.end(), name) == keys.end()) {
        AddError(key_at, path,
                 "unknown key " + Quote(name) + "; expected one of: " + Join(expected));
        continue;
      }
      const YAML::Node child = it->second;
      Location at = child.IsNull() || !child.IsDefined() ? key_at : MarkOf(child);
      fields.emplace(name, Value{child, std::move(path), at});
    }
    return fields;
  }

  static const Value* Find(const Fields& fields, std::string_view key) {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
  }

  const Value* Require(const Fields& fields, std::string_view key, const Value& parent) {
    const Value* found = Find(fields, key);
    if (found == nullptr) {
      AddError(parent.at, Child(parent.path, key), "missing required key " + Quote(key));
    }
    return found;
  }

  // Any scalar is a string, except what YAML 1.1 reads as a boolean or null when unquoted.
  std::optional<std::string> String(const Value& value) {
    const YAML::Node& node = value.node;
    if (!node.IsScalar()) {
      AddError(value, "expected a string, found " + DescribeKind(node));
      return std::nullopt;
    }
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == kStringTag) return node.Scalar();
    if (tag != "?") {
      AddError(value, "unsupported tag " + Quote(tag) + "; write a plain or quoted string");
      return std::nullopt;
    }
    if (IsYaml11Boolean(node.Scalar())) {
      AddError(value, "expected a string, found the YAML 1.1 boolean " + node.Scalar() +
                          "; quote it (\"" + node.Scalar() + "\") if the text is meant");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<bool> Bool(const Value& value) {
    const YAML::Node& node = value.node;
    if (node.IsScalar() && node.Tag() == "?") {
      const std::string& text = node.Scalar();
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    AddError(value, "expected true or false, found " + DescribeKind(node) +
                        (node.IsScalar() && node.Tag() != "?" ? " (quoted)" : ""));
    return std::nullopt;
  }

  std::optional<std::int64_t> PositiveInteger(const Value& value) {
    const YAML::Node& node = value.node;
    if (node.IsScalar() && node.Tag() == "?") {
      std::string_view text = node.Scalar();
      if (!text.empty() && text.front() == '+') text.remove_prefix(1);
      std::int64_t number = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) {
        if (number > 0) return number;
        AddError(value, "must be a positive integer, found " + node.Scalar());
        return std::nullopt;
      }
    }
    AddError(value, "expected a positive integer, found " + DescribeKind(node));
    return std::nullopt;
  }

  std::optional<std::vector<Value>> Sequence(const Value& value) {
    if (!stop_reason_.empty()) return std::nullopt;
    if (!value.node.IsSequence()) {
      AddError(value, "expected a list, found " + DescribeKind(value.node));
      return std::nullopt;
    }
    std::vector<Value> items;
    size_t index = 0;
    for (const YAML::Node& item : value.node) {
      if (!Spend()) return std::nullopt;
      std::string path = value.path + "[" + std::to_string(index++) + "]";
      Location at = item.IsNull() ? value.at : MarkOf(item);
      items.push_back(Value{item, std::move(path), at});
    }
    return items;
  }

  enum class PatternKind { kGeneral, kDnsName };

  // A glob string or {regex: "..."}; in dnsNames also {wildcard: "*.example.com"}.
  std::optional<Pattern> ParsePattern(const Value& value, PatternKind kind) {
    if (value.node.IsMap()) {
      if (kind != PatternKind::kDnsName) {
        auto fields = Mapping(value, {"regex"});
        if (!fields) return std::nullopt;
        const Value* regex = Require(*fields, "regex", value);
        if (regex == nullptr) return std::nullopt;
        return ParseRegex(*regex, kind);
      }
      auto fields = Mapping(value, {"regex", "wildcard"});
      if (!fields) return std::nullopt;
      const Value* regex = Find(*fields, "regex");
      const Value* wildcard = Find(*fields, "wildcard");
      if ((regex == nullptr) == (wildcard == nullptr)) {
        AddError(value, "expected exactly one of regex or wildcard");
        return std::nullopt;
      }
      if (regex != nullptr) return ParseRegex(*regex, kind);
      return ParseWildcard(*wildcard);
    }
    auto text = String(value);
    if (!text) return std::nullopt;
    if (text->empty()) {
      AddError(value, "empty pattern; write \"*\" to allow any value or remove the entry");
      return std::nullopt;
    }
    if (kind == PatternKind::kDnsName) *text = NormalizeDnsName(std::move(*text));
    return Pattern::Glob(std::move(*text));
  }

  // The one entry that allows a requested wildcard SAN: exactly that SAN, nothing else.
  std::optional<Pattern> ParseWildcard(const Value& value) {
    auto text = String(value);
    if (!text) return std::nullopt;
    std::string name = NormalizeDnsName(std::move(*text));
    if (!policy::IsWildcardHostname(name)) {
      AddError(value,
               "a wildcard entry is \"*.\" followed by a hostname (e.g. \"*.example.com\"), "
               "found " +
                   Quote(name));
      return std::nullopt;
    }
    return Pattern::Wildcard(std::move(name));
  }

  std::optional<Pattern> ParseRegex(const Value& value, PatternKind kind) {
    auto text = String(value);
    if (!text) return std::nullopt;
    if (text->empty()) {
      AddError(value, "empty regex; write \".*\" to allow any value or remove the entry");
      return std::nullopt;
    }
    if (++regexes_ > kMaxRegexes) {
      Stop("the policy has more than " + std::to_string(kMaxRegexes) +
           " regexes (aliases counted each time they are used); loading stopped");
      return std::nullopt;
    }
    Result<Pattern> pattern = Pattern::Regex(std::move(*text), kind == PatternKind::kDnsName);
    if (!pattern.ok()) {
      AddError(value, pattern.error().message);
      return std::nullopt;
    }
    return std::move(pattern).value();
  }

  static std::string DescribeList(const std::vector<Pattern>& patterns) {
    if (patterns.empty()) return "(none)";
    std::string out = "[";
    for (const Pattern& pattern : patterns) {
      if (out.size() > 1) out += ", ";
      out += pattern.Describe();
    }
    return out + "]";
  }

  PatternList ParsePatternList(const Value& value, PatternKind kind) {
    PatternList list;
    if (auto items = Sequence(value)) {
      for (const Value& item : *items) {
        if (auto pattern = ParsePattern(item, kind)) list.patterns.push_back(std::move(*pattern));
      }
    }
    list.description = DescribeList(list.patterns);
    return list;
  }

  // Selector lists may not be empty: an empty list would silently select nothing.
  void ParseSelectorField(const Fields& fields, std::string_view key, policy::SelectorField& out) {
    const Value* value = Find(fields, key);
    if (value == nullptr) return;
    out.present = true;
    out.list = ParsePatternList(*value, PatternKind::kGeneral);
    if (value->node.IsSequence() && value->node.size() == 0) {
      AddError(*value, "an empty list selects nothing; remove " + std::string(key) +
                           " to select every value, or list at least one pattern");
    }
  }

  std::optional<policy::Selector> ParseSelector(const Value& value) {
    auto fields = Mapping(value, {"signerNames", "requestor"});
    if (!fields) return std::nullopt;
    policy::Selector selector;
    ParseSelectorField(*fields, "signerNames", selector.signer_names);
    if (const Value* requestor = Find(*fields, "requestor")) {
      if (auto requestor_fields = Mapping(*requestor, {"usernames", "groups"})) {
        ParseSelectorField(*requestor_fields, "usernames", selector.usernames);
        ParseSelectorField(*requestor_fields, "groups", selector.groups);
      }
    }
    return selector;
  }

  std::optional<policy::UsageSet> ParseUsages(const Value& value, std::string& description) {
    auto items = Sequence(value);
    if (!items) return std::nullopt;
    policy::UsageSet usages = 0;
    for (const Value& item : *items) {
      auto text = String(item);
      if (!text) continue;
      int index = policy::UsageIndex(*text);
      if (index < 0) {
        AddError(item,
                 "unknown usage " + Quote(*text) +
                     "; expected one of the Kubernetes key usages: " + Join(policy::KnownUsages()));
        continue;
      }
      usages |= policy::UsageSet{1} << index;
    }
    description = policy::DescribeUsages(usages);
    return usages;
  }

  // `key: true`; `key: false` is refused because it would read as if it did something.
  bool TrueFlag(const Value& value, std::string_view key) {
    auto flag = Bool(value);
    if (!flag) return false;
    if (!*flag) {
      AddError(value, std::string(key) + ": false means nothing; remove the entry instead");
      return false;
    }
    return true;
  }

  // {nodeAddresses: true} in dnsNames or ipAddresses: true when `value` is that entry (reported
  // when malformed); false for anything else, which the caller parses.
  bool IsNodeAddressesEntry(const Value& value, bool& node_addresses) {
    if (!value.node.IsMap() || !value.node["nodeAddresses"]) return false;
    if (auto fields = Mapping(value, {"nodeAddresses"})) {
      if (const Value* flag = Find(*fields, "nodeAddresses")) {
        if (TrueFlag(*flag, "nodeAddresses")) node_addresses = true;
      }
    }
    return true;
  }

  void ParseDnsNames(const Value& value, policy::Allowed& out) {
    PatternList& list = out.dns_names;
    if (auto items = Sequence(value)) {
      for (const Value& item : *items) {
        if (IsNodeAddressesEntry(item, out.dns_node_addresses)) continue;
        if (auto pattern = ParsePattern(item, PatternKind::kDnsName)) {
          list.patterns.push_back(std::move(*pattern));
        }
      }
    }
    list.description = DescribeList(list.patterns);
    if (out.dns_node_addresses) {
      list.description = list.patterns.empty()
                             ? "[{nodeAddresses: true}]"
                             : "[{nodeAddresses: true}, " + list.description.substr(1);
    }
  }

  void ParseCommonName(const Value& value, policy::CommonNameRule& out) {
    out.present = true;
    if (value.node.IsMap()) {
      auto fields = Mapping(value, {"regex", "sameAsRequestor", "nodeIdentity"});
      if (!fields) return;
      const Value* regex = Find(*fields, "regex");
      const Value* same = Find(*fields, "sameAsRequestor");
      const Value* node = Find(*fields, "nodeIdentity");
      if ((regex != nullptr) + (same != nullptr) + (node != nullptr) != 1) {
        AddError(value, "expected exactly one of regex, sameAsRequestor or nodeIdentity");
        return;
      }
      if (node != nullptr) {
        if (TrueFlag(*node, "nodeIdentity")) {
          out.node_identity = true;
          out.description = "the requestor's node identity (system:node:<name>)";
        }
        return;
      }
      if (regex != nullptr) {
        out.pattern = ParseRegex(*regex, PatternKind::kGeneral);
      } else if (auto flag = Bool(*same)) {
        if (!*flag) {
          AddError(*same, "sameAsRequestor: false means nothing; write a pattern instead");
          return;
        }
        out.same_as_requestor = true;
        out.description = "the requestor's username";
        return;
      }
      if (out.pattern) out.description = out.pattern->Describe();
      return;
    }
    out.pattern = ParsePattern(value, PatternKind::kGeneral);
    if (out.pattern) out.description = out.pattern->Describe();
  }

  void ParseIpAddresses(const Value& value, policy::IpRule& out) {
    auto items = Sequence(value);
    std::vector<std::string> shown;
    if (items) {
      for (const Value& item : *items) {
        if (IsNodeAddressesEntry(item, out.node_addresses)) {
          if (out.node_addresses) shown.push_back("{nodeAddresses: true}");
          continue;
        }
        auto text = String(item);
        if (!text) continue;
        if (*text == "*") {
          out.any = true;
          shown.push_back("\"*\"");
          continue;
        }
        Result<CidrRange> range = CidrRange::Parse(*text);
        if (!range.ok()) {
          AddError(item, range.error().message);
          continue;
        }
        shown.push_back(range->ToString());
        out.ranges.push_back(*range);
      }
    }
    out.description = shown.empty() ? "(none)" : "[" + Join(shown) + "]";
  }

  void ParseAllowed(const Value& value, policy::Allowed& out) {
    auto fields = Mapping(value, {"commonName", "organizations", "organizationalUnits", "dnsNames",
                                  "ipAddresses", "emailAddresses", "uris", "usages", "isCA"});
    if (!fields) return;
    if (const Value* v = Find(*fields, "commonName")) ParseCommonName(*v, out.common_name);
    if (const Value* v = Find(*fields, "organizations")) {
      out.organizations = ParsePatternList(*v, PatternKind::kGeneral);
    }
    if (const Value* v = Find(*fields, "organizationalUnits")) {
      out.organizational_units = ParsePatternList(*v, PatternKind::kGeneral);
    }
    if (const Value* v = Find(*fields, "dnsNames")) ParseDnsNames(*v, out);
    if (const Value* v = Find(*fields, "ipAddresses")) ParseIpAddresses(*v, out.ip_addresses);
    if (const Value* v = Find(*fields, "emailAddresses")) {
      out.email_addresses = ParsePatternList(*v, PatternKind::kGeneral);
    }
    if (const Value* v = Find(*fields, "uris")) {
      out.uris = ParsePatternList(*v, PatternKind::kGeneral);
    }
    if (const Value* v = Find(*fields, "usages")) {
      if (auto usages = ParseUsages(*v, out.usages_description)) out.usages = *usages;
    }
    if (const Value* v = Find(*fields, "isCA")) {
      if (auto flag = Bool(*v)) out.is_ca = *flag;
    }
  }

  void ParseRequired(const Value& value, policy::Required& out) {
    auto fields = Mapping(value, {"usages", "organizations"});
    if (!fields) return;
    if (const Value* v = Find(*fields, "usages")) {
      if (auto usages = ParseUsages(*v, out.usages_description)) out.usages = *usages;
    }
    if (const Value* v = Find(*fields, "organizations")) {
      out.organizations = ParsePatternList(*v, PatternKind::kGeneral);
    }
  }

  void ParseConstraints(const Value& value, policy::Constraints& out) {
    auto fields =
        Mapping(value, {"keyAlgorithms", "minRSABits", "ecdsaCurves", "maxExpirationSeconds",
                        "reservedSANs", "clusterDomain", "serviceCIDRs", "requestorAuthorized"});
    if (!fields) return;
    if (const Value* v = Find(*fields, "reservedSANs")) {
      if (auto flag = Bool(*v)) out.reserved_sans = *flag;
    }
    if (const Value* v = Find(*fields, "clusterDomain")) {
      if (auto text = String(*v)) {
        std::string domain = NormalizeDnsName(std::move(*text));
        if (!policy::IsHostname(domain)) {
          AddError(*v, "clusterDomain " + Quote(domain) +
                           " is not a DNS name (labels of letters, digits and '-', e.g. "
                           "cluster.local)");
        } else {
          out.cluster_domain = std::move(domain);
        }
      }
    }
    if (const Value* v = Find(*fields, "serviceCIDRs")) {
      if (auto items = Sequence(*v)) {
        for (const Value& item : *items) {
          auto text = String(item);
          if (!text) continue;
          Result<CidrRange> range = CidrRange::Parse(*text);
          if (!range.ok()) {
            AddError(item, range.error().message);
            continue;
          }
          out.service_cidrs.push_back(*range);
        }
      }
    }
    if (const Value* v = Find(*fields, "requestorAuthorized")) ParseReviewAttributes(*v, out);
    if (const Value* v = Find(*fields, "keyAlgorithms")) {
      if (auto items = Sequence(*v)) {
        out.rsa = out.ecdsa = out.ed25519 = false;
        std::vector<std::string> names;
        for (const Value& item : *items) {
          auto name = String(item);
          if (!name) continue;
          if (*name == "RSA") {
            out.rsa = true;
          } else if (*name == "ECDSA") {
            out.ecdsa = true;
          } else if (*name == "Ed25519") {
            out.ed25519 = true;
          } else {
            AddError(item, "unknown key algorithm " + Quote(*name) +
                               "; expected one of: RSA, ECDSA, Ed25519");
            continue;
          }
          names.push_back(std::move(*name));
        }
        out.key_algorithms_description = "[" + Join(names) + "]";
      }
    }
    if (const Value* v = Find(*fields, "minRSABits")) {
      if (auto bits = PositiveInteger(*v)) out.min_rsa_bits = *bits;
    }
    if (const Value* v = Find(*fields, "ecdsaCurves")) {
      if (auto items = Sequence(*v)) {
        out.ecdsa_curves.clear();
        for (const Value& item : *items) {
          auto name = String(item);
          if (!name) continue;
          if (*name != "P-256" && *name != "P-384" && *name != "P-521") {
            AddError(item, "unknown ECDSA curve " + Quote(*name) +
                               "; expected one of: P-256, P-384, P-521");
            continue;
          }
          out.ecdsa_curves.push_back(std::move(*name));
        }
        out.ecdsa_curves_description = "[" + Join(out.ecdsa_curves) + "]";
      }
    }
    if (const Value* v = Find(*fields, "maxExpirationSeconds")) {
      if (auto seconds = PositiveInteger(*v)) out.max_expiration_seconds = *seconds;
    }
  }

  // authorization.k8s.io/v1 ResourceAttributes; resource and verb are required.
  void ParseReviewAttributes(const Value& value, policy::Constraints& out) {
    auto fields = Mapping(value, {"group", "resource", "subresource", "verb"});
    if (!fields) return;
    ReviewAttributes attributes;
    bool complete = true;
    auto read = [&](std::string_view key, std::string& into, bool required) {
      const Value* field = required ? Require(*fields, key, value) : Find(*fields, key);
      if (field == nullptr) {
        complete = complete && !required;
        return;
      }
      auto text = String(*field);
      if (!text) {
        complete = false;
      } else if (required && text->empty()) {
        AddError(*field, std::string(key) + " may not be empty");
        complete = false;
      } else {
        into = std::move(*text);
      }
    };
    read("group", attributes.group, false);
    read("resource", attributes.resource, true);
    read("subresource", attributes.subresource, false);
    read("verb", attributes.verb, true);
    if (complete) out.requestor_authorized = std::move(attributes);
  }

  std::optional<Action> ParseAction(const Value& value, bool allow_approve) {
    auto text = String(value);
    if (!text) return std::nullopt;
    if (*text == "approve" && allow_approve) return Action::kApprove;
    if (*text == "deny") return Action::kDeny;
    if (*text == "log") return Action::kLog;
    AddError(value, "expected " +
                        std::string(allow_approve ? "approve, deny or log" : "deny or log") +
                        ", found " + Quote(*text));
    return std::nullopt;
  }

  static bool IsValidRuleName(std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
  }

  void ParseRule(const Value& value, Policy& policy,
                 std::map<std::string, std::pair<std::string, Location>, std::less<>>& names) {
    policy::Rule rule;
    rule.location = value.at;
    rule.path = value.path;
    auto fields = Mapping(
        value, {"name", "selector", "allowed", "required", "constraints", "action", "onViolation"});
    if (!fields) return;
    if (const Value* name = Require(*fields, "name", value)) {
      if (auto text = String(*name)) {
        if (text->empty()) {
          AddError(*name, "a rule name may not be empty; use lowercase letters, digits and '-'");
        } else if (!IsValidRuleName(*text)) {
          AddError(*name, "invalid rule name " + Quote(*text) +
                              "; use only lowercase letters, digits and '-' ([a-z0-9-]+)");
        } else if (auto first = names.find(*text); first != names.end()) {
          AddError(*name, "duplicate rule name " + Quote(*text) + " (first used by " +
                              first->second.first + " at line " +
                              std::to_string(first->second.second.line) + ", column " +
                              std::to_string(first->second.second.column) +
                              "); rule names must be unique");
        } else {
          names.emplace(*text, std::make_pair(value.path, name->at));
        }
        rule.name = std::move(*text);
      }
    }
    if (const Value* action = Require(*fields, "action", value)) {
      if (auto parsed = ParseAction(*action, true)) rule.action = *parsed;
    }
    if (const Value* on_violation = Find(*fields, "onViolation")) {
      if (auto parsed = ParseAction(*on_violation, false)) rule.on_violation = *parsed;
    }
    if (const Value* selector = Find(*fields, "selector")) rule.selector = ParseSelector(*selector);
    if (const Value* allowed = Find(*fields, "allowed")) ParseAllowed(*allowed, rule.allowed);
    if (const Value* required = Find(*fields, "required")) ParseRequired(*required, rule.required);
    if (const Value* constraints = Find(*fields, "constraints")) {
      ParseConstraints(*constraints, rule.constraints);
    }
    policy.rules.push_back(std::move(rule));
  }

  // The single document of `text`, or nullopt after reporting why there is none.
  std::optional<YAML::Node> LoadSingleDocument(std::string_view text) {
    try {
      std::istringstream stream{std::string(text)};
      YAML::Parser parser(stream);
      DocumentCounter counter;
      while (counter.starts().size() <= kMaxDocuments && parser.HandleNextDocument(counter)) {
        const auto& starts = counter.starts();
        if (starts.size() >= 2 && starts.back().pos <= starts[starts.size() - 2].pos) {
          AddError(LocationOf(starts.back()), "",
                   "invalid YAML: the parser cannot get past this point; look for a stray ',' "
                   "or other character outside a [ ] or { } collection");
          return std::nullopt;
        }
      }
      const auto& starts = counter.starts();
      if (starts.size() > 1) {
        AddError(LocationOf(starts[1]), "",
                 "a policy file holds exactly one YAML document, found " +
                     (starts.size() > kMaxDocuments ? "more than " + std::to_string(kMaxDocuments)
                                                    : std::to_string(starts.size())) +
                     "; remove the extra '---' sections");
        return std::nullopt;
      }
      YAML::Node root = starts.empty() ? YAML::Node() : YAML::Load(std::string(text));
      if (root.IsNull()) {
        AddError(Location{}, "",
                 "the policy is empty; expected a mapping with apiVersion: " +
                     std::string(kApiVersion) + " and kind: " + std::string(kKind));
        return std::nullopt;
      }
      return root;
    } catch (const YAML::ParserException& e) {
      AddError(LocationOf(e.mark), "", "invalid YAML: " + e.msg);
      return std::nullopt;
    }
  }

  void ParseDocument(std::string_view text, Policy& policy) {
    std::optional<YAML::Node> document = LoadSingleDocument(text);
    if (!document) return;
    Value root{*document, "", MarkOf(*document)};
    for (std::string_view name : kBuiltinProtectedOrganizations) {
      policy.protected_organizations.emplace_back(name);
    }
    auto fields =
        Mapping(root, {"apiVersion", "kind", "defaultAction", "protectedOrganizations", "rules"});
    if (!fields) return;
    if (const Value* api_version = Require(*fields, "apiVersion", root)) {
      auto text = String(*api_version);
      if (text && *text != kApiVersion) {
        AddError(*api_version,
                 "unsupported apiVersion " + Quote(*text) + "; expected " + Quote(kApiVersion));
      }
    }
    if (const Value* kind = Require(*fields, "kind", root)) {
      auto text = String(*kind);
      if (text && *text != kKind) {
        AddError(*kind, "unsupported kind " + Quote(*text) + "; expected " + Quote(kKind));
      }
    }
    if (const Value* default_action = Find(*fields, "defaultAction")) {
      auto text = String(*default_action);
      if (text && *text == "approve") {
        AddError(*default_action,
                 "defaultAction may not be approve: a CSR that no rule selects must never be "
                 "approved; use log or deny");
      } else if (text) {
        if (auto parsed = ParseAction(*default_action, false)) policy.default_action = *parsed;
      }
    }
    if (const Value* protected_orgs = Find(*fields, "protectedOrganizations")) {
      if (auto items = Sequence(*protected_orgs)) {
        for (const Value& item : *items) {
          auto text = String(item);
          if (!text) continue;
          if (text->empty()) {
            AddError(item, "an empty organization name protects nothing; remove the entry");
            continue;
          }
          policy.protected_organizations.push_back(std::move(*text));
        }
      }
    }
    if (const Value* rules = Find(*fields, "rules")) {
      if (auto items = Sequence(*rules)) {
        std::map<std::string, std::pair<std::string, Location>, std::less<>> names;
        for (const Value& item : *items) ParseRule(item, policy, names);
      }
    }
  }

  // Precomputes what signer_label needs, so evaluation does no searching beyond a short scan.
  static void IndexSigners(Policy& policy) {
    for (const policy::Rule& rule : policy.rules) {
      if (!rule.selector || !rule.selector->signer_names.present) continue;
      for (const Pattern& pattern : rule.selector->signer_names.list.patterns) {
        if (pattern.is_literal()) {
          auto& literals = policy.summary.literal_signer_names;
          if (std::find(literals.begin(), literals.end(), pattern.text()) == literals.end()) {
            literals.push_back(pattern.text());
          }
        } else {
          policy.signer_patterns.push_back(&pattern);
        }
      }
    }
  }

  std::string file_;
  std::vector<PolicyIssue> errors_;
  std::string stop_reason_;  // non-empty once a bound was hit
  size_t entries_ = 0;
  size_t regexes_ = 0;
};

}  // namespace

PolicyLoadResult ParsePolicy(std::string_view text, std::string_view file_name) {
  return Loader(file_name).Load(text);
}

}  // namespace kca
