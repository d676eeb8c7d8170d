// `kube-csr-approver run`: the long-running controller, wired from its parts in ordered steps.
#pragma once

#include "run_options.h"

namespace kca {

// Blocks until SIGTERM or SIGINT, then shuts down in order and returns 0. Returns 2 for an
// invalid policy or options, 1 when start-up fails (configuration, ports). Must be called before
// the process starts any thread: it blocks SIGTERM/SIGINT for every thread and waits for them on
// a dedicated one.
int RunController(RunOptions options);

}  // namespace kca
