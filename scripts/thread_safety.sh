#!/usr/bin/env bash
# Clang's thread-safety analysis over src/: every KCA_GUARDED_BY member touched without its
# mutex held, every KCA_REQUIRES function called without it, fails (-Werror=thread-safety).
# Syntax only (no code generated, nothing linked), with the flags of the default preset's
# compile_commands.json and clang++-14 in place of the compiler. About 2 CPU-minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
clang=${CXX_FOR_ANALYSIS:-clang++-14}
command -v "$clang" >/dev/null || { echo "thread_safety.sh: $clang not found" >&2; exit 1; }
cmake --preset default >/dev/null
python3 - "$clang" "$PWD" "${JOBS:-$(nproc)}" <<'PY'
import concurrent.futures, json, shlex, subprocess, sys
clang, root, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
entries = json.load(open(f"{root}/build/default/compile_commands.json"))
def check(entry):
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
            continue
        if arg == "-o":
            skip = True
            continue
        if arg == "-c":
            continue
        out.append(arg)
    command = [clang, "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
               "-Wno-unknown-warning-option"] + out
    run = subprocess.run(command, cwd=entry["directory"], capture_output=True, text=True)
    return entry["file"], run.returncode, run.stderr
sources = list({e["file"]: e for e in entries if e["file"].startswith(f"{root}/src/")}.values())
failed = 0
with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    for path, code, err in pool.map(check, sources):
        if code != 0:
            failed += 1
            print(f"== {path}\n{err}", file=sys.stderr)
print(f"thread-safety: {len(sources)} files under src/, {failed} failing")
sys.exit(1 if failed else 0)
PY
