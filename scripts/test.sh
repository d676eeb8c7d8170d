#!/usr/bin/env bash
# The one command that runs every test from a fresh Debian bookworm machine (as root): installs
# the packages, builds the preset, runs CTest, then (for the default preset) these stages, the
# cheap ones first: clang's thread-safety analysis, the container image as the chart and deploy/
# run it, the README's main command on a fresh machine, the C++ test suites under ASan+UBSan and
# the threaded ones under TSan, and every fuzz target for FUZZ_SECONDS (60) each (in the asan
# stage's build tree). docs/reliability.md has each stage's measured time.
#   KCA_SKIP_THREAD_SAFETY=1    skips clang's -Wthread-safety pass over src/ (scripts/thread_safety.sh)
#   KCA_SKIP_CONTAINER_TESTS=1  skips the container stage
#   KCA_SKIP_FRESH_MACHINE_TEST=1  skips the README's main command in a fresh bookworm container
#   KCA_SKIP_SANITIZERS=1       skips the asan and tsan stages (scripts/sanitize.sh asan|tsan)
#   KCA_SKIP_FUZZ=1             skips the fuzz stage
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
[ "${KCA_SKIP_THREAD_SAFETY:-0}" = 1 ] || stage thread-safety bash scripts/thread_safety.sh
[ "${KCA_SKIP_CONTAINER_TESTS:-0}" = 1 ] || stage container bash tests/deploy/container_test.sh "build/$preset"
[ "${KCA_SKIP_FRESH_MACHINE_TEST:-0}" = 1 ] || stage fresh-machine bash tests/deploy/fresh_machine_test.sh
if [ "${KCA_SKIP_SANITIZERS:-0}" != 1 ]; then
  stage asan bash scripts/sanitize.sh asan
  stage tsan bash scripts/sanitize.sh tsan
fi
[ "${KCA_SKIP_FUZZ:-0}" = 1 ] || stage fuzz bash scripts/fuzz.sh
exit 0
