#include "auth.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pki.h"

namespace kca::emulator {
namespace {

bool Matches(const std::vector<std::string>& allowed, const std::string& value) {
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& a) { return a == "*" || a == value; });
}

bool PathMatches(const std::vector<std::string>& allowed, const std::string& path) {
  for (const std::string& a : allowed) {
    if (a == "*" || a == path) return true;
    if (a.size() >= 2 && a.back() == '*' &&
        path.compare(0, a.size() - 1, a, 0, a.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

// Whether binding `b` names the user or one of the user's groups.
bool BindsTo(const Binding& b, const UserInfo& user) {
  return (!b.user.empty() && b.user == user.name) ||
         (!b.group.empty() &&
          std::find(user.groups.begin(), user.groups.end(), b.group) != user.groups.end());
}

bool RuleAllows(const Rule& rule, const RequestAttributes& a) {
  if (!Matches(rule.verbs, a.verb)) return false;
  if (!a.resource_request) return PathMatches(rule.non_resource_urls, a.path);
  if (!Matches(rule.api_groups, a.api_group)) return false;
  std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  bool resource_ok = Matches(rule.resources, combined) ||
                     (a.subresource.empty() ? false : Matches(rule.resources, a.resource + "/*")) ||
                     (!a.subresource.empty() && Matches(rule.resources, "*/" + a.subresource));
  if (!resource_ok) return false;
  if (!rule.resource_names.empty() && !Matches(rule.resource_names, a.name)) return false;
  if (!rule.namespaces.empty() && !Matches(rule.namespaces, a.ns)) return false;
  return true;
}

std::vector<Binding> BuiltInBindings() {
  const std::vector<std::string> kCsr = {"certificatesigningrequests"};
  std::vector<Binding> b;
  b.push_back({"",
               "system:masters",
               {Rule{{"*"}, {"*"}, {"*"}, {}, {}, {}}, Rule{{"*"}, {}, {}, {}, {}, {"*"}}}});
  b.push_back({"",
               "system:authenticated",
               {Rule{{"get"},
                     {},
                     {},
                     {},
                     {},
                     {"/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/healthz",
                      "/livez", "/readyz", "/openapi", "/openapi/*"}},
                Rule{{"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"}, {}, {}, {}},
                Rule{{"create"},
                     {"authorization.k8s.io"},
                     {"selfsubjectaccessreviews", "selfsubjectrulesreviews"},
                     {},
                     {},
                     {}}}});
  b.push_back(
      {ApproverIdentity().name,
       "",
       {Rule{{"get", "list", "watch"}, {"certificates.k8s.io"}, kCsr, {}, {}, {}},
        Rule{{"update", "patch"},
             {"certificates.k8s.io"},
             {"certificatesigningrequests/approval"},
             {},
             {},
             {}},
        Rule{{"approve"},
             {"certificates.k8s.io"},
             {"signers"},
             {"kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
              "kubernetes.io/kubelet-serving"},
             {},
             {}},
        Rule{{"create", "patch", "update"}, {"", "events.k8s.io"}, {"events"}, {}, {}, {}},
        Rule{{"get", "list", "watch", "create", "update", "patch"},
             {"coordination.k8s.io"},
             {"leases"},
             {},
             {"kube-system"},
             {}},
        Rule{{"create"}, {"authorization.k8s.io"}, {"subjectaccessreviews"}, {}, {}, {}},
        Rule{{"get", "list", "watch"}, {""}, {"nodes"}, {}, {}, {}},
        // 404 on a server started with --without-service-cidrs: "no ServiceCIDRs" to the approver.
        Rule{{"list"}, {"networking.k8s.io"}, {"servicecidrs"}, {}, {}, {}}}});
  b.push_back(
      {"alice",
       "",
       {Rule{{"create", "get", "list", "watch"}, {"certificates.k8s.io"}, kCsr, {}, {}, {}}}});
  return b;
}

nlohmann::ordered_json RuleToJson(const Rule& r) {
  nlohmann::ordered_json j;
  j["verbs"] = r.verbs;
  if (!r.non_resource_urls.empty()) {
    j["nonResourceURLs"] = r.non_resource_urls;
  } else {
    j["apiGroups"] = r.api_groups;
    j["resources"] = r.resources;
    if (!r.resource_names.empty()) j["resourceNames"] = r.resource_names;
    if (!r.namespaces.empty()) j["namespaces"] = r.namespaces;
  }
  return j;
}

std::vector<std::string> SplitGroups(const std::string& field) {
  std::vector<std::string> out;
  std::string current;
  for (char c : field) {
    if (c == ',') {
      if (!current.empty()) out.push_back(current);
      current.clear();
    } else if (c != '"') {
      current.push_back(c);
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

}  // namespace

UserInfo ApproverIdentity() {
  return {"system:serviceaccount:kube-system:kube-csr-approver",
          "",
          {"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}};
}

Authorizer::Authorizer() : bindings_(BuiltInBindings()) {}

bool Authorizer::Allowed(const UserInfo& user, const RequestAttributes& attributes) const {
  std::lock_guard lock(mu_);
  for (const Binding& b : bindings_) {
    if (!BindsTo(b, user)) continue;
    for (const Rule& r : b.rules) {
      if (RuleAllows(r, attributes)) return true;
    }
  }
  return false;
}

nlohmann::ordered_json Authorizer::RulesFor(const UserInfo& user, const std::string& ns) const {
  std::lock_guard lock(mu_);
  nlohmann::ordered_json resource_rules = nlohmann::ordered_json::array();
  nlohmann::ordered_json non_resource_rules = nlohmann::ordered_json::array();
  for (const Binding& b : bindings_) {
    if (!BindsTo(b, user)) continue;
    for (const Rule& r : b.rules) {
      if (!r.non_resource_urls.empty()) {
        non_resource_rules.push_back(
            {{"verbs", r.verbs}, {"nonResourceURLs", r.non_resource_urls}});
        continue;
      }
      if (!r.namespaces.empty() && !Matches(r.namespaces, ns)) continue;
      nlohmann::ordered_json rule = {
          {"verbs", r.verbs}, {"apiGroups", r.api_groups}, {"resources", r.resources}};
      if (!r.resource_names.empty()) rule["resourceNames"] = r.resource_names;
      resource_rules.push_back(std::move(rule));
    }
  }
  return {{"resourceRules", resource_rules}, {"nonResourceRules", non_resource_rules}};
}

void Authorizer::Add(std::vector<Binding> bindings) {
  std::lock_guard lock(mu_);
  for (Binding& b : bindings) bindings_.push_back(std::move(b));
}

void Authorizer::Reset() {
  std::lock_guard lock(mu_);
  bindings_ = BuiltInBindings();
}

nlohmann::ordered_json Authorizer::Dump() const {
  std::lock_guard lock(mu_);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Binding& b : bindings_) {
    nlohmann::ordered_json j;
    if (!b.user.empty()) j["user"] = b.user;
    if (!b.group.empty()) j["group"] = b.group;
    j["rules"] = nlohmann::ordered_json::array();
    for (const Rule& r : b.rules) j["rules"].push_back(RuleToJson(r));
    out.push_back(std::move(j));
  }
  return out;
}

std::string TokenFileLine(const std::string& token, const UserInfo& user) {
  std::string groups;
  for (const std::string& g : user.groups) {
    if (g == "system:authenticated") continue;  // added to every authenticated user anyway
    groups += (groups.empty() ? "" : ",") + g;
  }
  return token + "," + user.name + "," + user.uid + ",\"" + groups + "\"\n";
}

TokenAuthenticator::TokenAuthenticator(std::string token_file, std::chrono::seconds rotation_grace)
    : token_file_(std::move(token_file)), grace_(rotation_grace) {}

void TokenAuthenticator::ReloadIfChanged() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(token_file_, ec);
  if (ec) return;
  // Size as well as time: an append within the file system's time granularity still counts.
  uintmax_t size = std::filesystem::file_size(token_file_, ec);
  if (ec || (mtime == loaded_mtime_ && size == loaded_size_)) return;
  std::ifstream in(token_file_);
  std::map<std::string, UserInfo> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // token,user,uid[,"groups"]
    std::vector<std::string> fields;
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      size_t comma = line.find(',', start);
      if (comma == std::string::npos) {
        fields.push_back(line.substr(start));
        start = line.size();
        break;
      }
      fields.push_back(line.substr(start, comma - start));
      start = comma + 1;
    }
    if (fields.size() < 2 || fields[0].empty() || fields[1].empty()) continue;
    UserInfo user{fields[1], fields.size() > 2 ? fields[2] : "", {}};
    if (start < line.size()) user.groups = SplitGroups(line.substr(start));
    user.groups.push_back("system:authenticated");
    tokens[fields[0]] = std::move(user);
  }
  tokens_ = std::move(tokens);
  loaded_mtime_ = mtime;
  loaded_size_ = size;
}

std::optional<UserInfo> TokenAuthenticator::Authenticate(const std::string& token) {
  std::lock_guard lock(mu_);
  ReloadIfChanged();
  auto it = tokens_.find(token);
  if (it != tokens_.end()) return it->second;
  auto retired = retired_.find(token);
  if (retired != retired_.end()) {
    if (std::chrono::steady_clock::now() < retired->second.expires) return retired->second.user;
    retired_.erase(retired);
  }
  return std::nullopt;
}

Result<std::string> TokenAuthenticator::Rotate(const std::string& user,
                                               const std::vector<std::string>& mirror_files) {
  std::lock_guard lock(mu_);
  ReloadIfChanged();
  std::string fresh = RandomHex(32);
  std::string content;
  bool found = false;
  auto expires = std::chrono::steady_clock::now() + grace_;
  std::map<std::string, UserInfo> next;
  for (auto& [token, info] : tokens_) {
    if (info.name == user) {
      found = true;
      retired_[token] = {info, expires};
      next[fresh] = info;
    } else {
      next[token] = info;
    }
  }
  if (!found) return Error{"no token in " + token_file_ + " belongs to user \"" + user + "\""};
  for (const auto& [token, info] : next) content += TokenFileLine(token, info);
  // Write-then-rename so a concurrent reader never sees a half-written file.
  std::string tmp = token_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out) return Error{"cannot write " + tmp};
  }
  std::filesystem::rename(tmp, token_file_);
  for (const std::string& mirror : mirror_files) {
    std::string mtmp = mirror + ".tmp";
    {
      std::ofstream out(mtmp, std::ios::trunc);
      out << fresh;
      if (!out) return Error{"cannot write " + mtmp};
    }
    std::filesystem::rename(mtmp, mirror);
  }
  tokens_ = std::move(next);
  std::error_code ec;
  loaded_mtime_ = std::filesystem::last_write_time(token_file_, ec);
  loaded_size_ = std::filesystem::file_size(token_file_, ec);
  return fresh;
}

}  // namespace kca::emulator
