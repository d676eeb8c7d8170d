#!/usr/bin/env bash
# The one command that runs every test from a fresh Debian bookworm machine (as root): installs
# the packages, builds the preset, runs CTest, then (for the default preset) the stages that run
# what we ship: the container image as the chart and deploy/ run it, and every fuzz target for
# FUZZ_SECONDS (60) each.
#   KCA_SKIP_CONTAINER_TESTS=1  skips the container stage
#   KCA_SKIP_FUZZ=1             skips the fuzz stage
#   KCA_SKIP_FRESH_MACHINE_TEST=1  skips the README's main command in a fresh bookworm container
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/build.sh "$preset"
ctest --preset "$preset" --parallel "$(nproc)"
[ "$preset" = default ] || exit 0

stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo "== stage $name"
  "$@"
  echo "== stage $name passed in $((SECONDS - start)) s"
}
command -v ccache >/dev/null && export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
[ "${KCA_SKIP_CONTAINER_TESTS:-0}" = 1 ] || stage container bash tests/deploy/container_test.sh "build/$preset"
[ "${KCA_SKIP_FRESH_MACHINE_TEST:-0}" = 1 ] || stage fresh-machine bash tests/deploy/fresh_machine_test.sh
[ "${KCA_SKIP_FUZZ:-0}" = 1 ] || stage fuzz bash scripts/fuzz.sh
exit 0
