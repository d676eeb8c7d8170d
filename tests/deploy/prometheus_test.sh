#!/usr/bin/env bash
# A real Prometheus server (Debian's prometheus package, on 127.0.0.1 with a temporary config and
# storage, scraping every second) scrapes the approver running against the API emulator; after a
# known scenario (one CSR approved, one denied, one left pending), every query of the chart's
# Grafana dashboard is run through Prometheus's HTTP API and must return data, the stats must show
# the scenario's figures, and `promtool check metrics` must accept the live /metrics. The chart's
# alert rules run in the same server: each must evaluate without error and none may fire or be
# pending on this healthy approver.
# Usage: prometheus_test.sh REPO_DIR TOOLS_DIR APPROVER_BINARY EMULATOR_BINARY
set -euo pipefail
repo=$1 tools=$2 approver=$3 emulator=$4
bash "$repo/tests/deploy/setup.sh" "$tools"
for tool in prometheus promtool kubectl; do
  command -v "$tool" >/dev/null || { echo "prometheus_test: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
wait_for() {  # wait_for WHAT COMMAND...: polls COMMAND until it succeeds, at most 30 s
  local what=$1 deadline=$((SECONDS + 30)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out waiting for $what"
    sleep 0.2
  done
}
http_get() { node -e 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.status === 200 ? 0 : 1) }, () => process.exit(1))' "$1"; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metrics_port=$(free_port) health_port=$(free_port) prometheus_port=$(free_port)
policy=$repo/examples/policies/cluster.yaml
namespace=csr-system

"$emulator" --listen 127.0.0.1:0 --data-dir "$work/cluster" >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_for "the emulator" grep -q '^listening on https://' "$work/emulator.log"
api_port=$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/emulator.log")
admin="kubectl --kubeconfig $work/cluster/admin.kubeconfig"
echo '{"bindings": [{"group": "system:authenticated", "rules": [{"verbs": ["create", "get", "list", "watch"],
  "apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}]}]}' >"$work/binding.json"
$admin create --raw /emulator/v1/bindings -f "$work/binding.json" >/dev/null

KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$api_port \
KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR="$work/cluster/serviceaccount" \
  "$approver" run --policy "$policy" --leader-elect \
  --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$health_port" \
  >"$work/approver.log" 2>&1 &
pids+=($!)
wait_for "/readyz" http_get "http://127.0.0.1:$health_port/readyz"

"$tools/bin/helm" template kca "$repo/charts/kube-csr-approver" --namespace "$namespace" \
  --set prometheusRule.enabled=true >"$work/rendered.yaml"
cp "$repo/tests/deploy/extract_rules.mjs" "$tools/"
node "$tools/extract_rules.mjs" "$work/rendered.yaml" "$work/rules.yaml"
# The labels a ServiceMonitor target carries in a cluster (namespace, pod), as static labels.
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$work/rules.yaml]
scrape_configs:
  - job_name: kube-csr-approver
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
        labels: {namespace: $namespace, pod: kca-kube-csr-approver-0}
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prometheus_port"
wait_for "Prometheus to be ready" http_get "$prom/-/ready"

# The scenario: alice's own client certificate (approved), bob asking for alice's (denied), a
# kubelet serving certificate no rule approves (logged, left pending).
submit() {
  local file=$1 user=$2; shift 2
  local as=(--as "$user")
  for g in "$@"; do as+=(--as-group "$g"); done
  sed '/^  creationTimestamp:/d; /^  resourceVersion:/d; /^  uid:/d' "$repo/examples/csrs/$file.yaml" |
    $admin create "${as[@]}" -f - >/dev/null || fail "could not create $file"
}
before() {  # Prometheus has scraped the zero series once, so the decisions below are increases
  local q='sum(kube_csr_approver_decisions_total{namespace="csr-system"}) == 0'
  http_get "$prom/api/v1/query?query=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$q")" | grep -q '"result":\[{'
}
wait_for "a scrape before the scenario" before
submit alice-client alice devs
submit bob-impersonates-alice bob devs
submit kubelet-serving system:node:worker-1 system:nodes
scraped() {  # the last scrape saw all three decisions and the pending CSR
  local q='sum(kube_csr_approver_decisions_total{namespace="csr-system"}) >= 3 and on() sum(kube_csr_approver_pending_csrs{namespace="csr-system",signer="kubernetes.io/kubelet-serving"}) == 1'
  http_get "$prom/api/v1/query?query=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$q")" | grep -q '"result":\[{'
}
wait_for "Prometheus to scrape the scenario" scraped
rated() {  # a second scrape after the decisions, so rate() and increase() have two samples
  local q='sum(rate(kube_csr_approver_decisions_total{namespace="csr-system"}[1m])) > 0'
  http_get "$prom/api/v1/query?query=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$q")" | grep -q '"result":\[{'
}
wait_for "two scrapes of the scenario" rated

http_get "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "no /metrics"
promtool check metrics <"$work/metrics.txt" || fail "promtool check metrics rejects /metrics"

rules=$("$approver" validate-policy "$policy" | sed -n 's/.*valid policy, \([0-9]*\) rule.*/\1/p')
cp "$repo/tests/deploy/query_dashboard.mjs" "$tools/"
node "$tools/query_dashboard.mjs" "$repo/charts/kube-csr-approver/dashboards/kube-csr-approver.json" \
  "$prom" "$namespace" 1m "{\"Policy rules in force\": \"$rules\", \"Leaders\": \"1\", \"Pending CSRs\": \"1\"}"
# Every alert rule has been evaluated on the scenario's data, without error, and is quiet.
evaluated() {
  http_get "$prom/api/v1/rules" | node -e '
    const rules = JSON.parse(require("fs").readFileSync(0, "utf8")).data.groups.flatMap((g) => g.rules);
    const bad = rules.filter((r) => r.health !== "ok" || r.state !== "inactive");
    if (rules.length < 7 || bad.length) { console.error(JSON.stringify(bad)); process.exit(1); }'
}
wait_for "every alert rule evaluated and quiet" evaluated
echo "prometheus_test: Prometheus scraped the approver; every dashboard query returned data"
