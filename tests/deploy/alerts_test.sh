#!/usr/bin/env bash
# The chart's alerts checked by Prometheus's own tools: renders the PrometheusRule (namespace
# csr-system, default thresholds), runs `promtool check rules` on it and `promtool test rules`
# with alerts/alerts_test.yaml, which has a firing and a quiet case for every alert; fails when
# an alert of the chart has no test.
# Usage: alerts_test.sh REPO_DIR TOOLS_DIR
set -euo pipefail
repo=$1 tools=$2
here=$repo/tests/deploy
bash "$here/setup.sh" "$tools"
command -v promtool >/dev/null || { echo "alerts_test: promtool missing (Debian package prometheus; scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/extract_rules.mjs" "$tools/"   # resolves node_modules from the tools dir

"$tools/bin/helm" template kca "$repo/charts/kube-csr-approver" --namespace csr-system \
  --set prometheusRule.enabled=true >"$work/rendered.yaml"
node "$tools/extract_rules.mjs" "$work/rendered.yaml" "$work/full-rules.yaml"
promtool check rules "$work/full-rules.yaml"

node "$tools/extract_rules.mjs" "$work/rendered.yaml" "$work/rules.yaml" --no-annotations
cp "$here/alerts/alerts_test.yaml" "$work/"
# Every alert must be exercised, and must fire in at least one case.
for alert in $(sed -n 's/^ *- alert: //p' "$work/rules.yaml"); do
  grep -q "alertname: $alert\$" "$work/alerts_test.yaml" || { echo "FAIL: no unit test for $alert" >&2; exit 1; }
  awk -v a="$alert" '$0 ~ "alertname: "a"$" { getline; if ($0 !~ /exp_alerts: \[\]/) found = 1 } END { exit !found }' \
    "$work/alerts_test.yaml" || { echo "FAIL: no test where $alert fires" >&2; exit 1; }
done
(cd "$work" && promtool test rules alerts_test.yaml)
echo "alerts_test: promtool check rules and test rules passed for every alert"
