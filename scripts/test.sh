#!/usr/bin/env bash
# The one command that runs every test from a fresh Debian bookworm machine (as root):
# installs the packages, builds the default preset, runs CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/build.sh "$preset"
ctest --preset "$preset" --parallel "$(nproc)"
