#!/usr/bin/env bash
# The main job: installs, builds, then shows kube-csr-approver deciding the example CSRs
# (examples/csrs, made with openssl req) under the example policy (examples/policies/cluster.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh default
bin=build/default/src/app/kube-csr-approver
policy=examples/policies/cluster.yaml

echo "== $($bin version)"
echo "== validate-policy $policy"
$bin validate-policy "$policy"
echo
echo "== check --policy $policy examples/csrs/*.yaml"
$bin check --policy "$policy" examples/csrs/*.yaml
