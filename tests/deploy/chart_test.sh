#!/usr/bin/env bash
# The README's values table is current; helm lint --strict and helm template of the chart with
# every case of cases.json, as a subchart of a parent, and
# `kubectl kustomize deploy/`; each rendering is checked by check_rendered.mjs and its policy by
# `kube-csr-approver validate-policy`.
# Usage: chart_test.sh REPO_DIR TOOLS_DIR APPROVER_BINARY
set -euo pipefail
repo=$1 tools=$2 approver=$3
here=$repo/tests/deploy
bash "$here/setup.sh" "$tools"
helm=$tools/bin/helm
chart=$repo/charts/kube-csr-approver
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$here/check_rendered.mjs" "$tools/"   # resolves node_modules from the tools dir
export KCA_REPO_DIR=$repo
cp "$here/values_table.mjs" "$tools/"
node "$tools/values_table.mjs" "$chart" --check   # every value documented once, README up to date

n=$(node -e 'console.log(require(process.argv[1]).length)' "$here/cases.json")
for i in $(seq 0 $((n - 1))); do
  case_json=$(node -e 'console.log(JSON.stringify(require(process.argv[1])[process.argv[2]]))' "$here/cases.json" "$i")
  name=$(node -e 'console.log(JSON.parse(process.argv[1]).name)' "$case_json")
  values=$(node -e 'console.log(JSON.parse(process.argv[1]).values ?? "")' "$case_json")
  set -- ; [ -n "$values" ] && set -- -f "$here/$values"
  echo "== $name"
  "$helm" lint --strict "$chart" "$@" --namespace csr-system
  "$helm" template kca "$chart" "$@" --namespace csr-system > "$out/$name.yaml"
  node "$tools/check_rendered.mjs" "$out/$name.yaml" "$case_json" "$out/$name.policy.yaml"
  if [ -f "$out/$name.policy.yaml" ]; then
    "$approver" validate-policy "$out/$name.policy.yaml"
  fi
  # policy.inlineText reaches the ConfigMap byte for byte (comments, order, quoting).
  text_from=$(node -e 'console.log(JSON.parse(process.argv[1]).policyText ?? "")' "$case_json")
  if [ -n "$text_from" ]; then
    node --input-type=module -e "import fs from 'node:fs'; import { parse } from '$tools/node_modules/yaml/dist/index.js';
      process.stdout.write(parse(fs.readFileSync(process.argv[1], 'utf8')).policy.inlineText)" "$here/$text_from" >"$out/$name.want.yaml"
    cmp "$out/$name.want.yaml" "$out/$name.policy.yaml" || { echo "FAIL: policy.inlineText changed on its way to the ConfigMap" >&2; exit 1; }
  fi
done

# As a subchart of a parent that sets globals and its own values under the chart's name.
echo "== subchart of a parent chart"
parent=$out/parent
mkdir -p "$parent/charts" "$parent/templates"
cp -r "$chart" "$parent/charts/"
cat >"$parent/Chart.yaml" <<'CHART'
apiVersion: v2
name: platform
version: 1.0.0
dependencies:
  - name: kube-csr-approver
    version: ">=0.0.0-0"
CHART
cat >"$parent/values.yaml" <<'VALUES'
global:
  imageRegistry: registry.example.com
  imagePullSecrets: [{name: parent-pull}]
kube-csr-approver:
  prometheusRule: {enabled: true}
  serviceMonitor: {enabled: true}
  dashboard: {enabled: true}
VALUES
"$helm" lint --strict "$parent" --namespace csr-system
"$helm" template kca "$parent" --namespace csr-system > "$out/subchart.yaml"
node "$tools/check_rendered.mjs" "$out/subchart.yaml" \
  '{"name":"subchart","signers":[],"replicas":2,"pdb":true,"monitoring":true,"policyInline":true,"expect":{"Deployment:metadata.name":"kca-kube-csr-approver"}}' \
  "$out/subchart.policy.yaml"

# deploy/ (plain manifests) must meet the same bar as the chart.
echo "== deploy/ (kubectl kustomize)"
kubectl kustomize "$repo/deploy" > "$out/deploy.yaml"
node "$tools/check_rendered.mjs" "$out/deploy.yaml" \
  '{"name":"deploy","signers":["kubernetes.io/kube-apiserver-client","kubernetes.io/kube-apiserver-client-kubelet"],"replicas":2,"pdb":true,"monitoring":false,"policyInline":true,"helmTestPod":false,"validateHook":false}' \
  "$out/deploy.policy.yaml"
"$approver" validate-policy "$out/deploy.policy.yaml"

# Misconfigurations must fail to render, with a message naming the value to fix.
expect_failure() {
  local want=$1; shift
  if msg=$("$helm" template kca "$chart" "$@" 2>&1); then
    echo "FAIL: rendering with $* succeeded" >&2; exit 1
  fi
  grep -q -- "$want" <<<"$msg" || { echo "FAIL: '$want' not in: $msg" >&2; exit 1; }
}
expect_failure 'leaderElection.enabled' --set leaderElection.enabled=false
expect_failure 'rbac.signers' --set policy.existingConfigMap=x
expect_failure 'does not match pattern' --set 'rbac.signers[0]=example.com/*'
expect_failure 'rbac.signers' -f /dev/stdin <<'VALUES'
policy:
  inline:
    apiVersion: csr.approver.io/v1
    kind: ApprovalPolicy
    rules:
      - name: any-signer
        action: approve
VALUES
expect_failure 'policy.inlineText is not YAML' --set-string 'policy.inlineText=rules: [unclosed'
expect_failure 'policy.inlineText.rules\[0\]' -f /dev/stdin <<'VALUES'
policy:
  inlineText: |
    apiVersion: csr.approver.io/v1
    kind: ApprovalPolicy
    rules:
      - {name: any-signer, action: approve}
VALUES
expect_failure 'digest' --set image.digest=latest
expect_failure 'additional properties' --set prometheusRule.alerts.NoSuchAlert.enabled=false
if "$helm" template kca "$chart" --set policy.validateHook=false | grep -q 'helm.sh/hook: pre-install'; then
  echo "FAIL: policy.validateHook=false still renders the validate-policy hook" >&2; exit 1
fi
# A policy change rolls the pods only when hot reload is off.
a=$("$helm" template kca "$chart" --set policy.hotReload=false --set policy.inline.defaultAction=deny | grep checksum/policy)
b=$("$helm" template kca "$chart" --set policy.hotReload=false --set policy.inline.defaultAction=log | grep checksum/policy)
[ "$a" != "$b" ] || { echo "FAIL: checksum does not follow the policy" >&2; exit 1; }
if "$helm" template kca "$chart" | grep -q checksum/policy; then
  echo "FAIL: checksum annotation with hot reload on" >&2; exit 1
fi
# NOTES.txt tells the admin how to check the install and which signers it may approve for.
notes=$("$helm" install kca "$chart" --namespace csr-system --dry-run=client -f "$here/values/monitoring.yaml")
for want in 'rollout status deployment/kca-kube-csr-approver' 'helm test kca -n csr-system' \
            '  - kubernetes.io/kube-apiserver-client-kubelet' 'kube-csr-approver validate-policy'; do
  grep -qF -- "$want" <<<"$notes" || { echo "FAIL: NOTES lack '$want'" >&2; exit 1; }
done
echo "chart_test: all cases passed"
