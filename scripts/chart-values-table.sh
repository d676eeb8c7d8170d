#!/usr/bin/env bash
# Regenerates the values table of charts/kube-csr-approver/README.md from values.yaml's `# --`
# comments (tests/deploy/values_table.mjs; the chart test fails when it is out of date).
# Usage: scripts/chart-values-table.sh [TOOLS_DIR]   (default build/deploy-tools)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${1:-$repo/build/deploy-tools}
bash "$repo/tests/deploy/setup.sh" "$tools"
cp "$repo/tests/deploy/values_table.mjs" "$tools/"   # resolves node_modules from the tools dir
node "$tools/values_table.mjs" "$repo/charts/kube-csr-approver"
