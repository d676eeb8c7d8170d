#!/usr/bin/env bash
# The real image, run as Kubernetes runs it (issue 10): builds the image with podman
# (scripts/build-image.sh), then, for the Helm chart's rendered Deployment and for deploy/'s,
# runs the container with that Deployment's command/args, env and securityContext (non-root
# UID, read-only root filesystem, no privilege escalation, capabilities dropped), its policy
# ConfigMap mounted read-only as a directory in the kubelet's ..data symlink layout, and the
# service-account files at /var/run/secrets/kubernetes.io/serviceaccount with the in-cluster env,
# against the API emulator on the host network. First the image alone must refuse to run without
# a mounted policy (it carries none). Then, for each Deployment: /readyz answers, a user's
# CSR is approved by the expected rule, a policy change made by swapping ..data (as the kubelet
# updates a ConfigMap volume) is reloaded and decides the next CSR differently, and
# `podman stop` (SIGTERM) ends the container with status 0. The Deployment's resources.limits
# are the container's cgroup limits (memory without swap, cpu as a quota), so an image that needs
# more than the manifests allow fails here as in a cluster. The image carries none of the
# machine's local CAs (check_image_ca.sh): the CA bundle reaches the build only as a secret.
# Usage: container_test.sh BUILD_DIR   (BUILD_DIR holds the emulator and deploy-tools)
#   KCA_TEST_IMAGE=IMAGE uses an image already built instead of building one.
set -euo pipefail
build=$(cd "${1:?usage: container_test.sh BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
tools=$build/deploy-tools
emulator=$build/tests/emulator/kube-apiserver-emulator
[ -x "$emulator" ] || { echo "container_test: $emulator is not built" >&2; exit 1; }
bash "$repo/tests/deploy/setup.sh" "$tools"
image=${KCA_TEST_IMAGE:-localhost/kube-csr-approver:test}
[ -n "${KCA_TEST_IMAGE:-}" ] || bash "$repo/scripts/build-image.sh" "$image"
bash "$repo/tests/deploy/check_image_ca.sh" "$image"

work=$(mktemp -d)
chmod 755 "$work"  # the container's user (UID 65532) reads the mounted files under it
pids=() containers=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
current=""
fail() {
  echo "FAIL: $*" >&2
  [ -z "$current" ] || { echo "--- podman logs $current"; podman logs "$current" 2>&1 | tail -30; } >&2
  tail -20 "$work/emulator.log" >&2
  exit 1
}
running() { [ "$(podman container inspect -f '{{.State.Running}}' "$current" 2>/dev/null)" = true ]; }
# Polls a condition (a command) until it holds or the deadline passes; a container that exits
# meanwhile fails at once.
wait_for() {
  local what=$1 deadline=$((SECONDS + 30)); shift
  until "$@" >/dev/null 2>&1; do
    running || fail "the container exited ($(podman container inspect -f '{{.State.ExitCode}}' "$current")) while waiting for $what"
    ((SECONDS < deadline)) || fail "timed out waiting for $what"
    sleep 0.2
  done
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
http_get() { node -e 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.status === 200 ? 0 : 1) }, () => process.exit(1))' "$1"; }
# metric NAME_AND_LABELS_REGEX: the sum of the matching samples on /metrics (0 when none).
metric() {
  http_get "http://127.0.0.1:$metrics_port/metrics" | awk -v re="^$1" '$0 ~ re { s += $NF } END { print s + 0 }'
}
# metric_above REGEX N: the metric's sum is above N now (a condition for wait_for).
metric_above() { [ "$(metric "$1")" -gt "$2" ]; }

"$emulator" --listen 127.0.0.1:0 --data-dir "$work/cluster" >"$work/emulator.log" 2>&1 &
pids+=($!)
until grep -q '^listening on https://' "$work/emulator.log" 2>/dev/null; do
  kill -0 "${pids[0]}" 2>/dev/null || fail "the emulator exited"
  sleep 0.1
done
api_port=$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/emulator.log")
# The kubelet projects the token, ca.crt and namespace world-readable (defaultMode 0644).
mkdir -m 755 "$work/serviceaccount"
cp "$work/cluster/serviceaccount/"{token,ca.crt,namespace} "$work/serviceaccount/"
chmod 644 "$work/serviceaccount/"*
kubectl="kubectl --kubeconfig $work/cluster/user.kubeconfig"
cp "$repo/tests/deploy/podman_from_manifests.mjs" "$tools/"

# create_csr NAME: alice's example request (user.kubeconfig is alice, group devs) under NAME.
create_csr() {
  sed "/^  creationTimestamp:/d; /^  resourceVersion:/d; /^  uid:/d; s/^  name: alice-client$/  name: $1/" \
    "$repo/examples/csrs/alice-client.yaml" | $kubectl create -f - >/dev/null || fail "cannot create CSR $1"
}
condition() { $kubectl get csr "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"; }
approved() { [ "$(condition "$1" Approved)" = True ]; }

