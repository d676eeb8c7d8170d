#!/usr/bin/env bash
# Drives kube-apiserver-emulator with the real kubectl and openssl, as a user would.
# Usage: kubectl_conformance.sh /path/to/kube-apiserver-emulator
# Exits non-zero on the first failed expectation and prints what differed.
set -euo pipefail

EMULATOR=${1:?usage: $0 /path/to/kube-apiserver-emulator}
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
WORK=$(mktemp -d)
EMU_PID=""
cleanup() {
  if [[ -n "$EMU_PID" ]] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID"
    wait "$EMU_PID" || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() {  # expect_eq WHAT EXPECTED ACTUAL
  [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"
  echo "ok: $1"
}
expect_match() {  # expect_match WHAT ERE TEXT
  grep -Eq "$2" <<<"$3" || fail "$1: expected a line matching [$2], got [$3]"
  echo "ok: $1"
}
expect_contains() {  # expect_contains WHAT NEEDLE HAYSTACK
  [[ "$3" == *"$2"* ]] || fail "$1: expected output containing [$2], got [$3]"
  echo "ok: $1"
}

# Start on a free port and wait for the one "listening on" line (deadline 20 s).
mkfifo "$WORK/out"
"$EMULATOR" --listen 127.0.0.1:0 --data-dir "$WORK/data" --bookmark-interval 1 >"$WORK/out" 2>"$WORK/err" &
EMU_PID=$!
exec 3<"$WORK/out"
read -r -t 20 line <&3 || fail "emulator did not start: $(cat "$WORK/err")"
[[ "$line" == "listening on https://127.0.0.1:"* ]] || fail "unexpected first line: $line"
# Keep draining stdout so the emulator never blocks on a full pipe.
cat <&3 >/dev/null &

DATA="$WORK/data"
export HOME="$WORK/home"  # kubectl's discovery cache stays inside the test
ADMIN=(--kubeconfig "$DATA/admin.kubeconfig")
ALICE=(--kubeconfig "$DATA/user.kubeconfig")
APPROVER=(--kubeconfig "$DATA/approver.kubeconfig")
k() { "$KUBECTL" "$@"; }

make_csr() {  # make_csr NAME SUBJECT SIGNER [USAGE] [EXPIRATION]
  openssl genrsa -out "$WORK/$1.key" 2048 2>/dev/null
  openssl req -new -key "$WORK/$1.key" -subj "$2" -out "$WORK/$1.csr" 2>/dev/null
  {
    echo "apiVersion: certificates.k8s.io/v1"
    echo "kind: CertificateSigningRequest"
    echo "metadata:"
    echo "  name: $1"
    echo "spec:"
    echo "  request: $(base64 -w0 "$WORK/$1.csr")"
    echo "  signerName: $3"
    [[ -n "${5:-}" ]] && echo "  expirationSeconds: $5"
    echo "  usages:"
    echo "  - ${4:-client auth}"
  } >"$WORK/$1.yaml"
}

# --- discovery and version -------------------------------------------------------------------
out=$(k "${ADMIN[@]}" version -o json)
expect_contains "server version" '"gitVersion": "v1.33.0"' "$out"
out=$(k "${ADMIN[@]}" api-resources --api-group=certificates.k8s.io --no-headers)
expect_contains "api-resources lists csr" "certificatesigningrequests" "$out"

# --- create as alice (default strict validation) ---------------------------------------------
make_csr alice-client "/CN=alice/O=devs" kubernetes.io/kube-apiserver-client "client auth" 3600
out=$(k "${ALICE[@]}" create -f "$WORK/alice-client.yaml")
expect_eq "create as alice" "certificatesigningrequest.certificates.k8s.io/alice-client created" "$out"
out=$(k "${ALICE[@]}" create -f "$WORK/alice-client.yaml" 2>&1 || true)
expect_contains "create twice" 'Error from server (AlreadyExists): error when creating' "$out"
expect_contains "create twice message" 'certificatesigningrequests.certificates.k8s.io "alice-client" already exists' "$out"

# --- get, list, jsonpath ----------------------------------------------------------------------
expect_eq "spec.username is the caller" "alice" \
  "$(k "${ADMIN[@]}" get csr alice-client -o jsonpath='{.spec.username}')"
expect_eq "spec.groups from the certificate" '["devs","system:authenticated"]' \
  "$(k "${ADMIN[@]}" get csr alice-client -o jsonpath='{.spec.groups}')"
expect_eq "no conditions yet" "" \
  "$(k "${ADMIN[@]}" get csr alice-client -o jsonpath='{.status.conditions}')"
out=$(k "${ALICE[@]}" get csr)
expect_contains "table header" "NAME           AGE   SIGNERNAME                            REQUESTOR   REQUESTEDDURATION   CONDITION" "$out"
expect_contains "table row" "kubernetes.io/kube-apiserver-client   alice       60m                 Pending" "$out"
out=$(k "${ADMIN[@]}" get csr -o name)
expect_eq "list names" "certificatesigningrequest.certificates.k8s.io/alice-client" "$out"

# --- approval permission --------------------------------------------------------------------
out=$(k "${ALICE[@]}" certificate approve alice-client 2>&1 || true)
expect_eq "alice may not approve" 'Error from server (Forbidden): certificatesigningrequests.certificates.k8s.io "alice-client" is forbidden: User "alice" cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope' "$out"
make_csr custom "/CN=svc" example.com/custom "client auth"
k "${ADMIN[@]}" create -f "$WORK/custom.yaml" >/dev/null
out=$(k "${APPROVER[@]}" certificate approve custom 2>&1 || true)
expect_eq "approver lacks the signer" 'Error from server (Forbidden): certificatesigningrequests.certificates.k8s.io "custom" is forbidden: user not permitted to approve requests with signerName "example.com/custom"' "$out"
out=$(k "${ALICE[@]}" get csr --all-namespaces=false -o name 2>&1; k "${ALICE[@]}" delete csr custom 2>&1 || true)
expect_contains "alice may not delete" 'cannot delete resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope' "$out"

# --- approve and deny -----------------------------------------------------------------------
out=$(k "${APPROVER[@]}" certificate approve alice-client)
expect_eq "approve" "certificatesigningrequest.certificates.k8s.io/alice-client approved" "$out"
expect_eq "Approved condition" "Approved True KubectlApprove" \
  "$(k "${ADMIN[@]}" get csr alice-client -o jsonpath='{.status.conditions[0].type} {.status.conditions[0].status} {.status.conditions[0].reason}')"
[[ -n "$(k "${ADMIN[@]}" get csr alice-client -o jsonpath='{.status.conditions[0].lastTransitionTime}')" ]] \
  || fail "lastTransitionTime filled by the server"
out=$(k "${ADMIN[@]}" get csr alice-client)
expect_contains "table shows Approved" "Approved" "$out"

make_csr to-deny "/CN=mallory" kubernetes.io/kube-apiserver-client
k "${ALICE[@]}" create -f "$WORK/to-deny.yaml" >/dev/null
out=$(k "${ADMIN[@]}" certificate deny to-deny)
expect_eq "deny" "certificatesigningrequest.certificates.k8s.io/to-deny denied" "$out"
out=$(k "${ADMIN[@]}" certificate approve to-deny 2>&1 || true)
expect_eq "approving a denied CSR" 'error: certificate signing request "to-deny" is already Denied' "$out"
expect_eq "Denied condition" "Denied KubectlDeny" \
  "$(k "${ADMIN[@]}" get csr to-deny -o jsonpath='{.status.conditions[*].type} {.status.conditions[*].reason}')"

# --- server-side validation and admission ---------------------------------------------------
make_csr masters "/CN=evil/O=system:masters" kubernetes.io/kube-apiserver-client
out=$(k "${ALICE[@]}" create -f "$WORK/masters.yaml" 2>&1 || true)
expect_contains "system:masters refused" 'is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed' "$out"
make_csr short "/CN=short" kubernetes.io/kube-apiserver-client "client auth" 599
out=$(k "${ALICE[@]}" create -f "$WORK/short.yaml" 2>&1 || true)
expect_contains "expirationSeconds < 600" 'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)' "$out"
make_csr badusage "/CN=u" kubernetes.io/kube-apiserver-client "flying"
out=$(k "${ALICE[@]}" create -f "$WORK/badusage.yaml" 2>&1 || true)
expect_contains "unsupported usage" 'spec.usages[0]: Unsupported value: "flying": supported values:' "$out"
make_csr badsigner "/CN=u" notadomain "client auth"
out=$(k "${ALICE[@]}" create -f "$WORK/badsigner.yaml" 2>&1 || true)
expect_contains "bad signerName" "must be a fully qualified domain and path of the form 'example.com/signer-name'" "$out"

# --- watch: kubectl get csr -w ------------------------------------------------------------
k "${ADMIN[@]}" get csr -w --output-watch-events >"$WORK/watch.out" 2>&1 &
WATCH_PID=$!
k "${ADMIN[@]}" get csr alice-client -w -o name >"$WORK/watch-one.out" 2>&1 &
WATCH_ONE_PID=$!
# Wait (deadline 15 s) until both watches printed their initial state.
for _ in $(seq 150); do
  grep -q to-deny "$WORK/watch.out" 2>/dev/null && grep -q alice-client "$WORK/watch-one.out" 2>/dev/null && break
  sleep 0.1
done
make_csr watched "/CN=w" kubernetes.io/kube-apiserver-client
k "${ALICE[@]}" create -f "$WORK/watched.yaml" >/dev/null
k "${ADMIN[@]}" certificate approve watched >/dev/null
k "${ADMIN[@]}" delete csr watched >/dev/null
for _ in $(seq 150); do
  grep -Eq "DELETED +watched" "$WORK/watch.out" 2>/dev/null && break
  sleep 0.1
done
kill "$WATCH_PID" "$WATCH_ONE_PID" 2>/dev/null || true
wait "$WATCH_PID" "$WATCH_ONE_PID" 2>/dev/null || true
out=$(cat "$WORK/watch.out")
expect_match "watch ADDED" "^ADDED +watched .* Pending$" "$out"
expect_match "watch MODIFIED to Approved" "^MODIFIED +watched .* Approved$" "$out"
expect_match "watch DELETED" "^DELETED +watched " "$out"
out=$(cat "$WORK/watch-one.out")
[[ "$out" != *watched* ]] || fail "a watch by name saw another object: $out"
echo "ok: watch by name is filtered"

# --- more kubectl verbs ---------------------------------------------------------------------
expect_eq "auth can-i as alice" "yes" "$(k "${ALICE[@]}" auth can-i create certificatesigningrequests)"
expect_eq "auth can-i approval as alice" "no" \
  "$(k "${ALICE[@]}" auth can-i update certificatesigningrequests --subresource=approval || true)"
expect_contains "auth whoami" "alice" "$(k "${ALICE[@]}" auth whoami)"
out=$(k "${ADMIN[@]}" get csr alice-client --as alice --as-group devs -o name)
expect_eq "impersonation by the admin" "certificatesigningrequest.certificates.k8s.io/alice-client" "$out"
out=$(k "${ALICE[@]}" get csr --as bob 2>&1 || true)
expect_contains "impersonation needs rights" 'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope' "$out"
expect_eq "label" "certificatesigningrequest.certificates.k8s.io/alice-client labeled" \
  "$(k "${ADMIN[@]}" label csr alice-client team=devs)"
expect_eq "label selector" "certificatesigningrequest.certificates.k8s.io/alice-client" \
  "$(k "${ADMIN[@]}" get csr -l team=devs -o name)"
out=$(k "${ADMIN[@]}" patch csr alice-client --subresource=approval --type=merge -p '{"status":{"conditions":[]}}' 2>&1 || true)
expect_eq "approval may not remove Approved" 'The CertificateSigningRequest "alice-client" is invalid: status.conditions: Forbidden: updates may not remove a condition of type "Approved"' "$out"
make_csr waited "/CN=waited" kubernetes.io/kube-apiserver-client
k "${ALICE[@]}" create -f "$WORK/waited.yaml" >/dev/null
k "${ADMIN[@]}" wait --for=condition=Approved csr/waited --timeout=20s >"$WORK/wait.out" 2>&1 &
WAIT_PID=$!
echo '{"conflictNextApprovals":1}' >"$WORK/fault.json"
k "${ADMIN[@]}" create --raw /emulator/v1/faults -f "$WORK/fault.json" >/dev/null
out=$(k "${APPROVER[@]}" certificate approve waited)
expect_eq "approve retries after a 409" "certificatesigningrequest.certificates.k8s.io/waited approved" "$out"
wait "$WAIT_PID" || fail "kubectl wait: $(cat "$WORK/wait.out")"
expect_eq "kubectl wait for Approved" "certificatesigningrequest.certificates.k8s.io/waited condition met" "$(cat "$WORK/wait.out")"
UID_WAITED=$(k "${ADMIN[@]}" get csr waited -o jsonpath='{.metadata.uid}')
cat >"$WORK/event.json" <<JSON
{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"waited.1"},
 "regarding":{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","name":"waited","uid":"$UID_WAITED"},
 "reason":"Approved","note":"matched rule clients","type":"Normal","action":"Approve",
 "reportingController":"kube-csr-approver","reportingInstance":"test","eventTime":"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"}
JSON
k "${APPROVER[@]}" create -n default -f "$WORK/event.json" >/dev/null
out=$(k "${ADMIN[@]}" describe csr waited)
expect_match "describe shows the approver's event" "Normal +Approved .* kube-csr-approver +matched rule clients" "$out"
k "${ADMIN[@]}" delete csr waited >/dev/null

# --- list chunking --------------------------------------------------------------------------
out=$(k "${ADMIN[@]}" get csr --chunk-size=1 -o name | wc -l)
expect_eq "chunked list returns every CSR" "3" "$out"

# --- delete ---------------------------------------------------------------------------------
out=$(k "${ADMIN[@]}" delete csr to-deny)
expect_eq "delete" 'certificatesigningrequest.certificates.k8s.io "to-deny" deleted' "$out"
out=$(k "${ADMIN[@]}" get csr to-deny 2>&1 || true)
expect_eq "get after delete" 'Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "to-deny" not found' "$out"

# --- unauthenticated --------------------------------------------------------------------------
SERVER=$(sed -n 's/^    server: //p' "$DATA/admin.kubeconfig")
out=$(k --kubeconfig /dev/null --server "$SERVER" --certificate-authority "$DATA/ca.crt" --token not-a-token get csr 2>&1 || true)
expect_contains "unknown token" "error: You must be logged in to the server (Unauthorized)" "$out"

# --- clean shutdown on SIGTERM ------------------------------------------------------------
kill -TERM "$EMU_PID"
status=0
wait "$EMU_PID" || status=$?
EMU_PID=""
expect_eq "exit status after SIGTERM" "0" "$status"
echo "PASS: kubectl conformance"
