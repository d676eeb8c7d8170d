#!/usr/bin/env bash
# `cmake --install` puts the binary where the README says: PREFIX/bin/kube-csr-approver, with
# /usr/local the default prefix (README "The two commands"), and nothing else.
# Usage: install_test.sh BUILD_DIR REPO_DIR
set -euo pipefail
build=$1 repo=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
[ -x "$prefix/bin/kube-csr-approver" ] || fail "no $prefix/bin/kube-csr-approver after cmake --install"
"$prefix/bin/kube-csr-approver" --version | grep -q '^kube-csr-approver ' || fail "the installed binary does not run"
installed=$(cd "$prefix" && find . -type f | sort)
[ "$installed" = "./bin/kube-csr-approver" ] || fail "cmake --install installs more than the binary: $installed"
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr/local$' "$build/CMakeCache.txt" || fail "the default prefix is not /usr/local"
grep -q 'cmake --install build/default` puts it in `/usr/local/bin/kube-csr-approver`' "$repo/README.md" ||
  fail "README.md no longer says where cmake --install puts the binary"
echo "install_test: cmake --install puts PREFIX/bin/kube-csr-approver (default /usr/local)"
