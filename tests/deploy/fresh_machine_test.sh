#!/usr/bin/env bash
# The README's main command on a fresh Debian bookworm machine (issue 10): starts a container
# from the debootstrap base image (scripts/container-base.sh; nothing else installed), copies the
# checkout in, and runs `bash scripts/demo.sh` there as root — install step, build and demo
# included. The machine's CA bundle is mounted so npm works behind a TLS-intercepting proxy.
# Passes when the demo exits 0 after showing the escalation attempt denied.
# ccache: KCA_CONTAINER_CACHE/ccache-fresh-machine (default /var/cache/kube-csr-approver/...)
# is mounted as the container's ccache, content-checked and path-independent, so a second run
# compiles only what changed.
# Usage: fresh_machine_test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KCA_CONTAINER_CACHE:-/var/cache/kube-csr-approver}
ca_bundle=${KCA_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
bash "$repo/scripts/container-base.sh"
mkdir -p "$cache/ccache-fresh-machine"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ca_args=()
if [ -f "$ca_bundle" ]; then
  # Under /usr/local/share/ca-certificates so the ca-certificates package, once install-deps has
  # installed it, adds it to the container's own bundle; NODE_EXTRA_CA_CERTS covers npm before.
  ca_args=(--volume "$ca_bundle:/usr/local/share/ca-certificates/host-ca-bundle.crt:ro"
           --env NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-ca-bundle.crt)
fi
start=$SECONDS
status=0
podman run --rm --runtime runc --network host \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  --volume "$repo:/checkout:ro" "${ca_args[@]}" \
  --volume "$cache/ccache-fresh-machine:/root/.cache/ccache" \
  --env CMAKE_CXX_COMPILER_LAUNCHER=ccache --env CCACHE_DIR=/root/.cache/ccache \
  --env CCACHE_BASEDIR=/src --env CCACHE_COMPILERCHECK=content --env CCACHE_NOHASHDIR=1 \
  debian:bookworm bash -euo pipefail -c '
    mkdir /src
    tar -C /checkout --exclude=./build --exclude="./build-*" --exclude=./.git -cf - . | tar -C /src -xf -
    cd /src
    bash scripts/demo.sh
    ccache --show-stats | grep -E "Hits|Misses" || true' >"$log" 2>&1 || status=$?
echo "fresh_machine_test: the demo in a fresh bookworm container took $((SECONDS - start)) s (exit $status)"
if [ "$status" -ne 0 ]; then
  tail -60 "$log" >&2
  echo "FAIL: bash scripts/demo.sh exited $status on a fresh bookworm machine" >&2
  exit 1
fi
grep -q 'seed-escalation: DENY' "$log" || { tail -60 "$log" >&2; echo "FAIL: the demo did not show the escalation denied" >&2; exit 1; }
grep -E 'install-deps: installed|Hits|Misses' "$log" || true
echo "fresh_machine_test: bash scripts/demo.sh passed on a fresh Debian bookworm"
