#!/usr/bin/env bash
# The README's main command on a fresh Debian bookworm machine (issue 10): starts a container
# from the debootstrap base image (scripts/container-base.sh; nothing else installed), copies the
# checkout in, and runs `bash scripts/demo.sh` there as root — install step, build and demo
# included. The machine's CA bundle is mounted so npm works behind a TLS-intercepting proxy.
# Passes when the demo exits 0 after showing the escalation attempt denied.
# ccache: the host's ccache directory is mounted, and the checkout is copied to the same absolute
# path as on the host, with the host's base_dir and compiler_check=content (scripts/build.sh
# builds the host with content too): the container's compile commands hash as the host's, so
# after `scripts/build.sh` on the host the container's build is mostly cache hits.
# Usage: fresh_machine_test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KCA_CONTAINER_CACHE:-/var/cache/kube-csr-approver}
ca_bundle=${KCA_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
bash "$repo/scripts/container-base.sh"
ccache_dir=$(ccache -k cache_dir 2>/dev/null || echo "$cache/ccache")
ccache_base=$(ccache -k base_dir 2>/dev/null || true)
ccache_max=$(ccache -k max_size 2>/dev/null || echo 5G)  # never let the container shrink the host's cache
mkdir -p "$ccache_dir"
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
  --volume "$ccache_dir:/ccache" --env CCACHE_DIR=/ccache --env CCACHE_MAXSIZE="$ccache_max" \
  --env CCACHE_BASEDIR="$ccache_base" --env CCACHE_COMPILERCHECK=content \
  --env KCA_SRC="$repo" \
  debian:bookworm bash -euo pipefail -c '
    mkdir -p "$KCA_SRC"
    tar -C /checkout --exclude=./build --exclude="./build-*" --exclude=./.git -cf - . | tar -C "$KCA_SRC" -xf -
    cd "$KCA_SRC"
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
