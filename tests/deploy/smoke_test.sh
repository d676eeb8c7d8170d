#!/usr/bin/env bash
# Deploy smoke test: runs the binary with the args, env and mounted policy of the chart's rendered
# Deployment (mount paths re-rooted under a temp dir; the ports are chosen free and passed through
# the chart's values), in in-cluster mode against the API emulator's service-account folder. Passes
# when /readyz answers 200, a user's CSR is approved by the expected rule, the metric counts it and
# SIGTERM ends the process with status 0.
# Usage: smoke_test.sh REPO_DIR TOOLS_DIR APPROVER_BINARY EMULATOR_BINARY
set -euo pipefail
repo=$1 tools=$2 approver=$3 emulator=$4
bash "$repo/tests/deploy/setup.sh" "$tools"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
# Polls a condition (a command) until it holds or the deadline passes.
wait_for() {
  local what=$1 deadline=$((SECONDS + 20)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out waiting for $what"
    sleep 0.1
  done
}

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metrics_port=$(free_port) health_port=$(free_port)

"$emulator" --listen 127.0.0.1:0 --data-dir "$work/cluster" >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_for "the emulator" grep -q '^listening on https://' "$work/emulator.log"
api_port=$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/emulator.log")

"$tools/bin/helm" template kca "$repo/charts/kube-csr-approver" --namespace kube-system \
  -f "$repo/tests/deploy/values/monitoring.yaml" \
  --set metricsPort="$metrics_port" --set healthPort="$health_port" >"$work/rendered.yaml"
cp "$repo/tests/deploy/pod_from_chart.mjs" "$tools/"
node "$tools/pod_from_chart.mjs" "$work/rendered.yaml" "$work/root" >"$work/pod.txt"
mapfile -t env_lines < <(sed '/^--$/,$d' "$work/pod.txt")
mapfile -t args < <(sed '0,/^--$/d' "$work/pod.txt")
grep -q -- "--metrics-bind-address=0.0.0.0:$metrics_port" <<<"${args[*]}" || fail "rendered args lack the metrics port"

env "${env_lines[@]}" KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$api_port" \
  KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR="$work/cluster/serviceaccount" \
  "$approver" "${args[@]}" >"$work/approver.log" 2>&1 &
approver_pid=$!
pids+=("$approver_pid")

# http_get URL: prints the body, fails unless the status is 200 (node is needed anyway; curl is not installed by install-deps).
http_get() { node -e 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.status === 200 ? 0 : 1) }, () => process.exit(1))' "$1"; }
readyz() { http_get "http://127.0.0.1:$health_port/readyz"; }
wait_for "/readyz" readyz

kubectl="kubectl --kubeconfig $work/cluster/user.kubeconfig"
sed '/^  creationTimestamp:/d; /^  resourceVersion:/d; /^  uid:/d' "$repo/examples/csrs/alice-client.yaml" |
  $kubectl create -f - >/dev/null || fail "alice cannot create her CSR"
approved() { $kubectl get csr alice-client -o jsonpath='{.status.conditions[?(@.type=="Approved")].status}' | grep -qx True; }
wait_for "alice-client to be approved" approved
counted() {
  http_get "http://127.0.0.1:$metrics_port/metrics" |
    grep -q '^kube_csr_approver_decisions_total{.*decision="approved".*rule="devs-own-client-cert".*} 1$'
}
wait_for "the approval in /metrics" counted

kill -TERM "$approver_pid"
deadline=$((SECONDS + 5))
while kill -0 "$approver_pid" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "approver still running 5 s after SIGTERM"
  sleep 0.1
done
wait "$approver_pid" || fail "approver exited with status $? after SIGTERM"
echo "smoke_test: the chart's Deployment ran in-cluster, was ready, approved alice-client and exited cleanly"
