#!/usr/bin/env bash
# Installs every build and test dependency from Debian bookworm packages.
# Idempotent and non-interactive; needs root (CI and the dev machines run as root).
set -euo pipefail

packages=(
  cmake g++ make pkg-config git ca-certificates openssl
  libcpprest-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libcivetweb-dev zlib1g-dev libcurl4-openssl-dev
  libyaml-cpp-dev libre2-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libboost-dev
  python3 unzip
  clang-14 libclang-rt-14-dev   # scripts/fuzz.sh: libFuzzer with ASan+UBSan
)
# The chart tests run helm and kubernetes-models from npm: Node.js comes with the machine image
# here; on a bare Debian machine take Debian's.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
