#!/usr/bin/env bash
# Installs dependencies (when root) and builds the given CMake preset (default: "default"): every
# target, or only the TARGETs given.
# Usage: build.sh [--demo-deps] [PRESET [TARGET...]]   (--demo-deps: install-deps.sh --demo)
set -euo pipefail
cd "$(dirname "$0")/.."
deps=()
[ "${1:-}" != --demo-deps ] || { deps=(--demo); shift; }
preset=${1:-default}
targets=()
for target in "${@:2}"; do targets+=(--target "$target"); done
bash scripts/install-deps.sh "${deps[@]}"
# ccache when present; compiler_check=content so builds in containers (the fresh-machine test)
# share the host's cache entries (a compiler's mtime says nothing across machines), and paths
# relative to the checkout so two clones in different folders share them too.
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CCACHE_COMPILERCHECK=${CCACHE_COMPILERCHECK:-content}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --parallel "$(nproc)" "${targets[@]}"
