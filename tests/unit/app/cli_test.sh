#!/usr/bin/env bash
# The installed binary's contract as scripts see it: exit codes 0/1/2 and JSON on stdout.
set -u
bin=$1
root=$2
failures=0
expect_exit() {
  local want=$1; shift
  "$@" >/tmp/kca-cli-out.$$ 2>/tmp/kca-cli-err.$$
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: '$*' exited $got, expected $want"; cat /tmp/kca-cli-err.$$; failures=$((failures + 1))
  else
    echo "ok: '$*' exited $got"
  fi
}
policy=$root/examples/policies/cluster.yaml
expect_exit 0 "$bin" version
expect_exit 0 "$bin" validate-policy "$policy"
expect_exit 0 "$bin" check --policy "$policy" "$root/examples/csrs/seed-escalation.yaml"
expect_exit 1 "$bin" check --policy "$policy" /nonexistent.yaml
expect_exit 2 "$bin" check --policy /nonexistent-policy.yaml "$root/examples/csrs/seed-escalation.yaml"
expect_exit 2 "$bin" check --policy "$policy" --output yaml "$root/examples/csrs/seed-escalation.yaml"
expect_exit 2 "$bin" check "$root/examples/csrs/seed-escalation.yaml"
expect_exit 2 "$bin" no-such-command
expect_exit 2 "$bin"
expect_exit 0 "$bin" --version
expect_exit 0 "$bin" help
expect_exit 0 "$bin" help check
expect_exit 2 "$bin" help no-such-command
expect_exit 2 "$bin" run run --policy "$policy"
expect_exit 0 "$bin" validate-policy --output json "$policy"
expect_exit 2 "$bin" validate-policy --output json /nonexistent-policy.yaml
expect_exit 0 "$bin" check --ignore-status --policy "$policy" "$root/examples/csrs/alice-already-approved.yaml"

# Checks a command's exit code and that its stderr contains a text.
expect_message() {
  local want_exit=$1 text=$2; shift 2
  local err got
  err=$("$@" 2>&1 >/dev/null)
  got=$?
  if [ "$got" -eq "$want_exit" ] && [[ $err == *"$text"* ]]; then
    echo "ok: '$*' exited $got saying '$text'"
  else
    echo "FAIL: '$*' exited $got (expected $want_exit), stderr lacks '$text': $err"; failures=$((failures + 1))
  fi
}
expect_message 2 'unknown command "no-such-command"' "$bin" no-such-command
# The image carries no policy: an unmounted ConfigMap must say where and what to do.
expect_message 2 'policy file: cannot read /nonexistent-dir/policy.yaml: No such file or directory; mount the policy there' \
  "$bin" run --policy /nonexistent-dir/policy.yaml --log-format text

# The seed walkthrough's escalation attempt is denied, and stdout is one JSON array.
out=$("$bin" check --policy "$policy" --output json - <"$root/examples/csrs/seed-escalation.yaml")
if echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[0]["decision"]=="deny", r'; then
  echo "ok: seed escalation denied"
else
  echo "FAIL: seed escalation not denied: $out"; failures=$((failures + 1))
fi
rm -f /tmp/kca-cli-out.$$ /tmp/kca-cli-err.$$
[ "$failures" -eq 0 ]
