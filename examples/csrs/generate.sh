#!/usr/bin/env bash
# Regenerates the example CertificateSigningRequests the way a user makes them: a key with
# `openssl genpkey`, a request with `openssl req`, then the object as `kubectl get csr NAME -o yaml`
# prints it once the API server has stamped the requestor (spec.username/groups).
# Private keys are thrown away; only the requests are kept.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# make_csr NAME KEYTYPE SUBJECT SIGNER USAGES USERNAME GROUPS [EXPIRATION] [SAN] [CONDITION]
#   KEYTYPE: rsa2048 | rsa3072 | p256 ; USAGES and GROUPS: comma-separated ; SAN: openssl
#   subjectAltName syntax ; CONDITION: Approved to show an already decided request.
make_csr() {
  local name=$1 keytype=$2 subject=$3 signer=$4 usages=$5 username=$6 groups=$7
  local expiration=${8:-} san=${9:-} condition=${10:-}
  case $keytype in
    rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$name.key" 2>/dev/null ;;
    rsa3072) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$work/$name.key" 2>/dev/null ;;
    p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$name.key" ;;
  esac
  local extra=()
  [ -n "$san" ] && extra=(-addext "subjectAltName=$san")
  openssl req -new -key "$work/$name.key" -subj "$subject" "${extra[@]}" -out "$work/$name.csr"
  {
    echo "apiVersion: certificates.k8s.io/v1"
    echo "kind: CertificateSigningRequest"
    echo "metadata:"
    echo "  creationTimestamp: \"2026-11-29T02:00:00Z\""
    echo "  name: $name"
    echo "  resourceVersion: \"$((RANDOM + 1000))\""
    echo "  uid: $(cat /proc/sys/kernel/random/uuid)"
    echo "spec:"
    [ -n "$expiration" ] && echo "  expirationSeconds: $expiration"
    echo "  groups:"
    IFS=, read -ra group_list <<<"$groups"
    for g in "${group_list[@]}"; do echo "  - $g"; done
    echo "  request: $(base64 -w0 "$work/$name.csr")"
    echo "  signerName: $signer"
    echo "  usages:"
    IFS=, read -ra usage_list <<<"$usages"
    for u in "${usage_list[@]}"; do echo "  - $u"; done
    echo "  username: $username"
    if [ "$condition" = Approved ]; then
      echo "status:"
      echo "  conditions:"
      echo "  - lastTransitionTime: \"2026-11-29T02:01:00Z\""
      echo "    lastUpdateTime: \"2026-11-29T02:01:00Z\""
      echo "    message: This CSR was approved by kubectl certificate approve."
      echo "    reason: KubectlApprove"
      echo "    status: \"True\""
      echo "    type: Approved"
    else
      echo "status: {}"
    fi
  } >"$name.yaml"
}

client=kubernetes.io/kube-apiserver-client
kubelet=kubernetes.io/kube-apiserver-client-kubelet
client_usages="digital signature,key encipherment,client auth"

# The seed walkthrough's escalation attempt: a cluster-admin organization in the subject.
make_csr seed-escalation rsa2048 "/O=kubeadm:cluster-admins/CN=gasida-cert" $client "$client_usages" \
  kubernetes-admin "system:masters,system:authenticated"
make_csr alice-client rsa2048 "/CN=alice/O=devs" $client "$client_usages" \
  alice "devs,system:authenticated" 3600
# The same request as a bare PEM file, for `check --signer-name ... alice-client.pem`.
cp "$work/alice-client.csr" alice-client.pem
make_csr carol-client rsa3072 "/CN=carol/O=devs" $client "$client_usages" \
  carol "devs,system:authenticated" 28800
make_csr alice-asks-for-masters rsa2048 "/CN=alice/O=devs/O=system:masters" $client "$client_usages" \
  alice "devs,system:authenticated" 3600
make_csr bob-impersonates-alice rsa2048 "/CN=alice/O=devs" $client "$client_usages" \
  bob "devs,system:authenticated" 3600
make_csr alice-client-with-san rsa2048 "/CN=alice/O=devs" $client "$client_usages" \
  alice "devs,system:authenticated" 3600 "DNS:alice.example.com"
make_csr alice-already-approved rsa2048 "/CN=alice/O=devs" $client "$client_usages" \
  alice "devs,system:authenticated" 3600 "" Approved
make_csr ci-runner p256 "/CN=ci-runner-7/O=ci-runners" $client "digital signature,client auth" \
  system:serviceaccount:ci:runner "system:serviceaccounts,system:serviceaccounts:ci,system:authenticated" 3600
make_csr ci-runner-rsa-key rsa2048 "/CN=ci-runner-8/O=ci-runners" $client "digital signature,client auth" \
  system:serviceaccount:ci:runner "system:serviceaccounts,system:serviceaccounts:ci,system:authenticated" 3600
make_csr kubelet-client-renewal p256 "/O=system:nodes/CN=system:node:worker-1" $kubelet \
  "digital signature,client auth" system:node:worker-1 "system:nodes,system:authenticated"
make_csr kubelet-claims-other-node p256 "/O=system:nodes/CN=system:node:worker-2" $kubelet \
  "digital signature,client auth" system:node:worker-1 "system:nodes,system:authenticated"
make_csr kubelet-serving p256 "/O=system:nodes/CN=system:node:worker-1" kubernetes.io/kubelet-serving \
  "digital signature,server auth" system:node:worker-1 "system:nodes,system:authenticated" "" \
  "DNS:worker-1,IP:10.0.0.11"
# issue 12: worker-1 asking for a serving certificate naming another node's addresses.
make_csr kubelet-serving-other-node p256 "/O=system:nodes/CN=system:node:worker-1" \
  kubernetes.io/kubelet-serving "digital signature,server auth" system:node:worker-1 \
  "system:nodes,system:authenticated" "" "DNS:worker-2.nodes.example.com,IP:10.0.0.99"
echo "generated $(ls ./*.yaml | wc -l) example CSRs in $(pwd)"
