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

// The resourceVersion asked for is outside the server's history, either way: only a relist helps.
bool IsExpiry(const ApiError& error) {
  return error.code == ApiErrorCode::kGone || error.code == ApiErrorCode::kResourceVersionTooLarge;
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
      backoff_(options_.backoff, options_.seed != 0 ? options_.seed : std::random_device{}()),
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
  MutexLock lock(rv_mutex_);
  return resource_version_;
}

void CsrInformer::SetResourceVersion(std::string rv) {
  if (rv.empty()) return;
  MutexLock lock(rv_mutex_);
  resource_version_ = std::move(rv);
}

const Clock& CsrInformer::clock() const {
  return options_.clock != nullptr ? *options_.clock : RealClock::Instance();
}

std::chrono::steady_clock::time_point CsrInformer::Now() const { return clock().SteadyNow(); }

void CsrInformer::SetInTouch(bool in_touch) {
  if (in_touch_ == in_touch) return;
  in_touch_ = in_touch;
  if (options_.on_sync_state) options_.on_sync_state(in_touch);
}

CsrInformer::Next CsrInformer::Restart(WatchRestartReason reason, Next next) {
  if (reason != WatchRestartReason::kTimeout && reason != WatchRestartReason::kClosed) {
    SetInTouch(false);
  }
  if (options_.on_watch_restart) options_.on_watch_restart(reason);
  return next;
}

bool CsrInformer::Backoff() {
  // As client-go's backoff manager: the delay keeps growing across failures, also when a relist
  // in between succeeds (a server answering every watch with 410 must not be hammered), and
  // starts over only after a quiet period.
  const auto now = Now();
  if (last_backoff_ && now - *last_backoff_ >= options_.backoff_reset_after) backoff_.Reset();
  last_backoff_ = now;
  const std::chrono::nanoseconds delay = backoff_.Next();
  return options_.sleep ? options_.sleep(delay, stop_) : stop_.SleepFor(clock(), delay);
}

void CsrInformer::Run() {
  while (!stop_.cancelled()) {
    Next next = Next::kWatch;
    bool unexpected = false;
    // The thread's top-level guard: nothing a server sends (or a bug) may end the process.
    try {
      next = relist_ ? ListAndDeliver() : WatchOnce();
    } catch (const std::exception& e) {
      spdlog::error("CSR informer: unexpected failure, relisting after a backoff: {}", e.what());
      unexpected = true;
    } catch (...) {
      spdlog::error("CSR informer: unexpected failure, relisting after a backoff");
      unexpected = true;
    }
    if (stop_.cancelled()) return;
    if (unexpected) {
      relist_ = true;
      next = Next::kRelistAfterBackoff;
      try {
        SetInTouch(false);
        if (options_.on_unexpected_error) options_.on_unexpected_error();
      } catch (...) {
        // Reporting is best effort here; the loop itself must go on.
      }
    }
    if (next != Next::kWatch && !Backoff()) return;
  }
}

