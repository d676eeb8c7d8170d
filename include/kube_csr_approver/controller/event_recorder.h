// Kubernetes Events (events.k8s.io/v1) on CSRs for approve/deny decisions, so that
// `kubectl describe csr` shows who decided and why. Best effort: never blocks a decision.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "kube_csr_approver/clock.h"
#include "kube_csr_approver/csr_object.h"
#include "kube_csr_approver/decision.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/rate_limit.h"

namespace kca::controller {

struct EventRecorderOptions {
  // Events of a cluster-scoped object go to this namespace. Default: "default".
  std::string event_namespace = "default";
  // reportingInstance: this replica (the pod name). Default: "kube-csr-approver".
  std::string reporting_instance = "kube-csr-approver";
  // Events waiting to be sent; more are dropped (and counted). Default: 1000.
  std::size_t queue_capacity = 1000;
  // Sending pace, in events per second and burst; qps <= 0 = unlimited. Default: 10/s, burst 25.
  double qps = 10;
  int burst = 25;
  // Told when the sending thread's guard caught an exception (it logs, waits 1 s and carries
  // on). Optional.
  std::function<void()> on_unexpected_error;
};

// The events.k8s.io/v1 Event for an approve/deny decision on `csr` at `now`.
nlohmann::json MakeDecisionEvent(const CsrObject& csr, const Decision& decision,
                                 const EventRecorderOptions& options,
                                 std::chrono::system_clock::time_point now);

// Sends events on its own thread, started by the constructor and joined by the destructor.
// Ownership: `client` and `clock` are borrowed and must outlive the recorder.
// Thread-safety: Record() may be called from any thread and never blocks on the API.
class EventRecorder {
 public:
  EventRecorder(kube::ApiClient& client, const Clock& clock, EventRecorderOptions options);
  ~EventRecorder();  // abandons unsent events, cancels a request in flight
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an event for an approve/deny decision; returns false when dropped (queue full or
  // stopped). Other actions are ignored (returns false).
  bool Record(const CsrObject& csr, const Decision& decision);

  std::uint64_t sent() const;
  std::uint64_t dropped() const;
  std::uint64_t failed() const;

 private:
  void Run();

  kube::ApiClient& client_;
  const Clock& clock_;
  const EventRecorderOptions options_;
  kube::TokenBucket pace_;
  kube::Cancellation stop_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;                              // GUARDED_BY(mutex_)
  std::deque<nlohmann::json> queue_;                   // GUARDED_BY(mutex_)
  std::uint64_t sent_ = 0, dropped_ = 0, failed_ = 0;  // GUARDED_BY(mutex_)
  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace kca::controller
