#include "kube_csr_approver/kube/csr_informer.h"

#include <spdlog/spdlog.h>

#include <random>

namespace kca::kube {
namespace {

std::string ResourceVersionOf(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return {};
  auto rv = metadata->find("resourceVersion");
  if (rv == metadata->end() || !rv->is_string()) return {};
  return rv->get<std::string>();
}

std::string NameOf(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return {};
  auto name = metadata->find("name");
  if (name == metadata->end() || !name->is_string()) return {};
  return name->get<std::string>();
}

}  // namespace

std::string_view ToString(WatchRestartReason reason) {
  switch (reason) {
    case WatchRestartReason::kTimeout:
      return "timeout";
    case WatchRestartReason::kClosed:
      return "closed";
    case WatchRestartReason::kExpired:
      return "expired";
    case WatchRestartReason::kError:
      return "error";
  }
  return "error";
}

CsrInformer::CsrInformer(ApiClient& client, CsrEventHandler& handler, CsrInformerOptions options)
    : client_(client),
      handler_(handler),
      options_(std::move(options)),
      seed_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

CsrInformer::~CsrInformer() { Stop(); }

void CsrInformer::Start() {
  if (thread_.joinable() || stop_.cancelled()) return;
  thread_ = std::thread([this] { Run(); });
}

void CsrInformer::Stop() {
  stop_.Cancel();
  if (thread_.joinable()) thread_.join();
}

std::string CsrInformer::resource_version() const {
  std::lock_guard lock(rv_mutex_);
  return resource_version_;
}

void CsrInformer::SetResourceVersion(std::string rv) {
  if (rv.empty()) return;
  std::lock_guard lock(rv_mutex_);
  resource_version_ = std::move(rv);
}

void CsrInformer::Restarted(WatchRestartReason reason) {
  if (options_.on_watch_restart) options_.on_watch_restart(reason);
}

void CsrInformer::Run() {
  ExponentialBackoff backoff(options_.backoff, seed_);
  while (!stop_.cancelled()) {
    if (relist_) {
      if (!ListAndDeliver(backoff)) return;
      continue;
    }
    bool received_any = false;
    const WatchRestartReason reason = WatchOnce(received_any);
    if (stop_.cancelled()) return;
    Restarted(reason);
    if (received_any) backoff.Reset();
    // A clean end at the server's timeout is routine: reconnect at once. Anything else waits,
    // so a failing server is not hammered.
    if (reason != WatchRestartReason::kTimeout && reason != WatchRestartReason::kExpired) {
      if (!stop_.SleepFor(backoff.Next())) return;
    }
  }
}

bool CsrInformer::ListAndDeliver(ExponentialBackoff& backoff) {
  const std::string path(kCsrCollectionPath);
  ListOptions list;
  list.limit = options_.page_size;
  list.label_selector = options_.label_selector;
  list.field_selector = options_.field_selector;
  std::unordered_set<std::string> listed;
  std::string list_rv;
  while (true) {
    auto page = client_.List(path, list, &stop_);
    if (!page.ok()) {
      if (page.error().canceled() || stop_.cancelled()) return false;
      spdlog::warn("listing CSRs failed, retrying: {}", page.error().message);
      if (page.error().expired()) {
        // The continue token outlived the server's history: start the list over.
        list.continue_token.clear();
        listed.clear();
        continue;
      }
      return stop_.SleepFor(backoff.Next());
    }
    const nlohmann::json& body = *page;
    const auto items = body.find("items");
    const auto metadata = body.find("metadata");
    if (!body.is_object() || metadata == body.end() || !metadata->is_object() ||
        (items != body.end() && !items->is_array() && !items->is_null())) {
      spdlog::warn("listing CSRs: the answer is not a CertificateSigningRequestList; retrying");
      return stop_.SleepFor(backoff.Next());
    }
    if (list.continue_token.empty()) list_rv = ResourceVersionOf(body);
    if (items != body.end() && items->is_array()) {
      for (const nlohmann::json& item : *items) {
        auto csr = DecodeCsrObject(item);
        if (!csr.ok()) {
          spdlog::warn("skipping a listed CSR that cannot be read: {}", csr.error().message);
          continue;
        }
        listed.insert(csr->name);
        handler_.OnUpsert(*csr);
      }
    }
    std::string next;
    if (auto it = metadata->find("continue"); it != metadata->end() && it->is_string()) {
      next = it->get<std::string>();
    }
    if (next.empty()) break;
    list.continue_token = std::move(next);
  }
  if (list_rv.empty()) {
    spdlog::warn("listing CSRs: the list has no metadata.resourceVersion; retrying");
    return stop_.SleepFor(backoff.Next());
  }
  for (const std::string& name : known_names_) {
    if (!listed.contains(name)) handler_.OnDelete(name);
  }
  known_names_ = std::move(listed);
  SetResourceVersion(list_rv);
  relist_ = false;
  backoff.Reset();
  synced_.store(true);
  handler_.OnSynced();
  return true;
}

WatchRestartReason CsrInformer::WatchOnce(bool& received_any) {
  std::mt19937_64 random(seed_++);
  std::uniform_int_distribution<std::int64_t> timeout(
      options_.min_watch_timeout.count(),
      std::max(options_.min_watch_timeout.count(), options_.max_watch_timeout.count()));
  WatchOptions watch;
  watch.resource_version = resource_version();
  watch.allow_bookmarks = true;
  watch.timeout = std::chrono::seconds(timeout(random));
  watch.label_selector = options_.label_selector;
  watch.field_selector = options_.field_selector;

  auto stream = client_.Watch(std::string(kCsrCollectionPath), watch, &stop_);
  if (!stream.ok()) {
    const ApiError& error = stream.error();
    if (error.canceled()) return WatchRestartReason::kClosed;
    if (error.expired()) {
      relist_ = true;
      spdlog::info("watch of CSRs from resourceVersion {} expired; relisting",
                   watch.resource_version);
      return WatchRestartReason::kExpired;
    }
    spdlog::warn("watching CSRs failed: {}", error.message);
    return error.http_status == 0 && error.reason == "NetworkError" ? WatchRestartReason::kClosed
                                                                    : WatchRestartReason::kError;
  }
  while (true) {
    auto next = (*stream)->Next();
    if (!next.ok()) {
      const ApiError& error = next.error();
      if (!error.canceled()) spdlog::info("watch of CSRs ended: {}", error.message);
      return error.reason == "NetworkError" || error.canceled() ? WatchRestartReason::kClosed
                                                                : WatchRestartReason::kError;
    }
    if (!next->has_value()) return WatchRestartReason::kTimeout;
    const WatchEvent& event = **next;
    received_any = true;
    if (event.type == "ERROR") {
      const auto code = event.object.find("code");
      const ApiError error = DecodeApiError(
          code != event.object.end() && code->is_number_integer() ? code->get<int>() : 0,
          event.object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "",
          "watch of CSRs");
      if (error.expired()) {
        relist_ = true;
        spdlog::info("{}; relisting", error.message);
        return WatchRestartReason::kExpired;
      }
      spdlog::warn("{} (an ERROR event); watching again", error.message);
      return WatchRestartReason::kError;
    }
    Deliver(event);
  }
}

void CsrInformer::Deliver(const WatchEvent& event) {
  const std::string rv = ResourceVersionOf(event.object);
  if (event.type == "BOOKMARK") {
    SetResourceVersion(rv);
    return;
  }
  if (event.type == "DELETED") {
    const std::string name = NameOf(event.object);
    if (!name.empty()) {
      known_names_.erase(name);
      handler_.OnDelete(name);
    }
  } else if (event.type == "ADDED" || event.type == "MODIFIED") {
    auto csr = DecodeCsrObject(event.object);
    if (csr.ok()) {
      known_names_.insert(csr->name);
      handler_.OnUpsert(*csr);
    } else {
      spdlog::warn("skipping a watched CSR that cannot be read: {}", csr.error().message);
    }
  } else {
    spdlog::warn("watch of CSRs: ignoring an event of unknown type \"{}\"", event.type);
  }
  // Past this event even when it could not be used: re-reading it would not help.
  SetResourceVersion(rv);
}

}  // namespace kca::kube
