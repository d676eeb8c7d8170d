// The leader gate of approval writes: whether this replica may write now, and a Cancellation
// per open period that aborts the writes in flight when the gate closes (issue 9 item 6: a
// deposed leader's writes, held back by 429s, landed after another replica had the Lease).
#pragma once

#include <functional>
#include <memory>

#include "kube_csr_approver/common/thread_annotations.h"
#include "kube_csr_approver/kube/cancellation.h"

namespace kca::controller {

// Thread-safety: every method may be called from any thread.
class WriteGate {
 public:
  // `is_open` says whether writes are allowed now (e.g. LeaderElector::IsLeader, which turns
  // false by itself at the renew deadline); it must be thread-safe and quick. Null: always open.
  explicit WriteGate(std::function<bool()> is_open = nullptr);
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

  bool IsOpen() const;

  // The Cancellation of the current open period, cancelled by the Refresh() that finds the gate
  // closed. A writer takes it BEFORE checking IsOpen() and passes it to its request, so a close
  // after the check still aborts the request. Never null.
  std::shared_ptr<const kube::Cancellation> Term() const;

  // Looks at the gate: closed → cancels the current period (writes in flight are aborted) and
  // starts the next one. Call it when leadership is lost and periodically (the renew deadline
  // closes the gate without telling anyone).
  void Refresh();

 private:
  const std::function<bool()> is_open_;
  mutable Mutex mutex_;
  std::shared_ptr<kube::Cancellation> term_ KCA_GUARDED_BY(mutex_);  // never null
};

}  // namespace kca::controller
