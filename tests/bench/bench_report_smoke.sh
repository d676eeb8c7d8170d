#!/usr/bin/env bash
# CTest smoke of scripts/bench.sh: a --quick run on the already built tree must write a report
# with every section. It asserts structure only, never a figure or a time.
# Usage: bench_report_smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE=${1:?source dir} BUILD=${2:?build dir}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BENCH_SKIP_BUILD=1 BENCH_BUILD_DIR="$BUILD" BENCH_OUTPUT="$WORK/benchmarks.md" \
  BENCH_RESULTS="$WORK/results" bash "$SOURCE/scripts/bench.sh" --quick
for section in "## Machine and run" "## Targets" "## CSR decision cost against raw OpenSSL" \
  "## API emulator capacity" "## Controller against the emulator" \
  "### Admin baselines on the same emulator" "### Figures" "## Idle footprint against its floor" \
  "## Analysis (hand-written"; do
  grep -qF "$section" "$WORK/benchmarks.md" || { echo "FAIL: report lacks \"$section\"" >&2; exit 1; }
done
for row in "approver CPU per decision in a drain" "idle RSS" "kubectl certificate approve" \
  "Python stdlib" "cpprestsdk alone" "latency at" "requests per decision" \
  "floor: cpprestsdk + OpenSSL"; do
  grep -qF "$row" "$WORK/benchmarks.md" || { echo "FAIL: report lacks a \"$row\" row" >&2; exit 1; }
done
echo "ok: report has every section"
