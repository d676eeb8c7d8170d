#!/usr/bin/env bash
# The main job: builds kube-csr-approver, starts the API emulator (a local kube-apiserver stand-in,
# docs/emulator.md), runs the controller in it with examples/policies/cluster.yaml, submits the
# example CSRs (made with `openssl req`, examples/csrs) with kubectl as their requestors would,
# including the seed walkthrough's escalation attempt (O=kubeadm:cluster-admins), then prints each
# decision, why one was denied (`check`), and a few metrics. Everything is stopped on exit.
# Installs and builds only what it runs (the controller and the emulator; scripts/test.sh
# installs and builds the rest).
# KCA_DEMO_BUILD_DIR=DIR skips the build and uses binaries already built in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KCA_DEMO_BUILD_DIR:-}" ]; then
  bash scripts/build.sh --demo-deps default kube-csr-approver kube-apiserver-emulator
  build=build/default
else
  build=$KCA_DEMO_BUILD_DIR
fi
bin=$build/src/app/kube-csr-approver
emulator=$build/tests/emulator/kube-apiserver-emulator
policy=examples/policies/cluster.yaml

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "demo: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
wait_for() {  # wait_for WHAT COMMAND...: poll until COMMAND succeeds, at most 30 s
  local what=$1 deadline=$((SECONDS + 30)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.2
  done
}
# http_get URL: prints the body; fails unless the status is 200 (python3 is in install-deps, curl is not).
http_get() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== $($bin version)"
echo "== validate-policy $policy"
$bin validate-policy "$policy"

echo "== starting the API emulator"
"$emulator" --listen 127.0.0.1:0 --data-dir "$work/cluster" >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_for "the emulator" grep -q '^listening on https://' "$work/emulator.log"
head -1 "$work/emulator.log"
admin="kubectl --kubeconfig $work/cluster/admin.kubeconfig"
# As in many clusters, every authenticated user may request a certificate; signing it is the
# approver's business.
cat >"$work/binding.json" <<'JSON'
{"bindings": [{"group": "system:authenticated", "rules": [{"verbs": ["create", "get", "list", "watch"],
  "apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}]}]}
JSON
$admin create --raw /emulator/v1/bindings -f "$work/binding.json" >/dev/null

metrics=$(free_port) health=$(free_port)
echo "== kube-csr-approver run --policy $policy --leader-elect (in-cluster, as its ServiceAccount)"
KUBERNETES_SERVICE_HOST=127.0.0.1 \
KUBERNETES_SERVICE_PORT=$(sed -n 's|^listening on https://127.0.0.1:||p' "$work/emulator.log") \
KUBE_CSR_APPROVER_SERVICEACCOUNT_DIR="$work/cluster/serviceaccount" \
  "$bin" run --policy "$policy" --leader-elect --log-format text \
  --metrics-bind-address "127.0.0.1:$metrics" --health-probe-bind-address "127.0.0.1:$health" \
  >"$work/approver.log" 2>&1 &
pids+=($!)
wait_for "/readyz" http_get "http://127.0.0.1:$health/readyz"
echo "ready: $(http_get "http://127.0.0.1:$health/readyz")"

# submit FILE USER GROUP...: create the CSR as USER would (kubectl --as), so the API server stamps
# spec.username and spec.groups with that requestor, as it does for a real user.
submit() {
  local file=$1 user=$2; shift 2
  local as=(--as "$user")
  for g in "$@"; do as+=(--as-group "$g"); done
  [ "$user" = kubernetes-admin ] && as=()
  sed '/^  creationTimestamp:/d; /^  resourceVersion:/d; /^  uid:/d' "examples/csrs/$file.yaml" |
    $admin create "${as[@]}" -f - >/dev/null || die "could not create $file"
  printf '  %-28s by %s\n' "$file" "$user"
}
echo "== submitting example CSRs with kubectl"
submit alice-client                alice devs
submit alice-client-with-san       alice devs
submit bob-impersonates-alice      bob devs
submit ci-runner                   system:serviceaccount:ci:runner system:serviceaccounts system:serviceaccounts:ci
submit ci-runner-rsa-key           system:serviceaccount:ci:runner system:serviceaccounts system:serviceaccounts:ci
submit kubelet-client-renewal      system:node:worker-1 system:nodes
submit kubelet-claims-other-node   system:node:worker-1 system:nodes
submit kubelet-serving             system:node:worker-1 system:nodes
submit seed-escalation             kubernetes-admin     # O=kubeadm:cluster-admins
submitted=9

decided() {
  local n
  n=$(http_get "http://127.0.0.1:$metrics/metrics" |
    awk '/^kube_csr_approver_decisions_total\{/ { s += $NF } END { print s + 0 }')
  [ "$n" -ge "$submitted" ]
}
wait_for "all $submitted decisions" decided

echo "== kubectl get csr (Pending = logged for a human: no rule approves kubelet-serving)"
$admin get csr
echo "== the Events the controller recorded (kubectl describe csr shows them too)"
$admin get events -n default
echo "== the escalation attempt explained offline: kube-csr-approver check, same policy"
$bin check --policy "$policy" examples/csrs/seed-escalation.yaml
echo "== metrics (kube_csr_approver_decisions_total, leader, pending)"
http_get "http://127.0.0.1:$metrics/metrics" |
  grep -E '^kube_csr_approver_(decisions_total|leader|pending_csrs|policy_info)[{ ]' || true
echo "== stopping"
