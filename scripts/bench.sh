#!/usr/bin/env bash
# Runs every benchmark once and regenerates docs/benchmarks.md from what they printed.
#   bash scripts/bench.sh            full run (6 minutes of benchmarks at load average 20 on 2 cores)
#   bash scripts/bench.sh --quick    tiny sizes: proves the generator works, figures meaningless
#   bash scripts/bench.sh --report-only DIR   rewrite the report from a previous run's outputs
#                                    (after editing docs/benchmarks-analysis.md)
# Environment: BENCH_SKIP_BUILD (set: use BENCH_BUILD_DIR as built), BENCH_BUILD_DIR (default build/bench), BENCH_BUILD_TYPE (default RelWithDebInfo,
# so that perf/callgrind profiles have symbols), BENCH_OUTPUT (default docs/benchmarks.md),
# BENCH_RESULTS (default: a fresh temporary directory, kept and printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/bench}
BUILD_TYPE=${BENCH_BUILD_TYPE:-RelWithDebInfo}
OUTPUT=${BENCH_OUTPUT:-$ROOT/docs/benchmarks.md}
RESULTS=${BENCH_RESULTS:-$(mktemp -d /tmp/kca-bench.XXXXXX)}
MODE=""
if [[ "${1:-}" == "--quick" ]]; then MODE=" --quick"; fi
if [[ "${1:-}" == "--report-only" ]]; then
  python3 "$ROOT/scripts/bench_report.py" "${2:?--report-only DIR}" \
    "$ROOT/docs/benchmarks-analysis.md" "$OUTPUT"
  echo "== wrote $OUTPUT from $2"
  exit 0
fi
mkdir -p "$RESULTS"

if [[ -n "$MODE" ]]; then
  DECISION_MIN_TIME=0.01 EMU_CLIENTS=(1 4) EMU_SECONDS=1 EMU_WATCHERS=5 EMU_EVENTS=10
  CONTROLLER=(--csrs 50 --rate 20 --seconds 1 --baseline-clients 2)
  FOOTPRINT=(--runs 1 --settle 1)
  BASELINES=(--kubectl-csrs 2 --kubectl-batch-csrs 5 --python-csrs 10)
  FLOOR_REQUESTS=50
else
  DECISION_MIN_TIME=0.5 EMU_CLIENTS=(1 4 8 16) EMU_SECONDS=5 EMU_WATCHERS=100 EMU_EVENTS=200
  CONTROLLER=(--csrs 10000 --rate 200 --seconds 10)
  FOOTPRINT=(--runs 5 --settle 2)
  BASELINES=(--kubectl-csrs 20 --kubectl-batch-csrs 100 --python-csrs 1000)
  FLOOR_REQUESTS=3000
fi

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then  # the CTest smoke runs on its own, already built tree
  echo "== build ($BUILD_TYPE in $BUILD)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DKCA_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$BUILD" --parallel "$(nproc)" --target csr_decision_bench emulator_bench \
    controller_bench cpprest_floor_bench footprint_bench kube-csr-approver \
    kube-apiserver-emulator >/dev/null
fi

load() { cut -d' ' -f1 /proc/loadavg; }
START=$(date -u '+%Y-%m-%d %H:%M'); LOAD_BEFORE=$(load); T0=$SECONDS

echo "== csr_decision_bench"
"$BUILD/tests/bench/csr_decision_bench" --benchmark_min_time="$DECISION_MIN_TIME" \
  --benchmark_out="$RESULTS/csr_decision.json" --benchmark_out_format=json

for clients in "${EMU_CLIENTS[@]}"; do
  echo "== emulator_bench --clients $clients"
  "$BUILD/tests/emulator/emulator_bench" --clients "$clients" --seconds "$EMU_SECONDS" \
    --watchers "$EMU_WATCHERS" --events "$EMU_EVENTS" | tee "$RESULTS/emulator-$clients.txt"
done

echo "== controller_bench ${CONTROLLER[*]}"
"$BUILD/tests/bench/controller/controller_bench" "${CONTROLLER[@]}" | tee "$RESULTS/controller.txt"

for threads in 1 4; do
  echo "== cpprest_floor_bench --requests $FLOOR_REQUESTS --threads $threads"
  "$BUILD/tests/bench/cpprest_floor_bench" --requests "$FLOOR_REQUESTS" --threads "$threads" \
    | tee "$RESULTS/cpprest-floor-$threads.txt"
done

echo "== footprint_bench ${FOOTPRINT[*]}"
"$BUILD/tests/bench/footprint/footprint_bench" "${FOOTPRINT[@]}" | tee "$RESULTS/footprint.txt"

echo "== admin baselines ${BASELINES[*]}"
python3 "$ROOT/scripts/bench_baselines.py" "$BUILD/tests/emulator/kube-apiserver-emulator" \
  "${BASELINES[@]}" >"$RESULTS/baselines.json"

python3 - "$RESULTS/machine.json" <<EOF
import json, platform, re, subprocess, sys
def first(pattern, path):
    m = re.search(pattern, open(path).read(), re.M)
    return m.group(1).strip() if m else "unknown"
def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
cache = open("$BUILD/CMakeCache.txt").read()
cxx = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.*)$", cache, re.M).group(1)
json.dump({
  "mode": "$MODE", "start": "$START", "end": run("date", "-u", "+%Y-%m-%d %H:%M"),
  "nproc": run("nproc"), "cpu": first(r"^model name\s*:\s*(.*)$", "/proc/cpuinfo"),
  "memory": "%.1f GiB" % (int(first(r"^MemTotal:\s*(\d+)", "/proc/meminfo")) / 2**20),
  "os": first(r'^PRETTY_NAME="?([^"\n]*)', "/etc/os-release") + ", kernel " + platform.release(),
  "compiler": run(cxx, "--version").splitlines()[0], "build_type": "$BUILD_TYPE",
  "openssl": run("openssl", "version"),
  "load_before": "$LOAD_BEFORE", "load_after": open("/proc/loadavg").read().split()[0],
  "commit": run("git", "-C", "$ROOT", "log", "-1", "--format=%h %s")[:80],
}, open(sys.argv[1], "w"), indent=1)
EOF

python3 "$ROOT/scripts/bench_report.py" "$RESULTS" "$ROOT/docs/benchmarks-analysis.md" "$OUTPUT"
echo "== wrote $OUTPUT in $((SECONDS - T0)) s of benchmarks (raw outputs in $RESULTS)"
