#include "kube_csr_approver/controller/node_watch.h"

#include <nlohmann/json.hpp>

namespace kca::controller {
namespace {

constexpr const char* kNodes = "/api/v1/nodes";

std::int64_t Nanoseconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

NodeWatch::NodeWatch(kube::ApiClient& client, const Clock& clock,
                     std::function<void(const std::string&)> on_node, NodeWatchOptions options)
    : client_(client), clock_(clock), on_node_(std::move(on_node)), options_(options) {}

NodeWatch::~NodeWatch() { Stop(); }

void NodeWatch::Start() {
  thread_ = std::thread([this] { Run(); });
}

void NodeWatch::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wanted_cv_.notify_all();
  stop_.Cancel();
  if (thread_.joinable()) thread_.join();
}

void NodeWatch::Want() {
  wanted_until_ns_ = Nanoseconds(clock_.SteadyNow()) +
                     std::chrono::duration_cast<std::chrono::nanoseconds>(options_.linger).count();
  // Through the mutex, so that an idle Run() between its check and its wait still wakes.
  { MutexLock lock(mutex_); }
  wanted_cv_.notify_all();
}

bool NodeWatch::Wanted() const { return Nanoseconds(clock_.SteadyNow()) < wanted_until_ns_; }

void NodeWatch::Run() {
  kube::ExponentialBackoff backoff(options_.backoff);
  while (!stop_.cancelled()) {
    if (!Wanted()) {
      // Idle until a CSR waits for a Node: no polling, on any clock.
      MutexLock lock(mutex_);
      while (!stopping_ && !Wanted()) lock.Wait(wanted_cv_);
      if (stopping_) return;
      continue;
    }
    if (WatchOnce()) {
      backoff.Reset();
    } else if (!stop_.SleepFor(clock_, backoff.Next())) {
      return;
    }
  }
}

bool NodeWatch::WatchOnce() {
  kube::ListOptions list_options;
  list_options.limit = 1;  // only the collection's resourceVersion is needed
  auto listed = client_.List(kNodes, list_options, &stop_);
  if (!listed.ok()) return false;
  kube::WatchOptions watch_options;
  watch_options.timeout = options_.watch_timeout;
  try {
    watch_options.resource_version = listed->at("metadata").value("resourceVersion", "");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  while (Wanted() && !stop_.cancelled()) {
    auto stream = client_.Watch(kNodes, watch_options, &stop_);
    if (!stream.ok()) return false;
    while (true) {
      auto event = (*stream)->Next();
      if (!event.ok()) return false;
      if (!event->has_value()) break;  // the server's timeout: resume from the last version
      const kube::WatchEvent& e = **event;
      if (e.type == "ERROR") return false;  // 410 Expired and others: list again
      if (!e.object.is_object() || !e.object.contains("metadata") ||
          !e.object["metadata"].is_object()) {
        continue;
      }
      const nlohmann::json& metadata = e.object["metadata"];
      if (auto rv = metadata.find("resourceVersion"); rv != metadata.end() && rv->is_string()) {
        watch_options.resource_version = rv->get<std::string>();
      }
      if (e.type != "ADDED" && e.type != "MODIFIED") continue;
      if (auto name = metadata.find("name"); name != metadata.end() && name->is_string()) {
        on_node_(name->get<std::string>());
      }
    }
  }
  return true;
}

}  // namespace kca::controller
