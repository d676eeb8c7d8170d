// Kubernetes Events (events.k8s.io/v1), sent best effort on their own thread so that a slow or
// failing Event API never holds up the work they describe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/api_client.h"
#include "kube_csr_approver/kube/cancellation.h"
#include "kube_csr_approver/kube/rate_limit.h"

namespace kca::kube {

struct EventRecorderOptions {
  // Events go to this namespace (events of a cluster-scoped object: "default" or
  // "kube-system"). Default: "default".
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

// POSTs each recorded Event to /apis/events.k8s.io/v1/namespaces/<event_namespace>/events, at
// most `qps`, on a thread started by the constructor and joined by the destructor. A failed
// Event is logged (a warning) and counted, never retried: Events are a courtesy.
// Ownership: `client` and `clock` are borrowed and must outlive the recorder.
// Thread-safety: Record() may be called from any thread and never blocks on the API.
class EventRecorder {
 public:
  EventRecorder(ApiClient& client, const Clock& clock, EventRecorderOptions options);
  ~EventRecorder();  // abandons unsent events, cancels a request in flight
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  const EventRecorderOptions& options() const { return options_; }

  // Queues `event` (an events.k8s.io/v1 Event object, metadata.namespace = event_namespace);
  // returns false when dropped (queue full or stopping).
  bool Record(nlohmann::json event);
  // As Record, but calls `build` only when the event will be queued: in a burst most are dropped,
  // and building each cost more than the decision's metrics (docs/benchmarks-analysis.md).
  bool RecordIfRoom(const std::function<nlohmann::json()>& build);

  std::uint64_t sent() const;
  std::uint64_t dropped() const;
  std::uint64_t failed() const;

 private:
  void Run();

  ApiClient& client_;
  const Clock& clock_;
  const EventRecorderOptions options_;
  TokenBucket pace_;
  Cancellation stop_;

  mutable Mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ KCA_GUARDED_BY(mutex_) = false;
  std::deque<nlohmann::json> queue_ KCA_GUARDED_BY(mutex_);
  std::uint64_t sent_ KCA_GUARDED_BY(mutex_) = 0;
  std::uint64_t dropped_ KCA_GUARDED_BY(mutex_) = 0;
  std::uint64_t failed_ KCA_GUARDED_BY(mutex_) = 0;
  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace kca::kube
