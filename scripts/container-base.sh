#!/usr/bin/env bash
# Makes the Dockerfile's base images locally, without a registry: installs podman and friends,
# bootstraps a minimal Debian bookworm from this machine's configured Debian mirror
# (debootstrap --variant=minbase) and imports it as debian:bookworm and debian:bookworm-slim (the
# slim tag is the same rootfs). Idempotent: existing images are kept. Needs root.
# Usage: container-base.sh   (KCA_CONTAINER_CACHE=DIR holds the rootfs tarball; default
# /var/cache/kube-csr-approver)
set -euo pipefail
cache=${KCA_CONTAINER_CACHE:-/var/cache/kube-csr-approver}

missing=()
for p in podman runc debootstrap uidmap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "container-base: missing ${missing[*]}; run as root" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if podman image exists debian:bookworm && podman image exists debian:bookworm-slim; then
  echo "container-base: debian:bookworm and debian:bookworm-slim present"
  exit 0
fi

# The first Debian (not -security, not -updates) URI of the machine's apt sources.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sources+=("$f")
done
mirror=$(cat "${sources[@]}" /dev/null |
  sed -n -E 's#^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)([a-z]+://[^[:space:]]*/debian)/?([[:space:]].*)?$#\3#p' |
  head -1)
[ -n "$mirror" ] || { echo "container-base: no Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }

mkdir -p "$cache"
tarball=$cache/bookworm-minbase.tar
if [ ! -s "$tarball" ]; then
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  echo "container-base: debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # The machine's own Debian sources (updates and security included), as the image's apt sources.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
podman import --change 'CMD ["/bin/bash"]' "$tarball" debian:bookworm >/dev/null
podman tag debian:bookworm debian:bookworm-slim
echo "container-base: imported debian:bookworm and debian:bookworm-slim"
