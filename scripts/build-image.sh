#!/usr/bin/env bash
# Builds the image with podman from locally made base images (scripts/container-base.sh), as CI
# does: no registry, no Docker engine. The build stage's ccache lives in a build cache mount, so a
# rebuild after a small change compiles only what changed.
# The machine's CA bundle goes in as a build secret (apt trusts it for https mirrors behind a
# TLS-intercepting proxy; it is in no layer of the image).
# Usage: build-image.sh [TAG]   (default localhost/kube-csr-approver:dev; KCA_CA_BUNDLE=FILE, default
# /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/kube-csr-approver:dev}
bash scripts/container-base.sh
version=$(sed -n -E 's/^project\(kube-csr-approver VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
ca_bundle=${KCA_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ ! -s "$ca_bundle" ] || secret=(--secret "id=ca-bundle,src=$ca_bundle")
start=$SECONDS
# runc, not crun, and host networking: what works in these VMs (crun fails here).
podman build --runtime runc --network=host --layers "${secret[@]}" \
  --build-arg VERSION="${version:-unknown}" --build-arg REVISION="$revision" -t "$tag" . >&2
echo "build-image: $tag built in $((SECONDS - start)) s" >&2
