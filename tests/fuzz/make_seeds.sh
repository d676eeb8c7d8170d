#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets over server data and configuration from the
# project's own tools: CSRs from `openssl req`, and from the API emulator (tests/emulator) the
# objects, lists, watch streams, Status answers, Leases, Nodes, SubjectAccessReviews and
# kubeconfigs it serves and writes; Nodes come from examples/nodes. Run it after changing what
# the emulator serves, and check the result in (small: a few KiB per file).
#
#   tests/fuzz/make_seeds.sh    # needs a built emulator (cmake --build --preset default
#                               # --target kube-apiserver-emulator), curl, openssl, python3-yaml
#
# The CSR corpora (request, der, document, check) and policy/glob corpora are hand-picked inputs
# and stay as they are; this script writes only seed-* files in the directories below (in
# request and der: RSASSA-PSS requests, which the hand-picked ones lack).
set -euo pipefail
cd "$(dirname "$0")/../.."

emulator=${EMULATOR:-build/default/tests/emulator/kube-apiserver-emulator}
[ -x "$emulator" ] || { echo "make_seeds.sh: build $emulator first" >&2; exit 1; }
out=tests/fuzz/corpus
work=$(mktemp -d)
data="$work/data"
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -n "${KEEP_SEED_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# A short history, so an old resourceVersion is answered 410 Expired.
"$emulator" --listen 127.0.0.1:0 --data-dir "$data" --bookmark-interval 1 --history 8 \
  >"$work/emulator.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ -s "$data/approver.kubeconfig" ] && break
  kill -0 "$pid" || { cat "$work/emulator.log" >&2; exit 1; }
  sleep 0.05
done
[ -s "$data/approver.kubeconfig" ] || { echo "make_seeds.sh: the emulator did not start" >&2; exit 1; }

field() { awk -v key="$1:" '$1 == key { print $2; exit }' "$data/admin.kubeconfig"; }
server=$(field server)
field certificate-authority-data | base64 -d >"$work/ca.pem"
field client-certificate-data | base64 -d >"$work/cert.pem"
field client-key-data | base64 -d >"$work/key.pem"
# api METHOD PATH [BODY]: the body of the answer; its HTTP status in $work/code.
api() {
  local args=(-sS --cacert "$work/ca.pem" --cert "$work/cert.pem" --key "$work/key.pem"
              -X "$1" -o "$work/body" -w '%{http_code}')
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" "$server$2" >"$work/code"
  cat "$work/body"
}
compact() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")))'; }
yaml_to_json() { python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'; }
# status_seed NAME: the last answer as an api_status input (status byte, no Retry-After, body).
status_seed() {
  local code
  code=$(cat "$work/code")
  { printf "\\x$(printf %02x $((code - 400)))\n"; cat "$work/body"; } >"$out/api_status/seed-$1"
}

csrs=/apis/certificates.k8s.io/v1/certificatesigningrequests
# csr NAME SUBJECT SANS KEY-OPTION...: a CertificateSigningRequest object around an `openssl req`.
csr() {
  local name=$1 subject=$2 sans=$3
  shift 3
  openssl req -new "$@" -nodes -keyout /dev/null -subj "$subject" \
    ${sans:+-addext "subjectAltName=$sans"} 2>/dev/null | base64 -w0 >"$work/request"
  printf '{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"%s","labels":{"team":"a"}},"spec":{"request":"%s","signerName":"kubernetes.io/kube-apiserver-client","usages":["digital signature","client auth"],"expirationSeconds":3600}}' \
    "$name" "$(cat "$work/request")"
}
p256=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)

mkdir -p "$out"/{watch_event,api_status,kubeconfig,exec_credential,lease,node_objects}
rm -f "$out"/{watch_event,api_status,kubeconfig,exec_credential,lease,node_objects,request,der}/seed-*