# run_case NAME MANIFESTS: the checks above for the Deployment in MANIFESTS (ports already free).
run_case() {
  local name=$1 manifests=$2
  mkdir -m 755 "$work/$name"
  mapfile -t run_args < <(node "$tools/podman_from_manifests.mjs" "$manifests" "$work/$name" "$work/serviceaccount" "$image") ||
    fail "$name: cannot turn the Deployment into podman arguments"
  current=kca-container-test-$$-$name
  containers+=("$current")
  # runc and these ulimits: crun and the default ulimits fail in these VMs.
  podman run -d --name "$current" --runtime runc --network host \
    --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
    --env KUBERNETES_SERVICE_HOST=127.0.0.1 --env KUBERNETES_SERVICE_PORT="$api_port" \
    "${run_args[@]}" >/dev/null || fail "$name: podman run failed"
  wait_for "$name: /readyz" http_get "http://127.0.0.1:$health_port/readyz"
  # The memory limit in force is the manifest's (read independently of the mapping: numfmt).
  local limit enforced
  limit=$(grep -A3 -E '^ +limits:$' "$manifests" | sed -n -E 's/^ +memory: *"?([0-9]+[KMGT]i)"?$/\1/p' | head -1)
  [ -n "$limit" ] || fail "$name: the Deployment sets no memory limit in Ki/Mi/Gi"
  enforced=$(podman exec "$current" sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes')
  [ "$enforced" = "$(numfmt --from=iec-i "$limit")" ] ||
    fail "$name: the container runs with memory limit $enforced, the Deployment says $limit"
  # The idle footprint as the chart runs the image (a figure for docs/benchmarks-analysis.md, not
  # a check): synced, nothing decided yet.
  local pid
  pid=$(podman container inspect -f '{{.State.Pid}}' "$current")
  echo "container_test: $name: idle $(awk '/^(VmRSS|RssFile|RssAnon|Threads):/ { printf "%s %s ", $1, $2 }' "/proc/$pid/status")(kB)"

  create_csr "$name-before-reload"
  wait_for "$name: $name-before-reload approved" approved "$name-before-reload"
  wait_for "$name: the approval counted" metric_above 'kube_csr_approver_decisions_total\{.*decision="approved".*rule="devs-own-client-cert"' 0

  # The kubelet's ConfigMap update: a new timestamped dir, then ..data renamed over atomically.
  local dir=$work/$name/policy reloads
  reloads=$(metric 'kube_csr_approver_policy_reloads_total\{.*result="success"')
  mkdir -m 755 "$dir/..2026_01_01_00_10_00.000000002"
  sed 's/action: approve/action: log/' "$dir/..data/policy.yaml" >"$dir/..2026_01_01_00_10_00.000000002/policy.yaml"
  chmod 644 "$dir/..2026_01_01_00_10_00.000000002/policy.yaml"
  ln -s ..2026_01_01_00_10_00.000000002 "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  wait_for "$name: the policy reload" metric_above 'kube_csr_approver_policy_reloads_total\{.*result="success"' "$reloads"
  create_csr "$name-after-reload"
  wait_for "$name: $name-after-reload logged by the reloaded policy" \
    metric_above 'kube_csr_approver_decisions_total\{.*decision="logged".*rule="devs-own-client-cert"' 0
  [ -z "$(condition "$name-after-reload" Approved)" ] || fail "$name: approved by the old policy after the reload"

  podman stop -t 10 "$current" >/dev/null
  local status
  status=$(podman container inspect -f '{{.State.ExitCode}}' "$current")
  [ "$status" = 0 ] || fail "$name: exit status $status after SIGTERM (podman stop)"
  echo "container_test: $name: ready within its $limit memory limit, approved, reloaded the policy through ..data, exited 0 on SIGTERM"
  current=""
}

# No policy mounted: the image carries none, so `run` (its default CMD) must refuse, naming the path.
status=0
out=$(podman run --rm --runtime runc --network host --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  --read-only --read-only-tmpfs=false "$image" 2>&1) || status=$?
[ "$status" = 2 ] || fail "without a policy the image exited $status, not 2: $out"
grep -q 'cannot read /etc/kube-csr-approver/policy.yaml: .*mount the policy' <<<"$out" ||
  fail "without a policy the image does not say which file and what to do: $out"
echo "container_test: without a mounted policy the image exits 2 naming /etc/kube-csr-approver/policy.yaml"

# The chart, rendered with the demo policy and the built image.
metrics_port=$(free_port) health_port=$(free_port)
"$tools/bin/helm" template kca "$repo/charts/kube-csr-approver" --namespace kube-system \
  -f "$repo/tests/deploy/values/monitoring.yaml" \
  --set metricsPort="$metrics_port" --set healthPort="$health_port" >"$work/chart.yaml"
run_case chart "$work/chart.yaml"

# deploy/, as `kubectl apply -k deploy/` would create it; only its fixed ports are moved to free
# ones (the host network is shared with whatever else runs here).
metrics_port=$(free_port) health_port=$(free_port)
kubectl kustomize "$repo/deploy" | sed -e "s/0\.0\.0\.0:9090\b/0.0.0.0:$metrics_port/; s/0\.0\.0\.0:8081\b/0.0.0.0:$health_port/" \
  -e "s/containerPort: 9090$/containerPort: $metrics_port/; s/containerPort: 8081$/containerPort: $health_port/" >"$work/deploy.yaml"
grep -q -- "--metrics-bind-address=0.0.0.0:$metrics_port" "$work/deploy.yaml" || fail "deploy/: metrics address not found"
run_case deploy "$work/deploy.yaml"
echo "container_test: the image ran as the chart's and deploy/'s Deployments run it"
