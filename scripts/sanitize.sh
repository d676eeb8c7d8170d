#!/usr/bin/env bash
# Builds and runs the test suites under a sanitizer preset and fails on any report. Both presets:
# clang 14, -O1 -gline-tables-only, unity batches of 8, Ninja, no benchmarks; only the test
# programs and the two binaries they run are built.
#   asan: AddressSanitizer + UndefinedBehaviorSanitizer (every UB report fatal) in build/asan,
#         the tree scripts/fuzz.sh builds its libFuzzer targets in (KCA_BUILD_FUZZERS=ON): the
#         libraries are compiled once for both stages. Every GoogleTest suite, the fuzz targets'
#         corpus replays (libFuzzer -runs=0), the CLI exit-code script and the kubectl
#         conformance script (both run our binaries). Excluded: the soak (label soak: its RSS
#         bound means nothing under ASan's quarantine and it is the longest test), the deploy
#         tests (label deploy: helm, kind, promtool and the container image, none of them an
#         instrumented binary of ours), app.cmake_install and app.readme_commands (install rules
#         and README text; the approver paths they run are the e2e tests' own).
#   tsan: ThreadSanitizer, the kube, controller, integration and end-to-end tests (the only
#         code with threads: the rest is single-threaded and pure).
# Every process writes its reports to build/<preset>/sanitizer-reports/ (the approver and the
# emulator the e2e tests spawn too, whose stderr the tests do not show): any file there fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:?usage: scripts/sanitize.sh asan|tsan}
jobs=${JOBS:-$(nproc)}
build=build/$preset
reports=$PWD/$build/sanitizer-reports
case "$preset" in
  asan)
    targets=(kube-csr-approver kube-apiserver-emulator common_unit_tests csr_unit_tests
             policy_unit_tests kube_unit_tests leader_elector_unit_tests controller_unit_tests
             observability_unit_tests app_unit_tests emulator_unit_tests emulator_tests
             kube_integration_tests controller_integration_tests controller_e2e_tests
             node_identity_e2e_tests fuzz_csr_request fuzz_csr_der fuzz_csr_document fuzz_policy
             fuzz_glob fuzz_check fuzz_watch_event fuzz_api_status fuzz_kubeconfig
             fuzz_exec_credential fuzz_lease fuzz_node_objects)
    test_dirs=("$build")
    ctest_args=(-LE 'soak|deploy|bench' -E '^app\.(cmake_install|readme_commands)$')
    export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0"
    export UBSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/ubsan.supp:print_stacktrace=1:log_path=$reports/ubsan"
    export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
    ;;
  tsan)
    targets=(kube-csr-approver kube-apiserver-emulator kube_unit_tests leader_elector_unit_tests
             controller_unit_tests kube_integration_tests controller_integration_tests
             controller_e2e_tests node_identity_e2e_tests)
    test_dirs=("$build/tests/unit/kube" "$build/tests/unit/controller" "$build/tests/integration"
               "$build/tests/e2e")
    ctest_args=()
    export TSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/tsan.supp:second_deadlock_stack=1:log_path=$reports/tsan"
    ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan" >&2; exit 2 ;;
esac

start=$(date +%s)
# A tree configured before these presets moved to clang and Ninja cannot be reconfigured in place.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --parallel "$jobs" --target "${targets[@]}"
built=$(date +%s)
rm -rf "$reports" && mkdir -p "$reports"
status=0
for dir in "${test_dirs[@]}"; do
  ctest --test-dir "$dir" --output-on-failure --timeout 900 --parallel "$jobs" "${ctest_args[@]}" ||
    status=1
done
finished=$(date +%s)
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports ($preset):" >&2
  for report in "$reports"/*; do echo "== $report" >&2; cat "$report" >&2; done
  status=1
fi
echo "sanitize $preset: build $((built - start)) s, tests $((finished - built)) s, status $status"
exit "$status"
