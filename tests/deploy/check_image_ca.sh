#!/usr/bin/env bash
# The machine's CA bundle reaches the image build only as a build secret (apt trusts it for https
# mirrors behind a TLS-intercepting proxy): no file of the built image may carry it. Checks the
# image's filesystem (podman image mount) for every certificate of the bundle that is not one of
# Debian's standard set (/usr/share/ca-certificates/mozilla, what the ca-certificates package
# ships), i.e. the machine's local CAs; and for an apt setting or file left pointing at the secret.
# Usage: check_image_ca.sh IMAGE [CA_BUNDLE]   (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail
image=$1 bundle=${2:-/etc/ssl/certs/ca-certificates.crt}
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
root=""
cleanup() {
  [ -z "$root" ] || podman image unmount "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# body FILE...: the base64 bodies of the PEM certificates in FILE, one a line.
bodies() {
  awk '/-----BEGIN CERTIFICATE-----/ { body = ""; inside = 1; next }
       /-----END CERTIFICATE-----/ { if (inside) print body; inside = 0; next }
       inside { gsub(/[ \t\r]/, ""); body = body $0 }' "$@"
}
standard=(/usr/share/ca-certificates/mozilla/*.crt)
[ -f "${standard[0]}" ] || fail "no Debian standard CA set in /usr/share/ca-certificates/mozilla"
bodies "${standard[@]}" | sort -u >"$work/standard"
[ ! -f "$bundle" ] || bodies "$bundle" | sort -u >"$work/bundle"
touch "$work/bundle"
comm -23 "$work/bundle" "$work/standard" >"$work/local"
# A 64-character slice from inside each local certificate (past the DER header and serial,
# within the names and key), as it appears on a line of a PEM file written anywhere.
cut -c257-320 "$work/local" | grep -E '^.{64}$' >"$work/patterns" || true

root=$(podman image mount "$image") || fail "cannot mount $image"
[ ! -e "$root/run/secrets/ca-bundle" ] || fail "$image: /run/secrets/ca-bundle is in the image"
! grep -rqs 'ca-bundle' "$root/etc/apt" || fail "$image: an apt setting in /etc/apt names the build secret"
if [ -s "$work/patterns" ]; then
  found=$(grep -rlsF -f "$work/patterns" "$root" 2>/dev/null | sed "s|^$root||" | head -5 || true)
  [ -z "$found" ] || fail "$image carries a local CA of $bundle in: $found"
fi
echo "check_image_ca: $image carries none of the $(wc -l <"$work/local") local CA(s) of $bundle" \
  "($(wc -l <"$work/bundle") certificates, $(wc -l <"$work/standard") standard)"