# RSASSA-PSS requests as `openssl req` signs them: the three the API server accepts (salt = hash
# length, MGF1 over the same hash) and a SHA-1 one with the RFC 4055 defaults, which is refused.
for hash in sha256 sha384 sha512; do
  openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj "/CN=pss-$hash/O=devs" \
    -addext "subjectAltName=DNS:pss.example.com" "-$hash" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:digest 2>/dev/null >"$out/request/seed-rsa-pss-$hash.pem"
  openssl req -in "$out/request/seed-rsa-pss-$hash.pem" -outform DER \
    -out "$out/der/seed-rsa-pss-$hash.der"
done
openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=pss-sha1 -sha1 \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:20 -outform DER 2>/dev/null \
  >"$out/der/seed-rsa-pss-sha1.der"

# CSRs, a list, and a watch from the list's resourceVersion that sees an approval, a denial
# and a deletion (with bookmarks in between).
api POST "$csrs" "$(csr alice /CN=alice/O=devs \
  'DNS:alice.example.com,IP:10.0.0.1,URI:spiffe://cluster.local/ns/a/sa/alice,email:alice@example.com' \
  "${p256[@]}")" >/dev/null
api POST "$csrs" "$(csr bob /CN=bob/O=devs/OU=ops '' -newkey rsa:2048)" >/dev/null
api POST "$csrs" "$(csr carol /CN=carol DNS:carol.example.com -newkey ed25519)" >/dev/null
list=$(api GET "$csrs" | compact)
rv=$(printf '%s' "$list" | python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
curl -sS --cacert "$work/ca.pem" --cert "$work/cert.pem" --key "$work/key.pem" --max-time 4 \
  "$server$csrs?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=$rv" \
  >"$work/watch" 2>/dev/null &
watcher=$!
approve() {
  api GET "$csrs/$1" | python3 -c '
import json, sys
csr = json.load(sys.stdin)
csr.setdefault("status", {})["conditions"] = [{"type": sys.argv[1], "status": "True",
    "reason": "Seed", "message": "written by make_seeds.sh"}]
print(json.dumps(csr))' "$2" >"$work/decision"
  api PUT "$csrs/$1/approval" "$(cat "$work/decision")" >/dev/null
  echo "approval of $1: HTTP $(cat "$work/code")" >&2
}
approve alice Approved
approve bob Denied
api DELETE "$csrs/carol" >/dev/null
echo "deletion of carol: HTTP $(cat "$work/code")" >&2
wait "$watcher" || true
{ printf '%s\n' "$list"; cat "$work/watch"; } >"$out/watch_event/seed-list-then-watch"
# An expired resourceVersion: the watch answers with an ERROR event (410 Expired).
for i in $(seq 10); do api POST "$csrs" "$(csr "filler-$i" "/CN=f$i" '' "${p256[@]}")" >/dev/null; done
curl -sS --cacert "$work/ca.pem" --cert "$work/cert.pem" --key "$work/key.pem" --max-time 3 \
  "$server$csrs?watch=1&timeoutSeconds=1&resourceVersion=$rv" >"$work/expired" 2>/dev/null || true
{ printf '%s\n' "$list"; cat "$work/expired"; } >"$out/watch_event/seed-expired"

# Status answers: not found, already exists, a stale resourceVersion, an expired watch.
api GET "$csrs/nobody" >/dev/null; status_seed not-found
api POST "$csrs" "$(csr bob /CN=bob '' "${p256[@]}")" >/dev/null; status_seed already-exists
api GET "$csrs/bob" | python3 -c '
import json, sys
csr = json.load(sys.stdin); csr["metadata"]["resourceVersion"] = "1"; print(json.dumps(csr))' \
  >"$work/stale"
api PUT "$csrs/bob/approval" "$(cat "$work/stale")" >/dev/null; status_seed conflict
api GET "$csrs?watch=1&resourceVersion=1" >/dev/null
[ "$(cat "$work/code")" -lt 400 ] || status_seed expired-watch

# Leases: one created by another replica, as the elector reads it back, then renewed by it.
leases=/apis/coordination.k8s.io/v1/namespaces/kube-system/leases
api POST "$leases" '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"kube-csr-approver","namespace":"kube-system"},"spec":{"holderIdentity":"replica-b","leaseDurationSeconds":15,"acquireTime":"2027-01-01T00:00:00.000000Z","renewTime":"2027-01-01T00:00:00.000000Z","leaseTransitions":3}}' \
  | compact >"$out/lease/seed-held-by-other"
api GET "$leases/kube-csr-approver" | python3 -c '
import json, sys
lease = json.load(sys.stdin); lease["spec"]["holderIdentity"] = "replica-a"; print(json.dumps(lease))' \
  >"$work/renewed"
api PUT "$leases/kube-csr-approver" "$(cat "$work/renewed")" | compact >"$out/lease/seed-held-by-me"

# Nodes, a SubjectAccessReview answer and ServiceCIDRs, as the server returns them.
# (resourceVersion is the server's to set.)
yaml_to_json <examples/nodes/worker-1.yaml | python3 -c '
import json, sys
node = json.load(sys.stdin); del node["metadata"]["resourceVersion"]; print(json.dumps(node))' \
  >"$work/node"
api POST /api/v1/nodes "$(cat "$work/node")" | compact >"$out/node_objects/seed-node"
api GET /api/v1/nodes | compact >"$out/node_objects/seed-node-list"
python3 -c '
import json, sys, yaml
for review in yaml.safe_load_all(sys.stdin):
    if review:
        review.pop("status", None); print(json.dumps(review)); break' <examples/nodes/reviews.yaml \
  >"$work/review"
api POST /apis/authorization.k8s.io/v1/subjectaccessreviews "$(cat "$work/review")" | compact \
  >"$out/node_objects/seed-review"
# The emulator serves no ServiceCIDRs: this list is written by hand, in the shape of upstream
# staging/src/k8s.io/api/networking/v1/types.go (ServiceCIDRList, ServiceCIDRSpec.CIDRs).
echo '{"kind":"ServiceCIDRList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"kubernetes","resourceVersion":"3"},"spec":{"cidrs":["10.96.0.0/12","fd00:10:96::/112"]}}]}' \
  >"$out/node_objects/seed-servicecidr-list"

# The emulator's kubeconfigs. The fuzz target's fake file reader serves paths containing "ok":
# the token file becomes one (relative, to cover resolving), and one more points its CA at a file.
sed "s|tokenFile: .*|tokenFile: serviceaccount/token-ok|" "$data/approver.kubeconfig" \
  >"$out/kubeconfig/seed-token-file"
cp "$data/admin.kubeconfig" "$out/kubeconfig/seed-client-certificate"
sed -e "s|certificate-authority-data: .*|certificate-authority: /etc/ok/ca.crt|" \
  -e "s|tokenFile: .*|exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./bin/ok-plugin\n      args: [--cluster, emulator]\n      env: [{name: REGION, value: local}]\n      interactiveMode: Never|" \
  "$data/approver.kubeconfig" >"$out/kubeconfig/seed-exec"

# ExecCredentials a plugin would print for the emulator's users (first byte: 1 = v1).
python3 - "$data/serviceaccount/token" "$work/cert.pem" "$work/key.pem" "$out/exec_credential" <<'EOF'
import json, sys
token = open(sys.argv[1]).read().strip()
cert, key, out = open(sys.argv[2]).read(), open(sys.argv[3]).read(), sys.argv[4]
def write(name, api_version, status):
    body = {"apiVersion": "client.authentication.k8s.io/" + api_version, "kind": "ExecCredential",
            "status": status}
    with open(out + "/seed-" + name, "wb") as f:
        f.write((b"\x01" if api_version == "v1" else b"\x00") + json.dumps(body).encode())
write("token", "v1", {"token": token, "expirationTimestamp": "2027-01-01T00:00:00Z"})
write("client-certificate", "v1beta1", {"clientCertificateData": cert, "clientKeyData": key,
                                       "expirationTimestamp": "2027-01-01T01:02:03.456+02:00"})
EOF
ls -l "$out"/{watch_event,api_status,kubeconfig,exec_credential,lease,node_objects,request,der}
