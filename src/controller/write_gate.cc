#include "kube_csr_approver/controller/write_gate.h"

#include <utility>

namespace kca::controller {

WriteGate::WriteGate(std::function<bool()> is_open)
    : is_open_(std::move(is_open)), term_(std::make_shared<kube::Cancellation>()) {}

bool WriteGate::IsOpen() const { return !is_open_ || is_open_(); }

std::shared_ptr<const kube::Cancellation> WriteGate::Term() const {
  MutexLock lock(mutex_);
  return term_;
}

void WriteGate::Refresh() {
  if (IsOpen()) return;
  std::shared_ptr<kube::Cancellation> closed;
  {
    MutexLock lock(mutex_);
    closed = std::exchange(term_, std::make_shared<kube::Cancellation>());
  }
  closed->Cancel();  // outside the lock: it runs the requests' abort callbacks
}

}  // namespace kca::controller
