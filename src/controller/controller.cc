#include "kube_csr_approver/controller/controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "kube_csr_approver/logging.h"

namespace kca::controller {
namespace {

// The maintenance loop wakes at least this often to look at the (possibly fake) clock.
constexpr auto kMaintenanceTick = std::chrono::milliseconds(100);

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
      cache_(clock, [this](const CsrObject& csr) { return InitialSignerLabel(csr); }),
      queue_(clock, &health, options_.queue) {
  if (options_.leader_election) {
    kube::LeaderElector::Callbacks callbacks;
    callbacks.started_leading = [this] {
      metrics_.SetLeader(true);
      RequeueAll();
    };
    callbacks.stopped_leading = [this] { metrics_.SetLeader(false); };
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

std::string Controller::InitialSignerLabel(const CsrObject& csr) const {
  // Until a decision computes the policy's own label, only literal signer names are trusted as
  // labels: anyone who can create CSRs can invent signer names.
  const auto policy = policies_.Current();
  if (policy != nullptr) {
    const auto& literal = policy->summary.literal_signer_names;
    if (std::find(literal.begin(), literal.end(), csr.signer_name) != literal.end()) {
      return csr.signer_name;
    }
  }
  return "other";
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
}

void Controller::RequeueAll() {
  for (const auto& key : cache_.Keys()) queue_.Add(key.name, key.requestor);
}

void Controller::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  changed_.notify_all();
}

void Controller::WorkerLoop() {
  while (auto item = queue_.Get()) {
    {
      std::lock_guard lock(mutex_);
      ++busy_workers_;
    }
    const auto outcome = reconciler_->Reconcile(item->name, &cancel_in_flight_);
    if (outcome == Reconciler::Outcome::kRetry) {
      queue_.Retry(item->name, item->requestor);
    } else {
      queue_.Forget(item->name);
    }
    queue_.Done(item->name);
    {
      std::lock_guard lock(mutex_);
      --busy_workers_;
    }
    changed_.notify_all();
  }
}

void Controller::Run() {
  health_.SetPolicyLoaded(policies_.Current() != nullptr);
  if (elector_ == nullptr) metrics_.SetLeader(true);
  if (options_.record_events && !options_.dry_run) {
    events_ = std::make_unique<EventRecorder>(client_, clock_, options_.events);
  }
  ReconcilerOptions reconciler_options = options_.reconciler;
  reconciler_options.dry_run = options_.dry_run;
  reconciler_ = std::make_unique<Reconciler>(
      client_, cache_, policies_, metrics_, clock_, events_.get(), [this] { return MayWrite(); },
      reconciler_options);

  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, options_.workers); ++i)
    workers.emplace_back([this] { WorkerLoop(); });
  std::thread elector_thread;
  if (elector_ != nullptr) elector_thread = std::thread([this] { elector_->Run(stop_elector_); });
  std::unique_ptr<kube::CsrInformer> informer;
  if (options_.run_informer) {
    kube::CsrInformerOptions informer_options = options_.informer;
    if (!informer_options.on_watch_restart) {
      informer_options.on_watch_restart = [this](kube::WatchRestartReason reason) {
        metrics_.CountWatchRestart(kube::ToString(reason));
      };
    }
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
    std::unique_lock lock(mutex_);
    while (!stop_requested_) {
      lock.unlock();
      const auto now = clock_.SteadyNow();
      if (policy_file_ != nullptr && now >= next_poll) {
        policy_file_->Poll();  // a successful reload re-queues every pending CSR
        next_poll = now + options_.policy_poll_interval;
      }
      if (options_.resync_period.count() > 0 && now >= next_resync) {
        RequeueAll();
        next_resync = now + options_.resync_period;
      }
      if (now >= next_gauges) {
        metrics_.SetPending(cache_.PendingBySigner());
        next_gauges = now + options_.gauge_interval;
      }
      lock.lock();
      changed_.wait_for(lock, kMaintenanceTick, [this] { return stop_requested_; });
    }
  }

  LogEvent(spdlog::level::info, "controller stopping", {{"pending", cache_.size()}});
  if (informer != nullptr) informer->Stop();
  queue_.ShutDown();
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, options_.shutdown_grace, [this] { return busy_workers_ == 0; });
  }
  cancel_in_flight_.Cancel();
  for (auto& worker : workers) worker.join();
  stop_elector_.Cancel();
  if (elector_thread.joinable()) elector_thread.join();  // releases the Lease on its way out
  events_.reset();
  reconciler_.reset();
  LogEvent(spdlog::level::info, "controller stopped", nlohmann::json::object());
}

}  // namespace kca::controller
