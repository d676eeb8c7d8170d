// Who is calling and what they may do: bearer tokens from a re-read token file (with rotation and
// a grace period for the previous token), client-certificate users, and a small RBAC-like rule
// table keyed by user or group.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube_csr_approver/common/result.h"

namespace kca::emulator {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

// What a request asks to do, in authorizer terms (k8s.io/apiserver authorizer.Attributes).
struct RequestAttributes {
  bool resource_request = false;
  std::string verb;  // get list watch create update patch delete deletecollection approve; or
                     // the lowercase HTTP method for non-resource paths
  std::string api_group;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  std::string path;  // non-resource requests
};

// One allow rule. "*" matches anything; empty resource_names matches every name.
struct Rule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;  // "resource" or "resource/subresource"
  std::vector<std::string> resource_names;
  std::vector<std::string> namespaces;         // empty: every namespace and cluster scope
  std::vector<std::string> non_resource_urls;  // "/path" or "/prefix/*"
};

// Rules bound to a user name or a group name.
struct Binding {
  std::string user;
  std::string group;
  std::vector<Rule> rules;
};

class Authorizer {
 public:
  // Starts with the emulator's built-in bindings (docs/emulator.md, "Identities").
  Authorizer();
  bool Allowed(const UserInfo& user, const RequestAttributes& attributes) const;
  // SelfSubjectRulesReview status {resourceRules, nonResourceRules} for `user` in namespace `ns`.
  nlohmann::ordered_json RulesFor(const UserInfo& user, const std::string& ns) const;
  // Appends bindings (control API); `Reset` restores the built-ins.
  void Add(std::vector<Binding> bindings);
  void Reset();
  nlohmann::ordered_json Dump() const;

 private:
  mutable std::mutex mu_;
  std::vector<Binding> bindings_;  // GUARDED_BY(mu_)
};

// The approver's service-account identity.
UserInfo ApproverIdentity();

// Bearer tokens. The token file holds lines `token,user,uid,"group1,group2"` (kube-apiserver's
// --token-auth-file format); it is re-read whenever its modification time changes.
class TokenAuthenticator {
 public:
  TokenAuthenticator(std::string token_file, std::chrono::seconds rotation_grace);
  std::optional<UserInfo> Authenticate(const std::string& token);
  // Replaces `user`'s token in the file (and in `mirror_files`) with a fresh one; the previous
  // token stays valid for the grace period. Returns the new token.
  Result<std::string> Rotate(const std::string& user, const std::vector<std::string>& mirror_files);

 private:
  void ReloadIfChanged();  // REQUIRES: mu_ held

  std::mutex mu_;
  std::string token_file_;
  std::chrono::seconds grace_;
  std::filesystem::file_time_type loaded_mtime_{};  // GUARDED_BY(mu_)
  uintmax_t loaded_size_ = 0;                       // GUARDED_BY(mu_)
  std::map<std::string, UserInfo> tokens_;          // GUARDED_BY(mu_)
  struct Retired {
    UserInfo user;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Retired> retired_;  // GUARDED_BY(mu_)
};

// Writes a token file line.
std::string TokenFileLine(const std::string& token, const UserInfo& user);

}  // namespace kca::emulator
