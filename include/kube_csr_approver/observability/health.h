// Liveness and readiness, as the kubelet probes them (/healthz, /readyz), and the small HTTP
// server that answers them on --health-probe-bind-address.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kube_csr_approver/common/clock.h"
#include "kube_csr_approver/common/result.h"
#include "kube_csr_approver/common/thread_annotations.h"

namespace kca {

struct ProbeResult {
  int status = 200;
  std::string body;  // one line for humans; "ok" when healthy
};

// What the probes know. Thread-safe: every method may be called from any thread.
// The clock must outlive this object.
class HealthState {
 public:
  // The work loop counts as stuck when work has waited for longer than `stuck_after` without
  // any item completing. Default in the controller: 2 minutes.
  // Readiness is lost when the CSR list+watch has been out of touch with the API server for
  // longer than `unsynced_after` (after its first sync). Default: kUnsyncedAfter.
  HealthState(const Clock& clock, std::chrono::steady_clock::duration stuck_after,
              std::chrono::steady_clock::duration unsynced_after = kUnsyncedAfter);

  // Long enough for a few of the informer's backoffs (at most 30 s each) and an API server
  // restart; short enough that a replica cut off from the server shows it within minutes.
  static constexpr std::chrono::seconds kUnsyncedAfter{120};

  void SetPolicyLoaded(bool loaded);
  void SetSynced(bool synced);
  // The informer lost (false) or regained (true) touch with the API server: a list or watch
  // failed, or a list completed / a watch was accepted. Losing it starts the unsynced clock
  // (repeated losses do not restart it); regaining it stops the clock.
  void RecordSyncState(bool in_touch);
  // The work queue reports its backlog whenever it changes; a backlog appearing starts the clock.
  void RecordBacklog(std::size_t backlog);
  // A worker finished an item (decided, dropped or requeued): the loop is alive.
  void RecordProgress(std::size_t backlog);

  // 200 "ok", or 500 "work loop stuck: N CSRs waiting, no progress for S s".
  ProbeResult Liveness() const;
  // 200 "ok", or 503 naming what is missing (policy not loaded; initial list not synced; the
  // list+watch out of touch for longer than `unsynced_after`).
  ProbeResult Readiness() const;

 private:
  const Clock& clock_;
  const std::chrono::steady_clock::duration stuck_after_;
  const std::chrono::steady_clock::duration unsynced_after_;
  mutable Mutex mutex_;
  bool policy_loaded_ KCA_GUARDED_BY(mutex_) = false;
  bool synced_ KCA_GUARDED_BY(mutex_) = false;
  std::optional<std::chrono::steady_clock::time_point> out_of_touch_since_ KCA_GUARDED_BY(mutex_);
  std::size_t backlog_ KCA_GUARDED_BY(mutex_) = 0;
  std::chrono::steady_clock::time_point last_progress_ KCA_GUARDED_BY(mutex_);
};

// Handlers are plain functions from nothing to status+body, registered in one map (STYLE rule 8).
using ProbeRoutes = std::map<std::string, std::function<ProbeResult()>>;

// An HTTP/1.1 server (civetweb) answering GET on each route; other paths get 404.
// Start binds immediately; the destructor stops the server and joins its threads.
class ProbeServer {
 public:
  // `bind_address` as in the CLI: "0.0.0.0:8081", "127.0.0.1:0" (any free port), "[::]:8081".
  // Error when the address cannot be parsed or bound.
  // A route that throws is answered 500, logged and reported to `on_handler_error` (optional).
  static Result<std::unique_ptr<ProbeServer>> Start(const std::string& bind_address,
                                                    ProbeRoutes routes,
                                                    std::function<void()> on_handler_error = {});
  virtual ~ProbeServer() = default;
  // The bound port (useful with port 0).
  virtual int port() const = 0;
};

// Why nothing can listen on `bind_address` ("HOST:PORT"), in the OS's words, lower case
// ("address already in use", "cannot assign requested address"), found by binding a socket
// there once; empty when such a bind works. For errors of servers whose libraries say less.
std::string BindFailureReason(const std::string& bind_address);

// /healthz and /readyz over one HealthState.
ProbeRoutes HealthRoutes(const HealthState& health);

}  // namespace kca
