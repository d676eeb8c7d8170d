#!/usr/bin/env bash
# What can be checked of the image without a Docker engine:
#  - the runtime stage installs exactly the Debian packages holding the shared libraries `ldd`
#    reports for the built binary (a missing one breaks the image, an extra one bloats it);
#  - the Dockerfile's user, binary path, entrypoint and ports agree with deploy/ and the chart.
# Usage: check_dockerfile.sh REPO_DIR APPROVER_BINARY
set -euo pipefail
repo=$1 binary=$2
dockerfile=$repo/Dockerfile
fail() { echo "FAIL: $*" >&2; exit 1; }

needed=$(ldd "$binary" | awk '/=>/ { print $3 }' | while read -r lib; do
  real=$(readlink -f "$lib")
  # usrmerge: the package may own the /usr/lib or the /lib spelling of the path.
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "$lib" 2>/dev/null ||
    fail "no Debian package owns $lib ($real)"
done | cut -d: -f1 | sort -u)
listed=$(sed -n '/KCA_RUNTIME_PACKAGES_BEGIN/,/KCA_RUNTIME_PACKAGES_END/p' "$dockerfile" |
  grep -E '^ +[a-z0-9][a-z0-9.+-]+ \\$' | awk '{ print $1 }' | sort -u)
[ -n "$listed" ] || fail "no runtime package list between the KCA_RUNTIME_PACKAGES markers"
missing=$(comm -23 <(echo "$needed") <(echo "$listed"))
extra=$(comm -13 <(echo "$needed") <(echo "$listed"))
[ -z "$missing" ] || fail "runtime stage lacks packages the binary links: $missing"
[ -z "$extra" ] || fail "runtime stage installs packages the binary does not link: $extra"
echo "runtime packages match ldd: $(echo $needed)"

grep -q '^FROM debian:bookworm AS build' "$dockerfile" || fail "build stage must be debian:bookworm"
grep -q '^FROM debian:bookworm-slim AS runtime' "$dockerfile" || fail "runtime stage must be bookworm-slim"
grep -q 'scripts/install-deps.sh' "$dockerfile" || fail "build stage must use scripts/install-deps.sh"
user=$(awk '/^USER /{ print $2 }' "$dockerfile" | tail -1)
[[ $user =~ ^([1-9][0-9]*):([1-9][0-9]*)$ ]] || fail "USER must be numeric UID:GID, not root (got '$user')"
uid=${BASH_REMATCH[1]} gid=${BASH_REMATCH[2]}
# The chart and deploy/ pass `args: [run, ...]`: an ENTRYPOINT that said `run` too made every pod
# run `run run` and exit 2 (issue 10). The entrypoint is the binary; `run` is only the default CMD.
grep -q '^ENTRYPOINT \["/usr/local/bin/kube-csr-approver"\]$' "$dockerfile" ||
  fail "ENTRYPOINT must be exec-form [\"/usr/local/bin/kube-csr-approver\"] (no shell, no subcommand)"
grep -q '^CMD \["run"\]$' "$dockerfile" || fail "CMD must be [\"run\"]"
for f in "$repo/deploy/deployment.yaml" "$repo/charts/kube-csr-approver/templates/deployment.yaml"; do
  grep -A1 -E '^ +args:$' "$f" | grep -q -E '^ +- run$' || fail "$f: args must start with run"
  ! grep -q -E '^ +command:' "$f" || fail "$f: command would replace the image's entrypoint"
done
# No policy in the image: one that approves anything must never run unmounted.
! grep -q -E '^(COPY|ADD) .*polic' "$dockerfile" || fail "the image must not carry a policy"
for label in source version revision licenses; do
  grep -q "org.opencontainers.image.$label=" "$dockerfile" || fail "OCI label org.opencontainers.image.$label missing"
done
for pattern in .git build; do
  grep -qx "$pattern" "$repo/.dockerignore" || fail ".dockerignore must exclude $pattern"
done
# Behind a TLS-intercepting proxy apt needs the machine's CA bundle: every RUN that installs
# packages (apt-get, or install-deps) mounts it as the ca-bundle build secret, readable by apt's
# sandbox user; no COPY or ADD brings a certificate into a layer.
instructions=$(awk '{ line = line $0 } /\\$/ { sub(/\\$/, "", line); next } { print line; line = "" }' "$dockerfile")
apt_runs=$(grep -E '^RUN .*(apt-get|install-deps\.sh)' <<<"$instructions" || true)
[ -n "$apt_runs" ] || fail "no RUN installs packages"
while IFS= read -r run; do
  grep -q -- '--mount=type=secret,id=ca-bundle,required=false,mode=0444' <<<"$run" ||
    fail "a package-installing RUN lacks the ca-bundle secret mount: ${run:0:120}"
  grep -q '/run/secrets/ca-bundle' <<<"$run" || fail "a package-installing RUN does not hand apt the CA bundle: ${run:0:120}"
done <<<"$apt_runs"
! grep -q -i -E '^(COPY|ADD) .*(\.crt|\.pem|ca-cert|ca-bundle)' <<<"$instructions" || fail "a COPY/ADD brings a certificate into the image"
grep -q '^COPY --from=build /kube-csr-approver /usr/local/bin/kube-csr-approver$' "$dockerfile" ||
  fail "the binary must be copied to /usr/local/bin/kube-csr-approver"

for f in "$repo/deploy/deployment.yaml" "$repo/charts/kube-csr-approver/values.yaml"; do
  grep -q "runAsUser: $uid\$" "$f" || fail "$f: runAsUser must be the image's UID $uid"
  grep -q "runAsGroup: $gid\$" "$f" || fail "$f: runAsGroup must be the image's GID $gid"
done
expose=$(awk '/^EXPOSE /{ $1=""; print }' "$dockerfile")
for port in 8081 9090; do
  [[ " $expose " == *" $port "* ]] || fail "EXPOSE lacks $port"
  grep -q "containerPort: $port" "$repo/deploy/deployment.yaml" || fail "deploy/deployment.yaml lacks containerPort $port"
done
grep -q 'healthPort: 8081' "$repo/charts/kube-csr-approver/values.yaml" || fail "chart healthPort is not 8081"
grep -q 'metricsPort: 9090' "$repo/charts/kube-csr-approver/values.yaml" || fail "chart metricsPort is not 9090"
# The image's default policy path is where deploy/ and the chart mount the policy ConfigMap.
grep -q '^ENV KUBE_CSR_APPROVER_POLICY=/etc/kube-csr-approver/policy.yaml$' "$dockerfile" || fail "ENV policy path"
grep -q 'mountPath: /etc/kube-csr-approver$' "$repo/deploy/deployment.yaml" || fail "deploy/ policy mountPath"
grep -q -- '--policy=/etc/kube-csr-approver/policy.yaml' "$repo/deploy/deployment.yaml" || fail "deploy/ --policy path"
grep -q 'mountPath: /etc/kube-csr-approver$' "$repo/charts/kube-csr-approver/templates/deployment.yaml" || fail "chart policy mountPath"
# deploy/'s ConfigMap carries the example policy verbatim, and it loads.
diff <(sed -n '/^  policy.yaml: /,$ s/^    //p' "$repo/deploy/policy-configmap.yaml") "$repo/examples/policies/cluster.yaml" >/dev/null ||
  fail "deploy/policy-configmap.yaml differs from examples/policies/cluster.yaml"
"$binary" validate-policy "$repo/examples/policies/cluster.yaml" >/dev/null || fail "example policy does not load"
echo "check_dockerfile: Dockerfile, deploy/ and chart agree (UID $uid, ports 8081/9090, /etc/kube-csr-approver)"
