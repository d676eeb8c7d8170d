#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan, every UB report fatal) in build/asan, the
# asan preset's tree (scripts/sanitize.sh asan runs the test suites there: the libraries are
# compiled once for both), and runs each for a bounded time, starting from the checked-in seed
# corpus, FUZZ_JOBS targets at a time (one process each). Fails on any finding: a crash, a
# sanitizer report, a broken invariant, a timeout or an out-of-memory input. New inputs go to a
# scratch directory; the checked-in corpus is never written.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh                # CI: 60 s per target, 2 at a time (defaults)
#   FUZZ_SECONDS=10 scripts/fuzz.sh fuzz_glob      # one target, shorter, for local runs
#   FUZZ_SECONDS=300 FUZZ_JOBS=1 FUZZ_SEED=0 scripts/fuzz.sh  # the hour docs/reliability.md records
#   FUZZ_SECONDS=3600 FUZZ_JOBS=1 FUZZ_SEED=0 scripts/fuzz.sh # 12 hours: not run yet
#
# FUZZ_SEED (default 1) fixes libFuzzer's mutation order, so a finding in a CI run can be
# reproduced from the same commit; FUZZ_SEED=0 takes a random seed each run (long local runs).
#
# Findings are saved as build/asan/findings/<target>/crash-* (replay: build/asan/tests/fuzz/<target> FILE);
# add each to tests/fuzz/corpus/<dir> once fixed, so the CTest replay keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
targets=("$@")
# target → corpus directory under tests/fuzz/corpus, and the largest input worth trying.
declare -A corpus=([fuzz_csr_request]=request [fuzz_csr_der]=der [fuzz_csr_document]=document
                   [fuzz_policy]=policy [fuzz_glob]=glob [fuzz_check]=check
                   [fuzz_watch_event]=watch_event [fuzz_api_status]=api_status
                   [fuzz_kubeconfig]=kubeconfig [fuzz_exec_credential]=exec_credential
                   [fuzz_lease]=lease [fuzz_node_objects]=node_objects)
declare -A max_len=([fuzz_csr_request]=8192 [fuzz_csr_der]=4096 [fuzz_csr_document]=16384
                    [fuzz_policy]=8192 [fuzz_glob]=1024 [fuzz_check]=16384
                    [fuzz_watch_event]=16384 [fuzz_api_status]=4096 [fuzz_kubeconfig]=8192
                    [fuzz_exec_credential]=4096 [fuzz_lease]=4096 [fuzz_node_objects]=8192)
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_csr_request fuzz_csr_der fuzz_csr_document fuzz_policy
                                     fuzz_glob fuzz_check fuzz_watch_event fuzz_api_status
                                     fuzz_kubeconfig fuzz_exec_credential fuzz_lease
                                     fuzz_node_objects)
for target in "${targets[@]}"; do
  [ -n "${corpus[$target]:-}" ] || { echo "fuzz.sh: unknown target $target" >&2; exit 2; }
done

command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 not found (scripts/install-deps.sh)" >&2; exit 1; }

build=build/asan
# A tree configured before the asan preset moved to clang and Ninja cannot be reconfigured in place.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
# The asan preset: clang 14, -O1 -gline-tables-only, -fsanitize=address,undefined with every UB
# report fatal, and KCA_BUILD_FUZZERS=ON (coverage instrumentation of the libraries under test).
cmake --preset asan >/dev/null
cmake --build --preset asan --parallel "$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/sanitizers/ubsan.supp}

# Runs one target; its exit status says whether it found anything.
run_target() {
  local target=$1
  local scratch="$build/corpus-work/$target" findings="$build/findings/$target"
  mkdir -p "$scratch" "$findings"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -seed="${FUZZ_SEED:-1}" -timeout=10 \
    -rss_limit_mb=2048 \
    -max_len="${max_len[$target]}" -print_final_stats=1 -artifact_prefix="$findings/" \
    "$scratch" "tests/fuzz/corpus/${corpus[$target]}" >"$build/findings/$target.log" 2>&1
}

report() {
  local target=$1 status=$2 log="$build/findings/$1.log"
  if [ "$status" -eq 0 ]; then
    echo "== $target: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions in ${seconds}s, no finding"
  else
    echo "fuzz.sh: $target found a problem; see $log and $build/findings/$target" >&2
    tail -40 "$log" >&2
    failed+=("$target")
  fi
}

mkdir -p "$build/findings"
failed=()
declare -A running=()  # pid → target
for target in "${targets[@]}"; do
  while [ ${#running[@]} -ge "$jobs" ]; do
    status=0
    wait -n -p done_pid "${!running[@]}" || status=$?
    report "${running[$done_pid]}" "$status"
    unset "running[$done_pid]"
  done
  run_target "$target" &
  running[$!]=$target
done
while [ ${#running[@]} -gt 0 ]; do
  status=0
  wait -n -p done_pid "${!running[@]}" || status=$?
  report "${running[$done_pid]}" "$status"
  unset "running[$done_pid]"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${#targets[@]} targets (${seconds}s each, $jobs at a time)"
