#!/usr/bin/env bash
# The one command that runs every test from a fresh Debian bookworm machine (as root):
# installs the packages, builds the default preset, runs CTest, then the container stages
# (KCA_SKIP_CONTAINER_TESTS=1 skips both; KCA_SKIP_FRESH_MACHINE_TEST=1 only the slower second).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/build.sh "$preset"
ctest --preset "$preset" --parallel "$(nproc)"
[ "${KCA_SKIP_CONTAINER_TESTS:-0}" = 1 ] || bash tests/deploy/container_test.sh "build/$preset"
[ "${KCA_SKIP_CONTAINER_TESTS:-0}" = 1 ] || [ "${KCA_SKIP_FRESH_MACHINE_TEST:-0}" = 1 ] || bash tests/deploy/fresh_machine_test.sh
