#include "kube_csr_approver/controller/controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "kube_csr_approver/observability/logging.h"

namespace kca::controller {
namespace {

// The maintenance loop's period on the injected clock (gate refresh, policy poll, resync).
constexpr auto kMaintenanceTick = std::chrono::milliseconds(100);
// After a thread's guard caught an exception: wait this long before carrying on.
const kube::ExponentialBackoff::Options kGuardBackoff{std::chrono::seconds(1),
                                                      std::chrono::seconds(30), 2.0, 0.2};

}  // namespace

Controller::Controller(kube::ApiClient& client, const Clock& clock, ApproverMetrics& metrics,
                       HealthState& health, PolicyHolder& policies, PolicyFileWatcher* policy_file,
                       ControllerOptions options)
    : client_(client),
      clock_(clock),
      metrics_(metrics),
      health_(health),
      policies_(policies),
      policy_file_(policy_file),
      options_(std::move(options)),
      cache_(clock),
      queue_(clock, &health, options_.queue) {
  if (options_.leader_election) {
    kube::LeaderElector::Callbacks callbacks;
    callbacks.started_leading = [this] {
      metrics_.SetLeader(true);
      RequeueAll();
    };
    callbacks.stopped_leading = [this] {
      metrics_.SetLeader(false);
      gate_.Refresh();  // aborts approval writes in flight
    };
    elector_ = std::make_unique<kube::LeaderElector>(
        options_.lease_client != nullptr ? *options_.lease_client : client_, clock_,
        *options_.leader_election, std::move(callbacks));
  }
  if (policy_file_ != nullptr) policy_file_->set_on_reloaded([this] { RequeueAll(); });
}

Controller::~Controller() {
  Stop();
  if (policy_file_ != nullptr) policy_file_->set_on_reloaded(nullptr);
}

Status Controller::Validate() const {
  if (policies_.Current() == nullptr) return Error{"no policy loaded"};
  if (options_.leader_election) {
    return kube::ValidateLeaderElectionOptions(*options_.leader_election);
  }
  return Status::Ok();
}

std::map<std::string, ApproverMetrics::PendingBySigner> Controller::PendingBySigner() const {
  // Bounded whatever signer names users invent: the policy's own label (DESIGN.md "Metrics").
  const auto policy = policies_.Current();
  return PendingGauges(
      cache_,
      [&](const CsrObject& csr) {
        return policy != nullptr ? SignerLabel(*policy->policy, csr.signer_name)
                                 : std::string("other");
      },
      clock_);
}

bool Controller::MayWrite() const { return elector_ == nullptr || elector_->IsLeader(); }

void Controller::OnUpsert(const CsrObject& csr) {
  const auto result = cache_.Upsert(csr);
  if (result == PendingCsrCache::UpsertResult::kAdded ||
      result == PendingCsrCache::UpsertResult::kChanged) {
    queue_.Add(csr.name, csr.username);
  }
}

void Controller::OnDelete(const std::string& name) { cache_.Remove(name); }

void Controller::OnSynced() {
  health_.SetSynced(true);
  LogEvent(spdlog::level::info, "CSR list synced", {{"pending", cache_.size()}});
  if (options_.after_list) options_.after_list();
}

void Controller::RequeueAll() {
  for (const auto& key : cache_.Keys()) queue_.Add(key.name, key.requestor);
}

void Controller::RequeueRequestor(const std::string& requestor) {
  for (const auto& key : cache_.Keys()) {
    if (key.requestor == requestor) queue_.Add(key.name, key.requestor);
  }
}

void Controller::Stop() {
  {
    MutexLock lock(mutex_);
    stop_requested_ = true;
  }
  changed_.notify_all();
}

void Controller::WorkerLoop() {
  while (auto item = queue_.Get()) {
    {
      MutexLock lock(mutex_);
      ++busy_workers_;
    }
    // A failure the guard caught is retried later through the queue's per-item backoff.
    std::chrono::nanoseconds retry_after{0};
    auto outcome = Reconciler::Outcome::kRetry;
    RunGuarded(
        "worker",
        [&] { outcome = reconciler_->Reconcile(item->name, &cancel_in_flight_, &retry_after); },
        [this] { metrics_.CountUnexpectedError("worker"); });
    if (outcome == Reconciler::Outcome::kRetry) {
      queue_.Retry(item->name, item->requestor, retry_after);
    } else if (outcome == Reconciler::Outcome::kWaitForFacts ||
               outcome == Reconciler::Outcome::kWaitForNode) {
      // Nodes are watched only while a CSR needs one (RBAC grants it only to such policies).
      if (outcome == Reconciler::Outcome::kWaitForNode && node_watch_ != nullptr) {
        node_watch_->Want();
      }
      queue_.Retry(item->name, item->requestor, std::chrono::nanoseconds(0),
                   options_.facts_retry_max);
    } else {
      queue_.Forget(item->name);
    }
    queue_.Done(item->name);
    {
      MutexLock lock(mutex_);
      --busy_workers_;
    }
    changed_.notify_all();
  }
}

void Controller::Run() {
  health_.SetPolicyLoaded(policies_.Current() != nullptr);
  if (elector_ == nullptr) metrics_.SetLeader(true);
  if (options_.record_events && !options_.dry_run) {
    kube::EventRecorderOptions events = options_.events;
    if (!events.on_unexpected_error) {
      events.on_unexpected_error = [this] { metrics_.CountUnexpectedError("events"); };
    }
    events_ = std::make_unique<kube::EventRecorder>(client_, clock_, std::move(events));
  }
  ReconcilerOptions reconciler_options = options_.reconciler;
  reconciler_options.dry_run = options_.dry_run;
  if (reconciler_options.node_facts == nullptr) {
    node_facts_ =
        std::make_unique<ApiNodeFactsSource>(client_, metrics_, clock_, options_.node_facts);
    reconciler_options.node_facts = node_facts_.get();
  }
  sink_ = std::make_unique<DecisionSink>(metrics_, clock_, events_.get());
  writer_ = std::make_unique<ApprovalWriter>(client_, clock_, gate_, options_.writer);
  reconciler_ =
      std::make_unique<Reconciler>(cache_, policies_, *writer_, *sink_, gate_, reconciler_options);

  if (options_.watch_nodes) {
    node_watch_ = std::make_unique<NodeWatch>(
        client_, clock_,
        [this](const std::string& node) { RequeueRequestor("system:node:" + node); },
        options_.node_watch);
    node_watch_->Start();
  }
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, options_.workers); ++i)
    workers.emplace_back([this] { WorkerLoop(); });
  std::thread elector_thread;
  if (elector_ != nullptr) {
    elector_thread = std::thread([this] {
      // Run() returns when stopped; after an exception the elector starts over (its IsLeader()
      // expires with the renew deadline by itself, so no write slips through meanwhile).
      kube::ExponentialBackoff backoff(kGuardBackoff);
      while (!RunGuarded(
          "leader_election", [this] { elector_->Run(stop_elector_); },
          [this] { metrics_.CountUnexpectedError("leader_election"); })) {
        if (!stop_elector_.SleepFor(clock_, backoff.Next())) break;
      }
    });
  }
  std::unique_ptr<kube::CsrInformer> informer;
  if (options_.run_informer) {
    kube::CsrInformerOptions informer_options = options_.informer;
    if (!informer_options.on_watch_restart) {
      informer_options.on_watch_restart = [this](kube::WatchRestartReason reason) {
        metrics_.CountWatchRestart(kube::ToString(reason));
      };
    }
    if (!informer_options.on_sync_state) {
      informer_options.on_sync_state = [this](bool in_touch) { health_.RecordSyncState(in_touch); };
    }
    if (!informer_options.on_unexpected_error) {
      informer_options.on_unexpected_error = [this] { metrics_.CountUnexpectedError("informer"); };
    }
    if (informer_options.clock == nullptr) informer_options.clock = &clock_;
    informer = std::make_unique<kube::CsrInformer>(client_, *this, std::move(informer_options));
    informer->Start();
  }
  LogEvent(spdlog::level::info, "controller started",
           {{"workers", std::max(1, options_.workers)},
            {"dry_run", options_.dry_run},
            {"leader_election", elector_ != nullptr}});

  // Periodic work on this thread, judged by `clock_` so tests can drive it.
  auto next_poll = clock_.SteadyNow() + options_.policy_poll_interval;
  auto next_resync = clock_.SteadyNow() + options_.resync_period;
  auto next_gauges = clock_.SteadyNow();
  {
    MutexLock lock(mutex_);
    while (!stop_requested_) {
      lock.Unlock();
      const bool ok = RunGuarded(
          "maintenance",
          [&] {
            const auto now = clock_.SteadyNow();
            if (policy_file_ != nullptr && now >= next_poll) {
              next_poll = now + options_.policy_poll_interval;
              policy_file_->Poll();  // a successful reload re-queues every pending CSR
            }
            if (options_.resync_period.count() > 0 && now >= next_resync) {
              next_resync = now + options_.resync_period;
              RequeueAll();
            }
            gate_.Refresh();  // the renew deadline closes the gate without a callback
            if (now >= next_gauges) {
              next_gauges = now + options_.gauge_interval;
              metrics_.SetPending(PendingBySigner());
              if (sink_ != nullptr) {
                sink_->ForgetAuditsExcept(
                    [this](const std::string& name) { return cache_.Contains(name); });
              }
            }
          },
          [this] { metrics_.CountUnexpectedError("maintenance"); });
      lock.Lock();
      const auto tick = clock_.SteadyNow() + (ok ? kMaintenanceTick : kGuardBackoff.initial);
      while (!stop_requested_ &&
             clock_.WaitUntil(lock, changed_, tick) == std::cv_status::no_timeout) {
      }
    }
  }

  LogEvent(spdlog::level::info, "controller stopping", {{"pending", cache_.size()}});
  if (informer != nullptr) informer->Stop();
  if (node_watch_ != nullptr) node_watch_->Stop();
  queue_.ShutDown();
  {
    // Real time, whatever the injected clock: the kubelet's kill at the end of the termination
    // grace period does not wait for a fake clock either.
    const auto grace_end = std::chrono::steady_clock::now() + options_.shutdown_grace;
    MutexLock lock(mutex_);
    while (busy_workers_ != 0 &&
           lock.WaitUntil(changed_, grace_end) == std::cv_status::no_timeout) {
    }
  }
  cancel_in_flight_.Cancel();
  for (auto& worker : workers) worker.join();
  stop_elector_.Cancel();
  if (elector_thread.joinable()) elector_thread.join();  // releases the Lease on its way out
  reconciler_.reset();
  writer_.reset();
  sink_.reset();
  events_.reset();
  LogEvent(spdlog::level::info, "controller stopped", nlohmann::json::object());
}

}  // namespace kca::controller
