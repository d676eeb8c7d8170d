#!/usr/bin/env bash
# The README's main command on a fresh Debian bookworm machine (issue 10): starts a container
# from the debootstrap base image (scripts/container-base.sh; nothing else installed), copies the
# checkout in, and runs `bash scripts/demo.sh` there as root — install step, build and demo
# included. Only three things come from the host: the checkout, the machine's CA bundle (the
# registries may sit behind a TLS-intercepting proxy with a local CA; it goes where an admin
# puts a local CA, /usr/local/share/ca-certificates, and the ca-certificates package that
# install-deps installs adds it to the system store) and, optionally, the compiler cache.
# Passes when the demo exits 0 after showing the escalation attempt denied.
# ccache: the host's ccache directory is mounted and the checkout is copied to the same absolute
# path as on the host; scripts/build.sh sets base_dir to the checkout and compiler_check=content
# on both sides, so after `scripts/build.sh` on the host (as CI does first) the container's build
# is mostly cache hits, provided the host's -dev packages are the versions the mirror serves now.
# The hit rate of this run alone (from a stats log) and the time of each phase are printed.
# Usage: fresh_machine_test.sh   (KCA_CA_BUNDLE=FILE: the CA bundle; KCA_FRESH_CCACHE=0: no cache)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KCA_CONTAINER_CACHE:-/var/cache/kube-csr-approver}
ca_bundle=${KCA_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
bash "$repo/scripts/container-base.sh"
ccache_dir=$(ccache -k cache_dir 2>/dev/null || echo "$cache/ccache")
ccache_max=$(ccache -k max_size 2>/dev/null || echo 5G)  # never let the container shrink the host's cache
mkdir -p "$ccache_dir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ca_args=()
if [ -f "$ca_bundle" ]; then
  ca_args=(--volume "$ca_bundle:/usr/local/share/ca-certificates/host-ca-bundle.crt:ro")
fi
cache_args=()
if [ "${KCA_FRESH_CCACHE:-1}" = 1 ]; then
  cache_args=(--volume "$ccache_dir:/ccache" --env CCACHE_DIR=/ccache --env CCACHE_MAXSIZE="$ccache_max"
              --env CCACHE_STATSLOG=/tmp/ccache-stats.log)
fi
start=$SECONDS
status=0
podman run --rm --runtime runc --network host \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  --volume "$repo:/checkout:ro" "${ca_args[@]}" "${cache_args[@]}" --env KCA_SRC="$repo" \
  debian:bookworm bash -euo pipefail -c '
    mkdir -p "$KCA_SRC"
    tar -C /checkout --exclude=./build --exclude="./build-*" --exclude=./.git -cf - . | tar -C "$KCA_SRC" -xf -
    cd "$KCA_SRC"
    # Each line prefixed with the seconds since the start, to time the install, build and demo.
    bash scripts/demo.sh 2>&1 | while IFS= read -r line; do printf "[%4d s] %s\n" "$SECONDS" "$line"; done
    [ ! -f /tmp/ccache-stats.log ] || ccache --show-log-stats | grep -E "^ *(Hits|Misses):" | sed "s/^ */ccache (this run): /"' \
  >"$log" 2>&1 || status=$?
echo "fresh_machine_test: the demo in a fresh bookworm container took $((SECONDS - start)) s (exit $status)"
if [ "$status" -ne 0 ]; then
  tail -60 "$log" >&2
  echo "FAIL: bash scripts/demo.sh exited $status on a fresh bookworm machine" >&2
  exit 1
fi
grep -q 'seed-escalation: DENY' "$log" || { tail -60 "$log" >&2; echo "FAIL: the demo did not show the escalation denied" >&2; exit 1; }
grep -E '\] install-deps: |\] == kube-csr-approver [0-9]|\] == stopping|ccache \(this run\)' "$log" | cut -c1-160 || true
echo "fresh_machine_test: bash scripts/demo.sh passed on a fresh Debian bookworm"
