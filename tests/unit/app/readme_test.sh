#!/usr/bin/env bash
# The README's commands, run as written: every code block marked
# `<!-- run as written by tests/unit/app/readme_test.sh -->` runs (in file order, one bash per
# block, errexit and pipefail) in a scratch directory with kube-csr-approver on PATH, examples/
# linked in, my-policy.yaml and policy.yaml taken from the README's Helm values (policy.inline),
# and kubectl talking to the API emulator as alice (group devs). Then the outputs must show what
# the README promises: the walk-through's request and the bare PEM example approved. Last, the
# Troubleshooting table's "a legitimate request denied" recipe runs as written (NAME the
# walk-through's request, once an admin has denied it): it must evaluate the decided CSR, where
# the same pipe without --ignore-status prints only SKIP, as the table says.
# Usage: readme_test.sh APPROVER_BINARY EMULATOR_BINARY REPO_DIR
set -euo pipefail
approver=$1 emulator=$2 repo=$(cd "$3" && pwd)
readme=$repo/README.md
work=$(mktemp -d)
emulator_pid=
cleanup() { [ -z "$emulator_pid" ] || kill "$emulator_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$work/bin" "$work/run"
ln -s "$(cd "$(dirname "$approver")" && pwd)/$(basename "$approver")" "$work/bin/kube-csr-approver"
ln -s "$repo/examples" "$work/run/examples"

# The marked blocks, each into block-N.sh, dedented by its fence's indentation.
awk -v out="$work/block" '
  /<!-- run as written by tests\/unit\/app\/readme_test.sh -->/ { marked = 1; next }
  marked && !inside && /^ *```/ { inside = 1; marked = 0; match($0, /^ */); indent = RLENGTH; n++; next }
  inside && /^ *```/ { inside = 0; next }
  inside { print substr($0, indent + 1) > (out "-" n ".sh") }
' "$readme"
blocks=$(ls "$work"/block-*.sh 2>/dev/null | wc -l)
[ "$blocks" -ge 3 ] || fail "expected at least 3 marked blocks in README.md, found $blocks"

# my-policy.yaml: the `inline:` mapping of the README's values block, dedented.
awk '
  /<!-- policy.inline is my-policy.yaml/ { marked = 1; next }
  marked && /^```/ { if (inside) exit; inside = 1; next }
  inside && /^  inline:/ { grab = 1; next }
  grab && /^    / { sub(/^    /, ""); sub(/ +#.*$/, ""); print; next }
  grab { exit }
' "$readme" >"$work/run/my-policy.yaml"
grep -q '^kind: ApprovalPolicy$' "$work/run/my-policy.yaml" || fail "no policy.inline in the README's values block"
cp "$work/run/my-policy.yaml" "$work/run/policy.yaml"

"$emulator" --listen 127.0.0.1:0 --data-dir "$work/cluster" >"$work/emulator.log" 2>&1 &
emulator_pid=$!
deadline=$((SECONDS + 20))
until grep -q '^listening on https://' "$work/emulator.log"; do
  ((SECONDS < deadline)) || fail "the emulator did not start: $(cat "$work/emulator.log")"
  sleep 0.1
done

# In README order: the walk-through's request must exist before the offline block reads it.
order=()
for f in "$work"/block-*.sh; do
  if grep -q '^openssl genpkey' "$f"; then order=("$f" "${order[@]}"); else order+=("$f"); fi
done
for f in "${order[@]}"; do
  echo "== $(basename "$f")"; cat "$f"
  status=0
  (cd "$work/run" && PATH="$work/bin:$PATH" KUBECONFIG="$work/cluster/user.kubeconfig" \
    bash -euo pipefail "$f") >"$f.out" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$f.out"; fail "$(basename "$f") exited $status"; }
  cat "$f.out"
done
all=$(cat "$work"/block-*.sh.out)
grep -q '^alice.csr: APPROVE (rule "devs-own-client-cert")' <<<"$all" || fail "the bare PEM example does not approve"
grep -q '^alice-client: APPROVE (rule "devs-own-client-cert")' <<<"$all" || fail "the walk-through's request does not approve"
grep -q '"valid": true' <<<"$all" || fail "validate-policy --output json does not report a valid policy"

recipe=$(sed -n '/^## Troubleshooting/,/^## /p' "$readme" | grep '^| a legitimate request denied' |
  grep -o '`kubectl get csr NAME[^`]*`' | tr -d '`' | sed 's/\\|/|/g')
[ -n "$recipe" ] || fail "no kubectl ... check --ignore-status recipe in the README's Troubleshooting table"
grep -q -- '--ignore-status' <<<"$recipe" || fail "the Troubleshooting recipe lacks --ignore-status: $recipe"
KUBECONFIG="$work/cluster/admin.kubeconfig" kubectl certificate deny alice-client >/dev/null ||
  fail "the admin cannot deny alice-client"
echo "== Troubleshooting recipe: $recipe"
out=$(cd "$work/run" && PATH="$work/bin:$PATH" KUBECONFIG="$work/cluster/user.kubeconfig" \
  bash -euo pipefail -c "${recipe//NAME/alice-client}" 2>&1) || fail "the Troubleshooting recipe failed: $out"
echo "$out"
grep -q '^alice-client: APPROVE (rule "devs-own-client-cert")' <<<"$out" ||
  fail "the Troubleshooting recipe does not evaluate the denied CSR"
skip=$(cd "$work/run" && PATH="$work/bin:$PATH" KUBECONFIG="$work/cluster/user.kubeconfig" \
  bash -euo pipefail -c "$(sed 's/ --ignore-status//' <<<"${recipe//NAME/alice-client}")" 2>&1) || true
grep -q '^alice-client: SKIP' <<<"$skip" || fail "without --ignore-status a denied CSR is not SKIP as the README says: $skip"
echo "readme_test: ${#order[@]} README blocks and the Troubleshooting recipe ran as written"