CsrInformer::Next CsrInformer::ListAndDeliver() {
  const std::string path(kCsrCollectionPath);
  ListOptions list;  // resourceVersion "": a consistent read, whatever went wrong before
  list.limit = options_.page_size;
  list.label_selector = options_.label_selector;
  list.field_selector = options_.field_selector;
  ++list_number_;  // names this list does not mark are reported deleted at its end
  std::string list_rv;
  bool started_over = false;
  while (true) {
    auto page = client_.List(path, list, &stop_);
    if (!page.ok()) {
      const ApiError& error = page.error();
      if (error.code == ApiErrorCode::kCanceled || stop_.cancelled()) return Next::kWatch;
      if (error.code == ApiErrorCode::kGone && !list.continue_token.empty() && !started_over) {
        // The continue token outlived the server's history: start the list over, once at once
        // (client-go's pager falls back to a full list the same way).
        spdlog::info("listing CSRs: the continue token expired; listing again from the start");
        list.continue_token.clear();
        ++list_number_;  // what the first attempt saw proves nothing about the list
        started_over = true;
        continue;
      }
      spdlog::warn("listing CSRs failed, retrying after a backoff: {}", error.message);
      return Restart(IsExpiry(error) ? WatchRestartReason::kExpired : WatchRestartReason::kError,
                     Next::kRelistAfterBackoff);
    }
    const nlohmann::json& body = *page;
    const auto items = body.is_object() ? body.find("items") : body.end();
    const auto metadata = body.is_object() ? body.find("metadata") : body.end();
    if (!body.is_object() || metadata == body.end() || !metadata->is_object() ||
        (items != body.end() && !items->is_array() && !items->is_null())) {
      spdlog::warn(
          "listing CSRs: the answer is not a CertificateSigningRequestList; retrying after a "
          "backoff");
      return Restart(WatchRestartReason::kError, Next::kRelistAfterBackoff);
    }
    if (list.continue_token.empty()) list_rv = ResourceVersionOf(body);
    if (items != body.end() && items->is_array()) {
      for (const nlohmann::json& item : *items) {
        auto csr = DecodeCsrObject(item);
        if (!csr.ok()) {
          spdlog::warn("skipping a listed CSR that cannot be read: {}", csr.error().message);
          continue;
        }
        known_names_.insert_or_assign(csr->name, list_number_);
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
    spdlog::warn(
        "listing CSRs: the list has no metadata.resourceVersion; retrying after a backoff");
    return Restart(WatchRestartReason::kError, Next::kRelistAfterBackoff);
  }
  for (auto it = known_names_.begin(); it != known_names_.end();) {
    if (it->second == list_number_) {
      ++it;
      continue;
    }
    handler_.OnDelete(it->first);
    it = known_names_.erase(it);
  }
  SetResourceVersion(list_rv);
  relist_ = false;
  synced_.store(true);
  SetInTouch(true);
  handler_.OnSynced();
  return Next::kWatch;
}

CsrInformer::Next CsrInformer::WatchOnce() {
  // A server's clean end this close to the timeout asked for is its timeout.
  constexpr auto kTimeoutSlack = std::chrono::seconds(1);
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

  // Started before the request, as client-go does: some proxies send headers with the first event.
  const auto started = Now();
  auto stream = client_.Watch(std::string(kCsrCollectionPath), watch, &stop_);
  if (!stream.ok()) {
    const ApiError& error = stream.error();
    if (error.code == ApiErrorCode::kCanceled || stop_.cancelled()) return Next::kWatch;
    if (IsExpiry(error)) {
      relist_ = true;
      spdlog::info("watch of CSRs from resourceVersion {} refused ({}); relisting",
                   watch.resource_version, error.message);
      return Restart(WatchRestartReason::kExpired, Next::kRelistAfterBackoff);
    }
    // As client-go's isWatchErrorRetriable: an unreachable or throttling server is watched again
    // from where we were; any other answer is a reason to relist.
    const bool rewatch = error.code == ApiErrorCode::kThrottled || error.transport_failure();
    spdlog::warn("watching CSRs failed: {}; {} after a backoff", error.message,
                 rewatch ? "watching again" : "relisting");
    if (!rewatch) relist_ = true;
    return Restart(WatchRestartReason::kError,
                   rewatch ? Next::kWatchAfterBackoff : Next::kRelistAfterBackoff);
  }
  SetInTouch(true);  // the server accepted our resourceVersion
  bool received_any = false;
  while (true) {
    auto next = (*stream)->Next();
    if (!next.ok()) {
      const ApiError& error = next.error();
      if (error.code == ApiErrorCode::kCanceled || stop_.cancelled()) return Next::kWatch;
      if (error.transport_failure()) {
        spdlog::info("watch of CSRs cut: {}; watching again after a backoff", error.message);
        return Restart(WatchRestartReason::kError, Next::kWatchAfterBackoff);
      }
      // An unreadable line may have been any event, a deletion included: relist to catch up.
      spdlog::warn("watch of CSRs: {}; relisting after a backoff", error.message);
      relist_ = true;
      return Restart(WatchRestartReason::kError, Next::kRelistAfterBackoff);
    }
    if (!next->has_value()) {
      const auto lasted = Now() - started;
      if (!received_any && lasted < options_.min_watch_duration) {
        // client-go's "very short watch": a proxy or server that ends every watch at once must
        // not be reconnected to in a tight loop.
        spdlog::warn(
            "watch of CSRs ended after {} ms with no event (a very short watch); relisting after a "
            "backoff",
            std::chrono::duration_cast<std::chrono::milliseconds>(lasted).count());
        relist_ = true;
        return Restart(WatchRestartReason::kError, Next::kRelistAfterBackoff);
      }
      return Restart(lasted + kTimeoutSlack >= watch.timeout ? WatchRestartReason::kTimeout
                                                             : WatchRestartReason::kClosed,
                     Next::kWatch);
    }
    const WatchEvent& event = **next;
    if (event.type == "ERROR") {
      int code = 0;
      if (auto it = event.object.find("code");
          it != event.object.end() && it->is_number_integer()) {
        const auto value = it->get<std::int64_t>();
        if (value >= 100 && value <= 599) code = static_cast<int>(value);
      }
      const ApiError error = DecodeApiStatus(code, event.object, "watch of CSRs (an ERROR event)");
      relist_ = true;  // client-go relists after any watch error
      if (IsExpiry(error)) {
        spdlog::info("{}; relisting", error.message);
        return Restart(WatchRestartReason::kExpired, Next::kRelistAfterBackoff);
      }
      spdlog::warn("{}; relisting after a backoff", error.message);
      return Restart(WatchRestartReason::kError, Next::kRelistAfterBackoff);
    }
    if (!received_any) {
      // Events are progress: the next failure starts the backoff over, so a watch a proxy cuts
      // every few events is resumed within about a second, not after ever longer waits.
      received_any = true;
      backoff_.Reset();
    }
    SetInTouch(true);
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
      known_names_.insert_or_assign(csr->name, list_number_);
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
