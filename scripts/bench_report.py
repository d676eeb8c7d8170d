#!/usr/bin/env python3
"""Writes docs/benchmarks.md from the outputs scripts/bench.sh collected in one run.

Usage: bench_report.py RESULTS_DIR ANALYSIS_MD OUTPUT_MD
RESULTS_DIR holds machine.json, csr_decision.json (Google Benchmark JSON), emulator-N.txt,
controller.txt, cpprest-floor-N.txt, footprint.txt (optional) and baselines.json. Every figure is printed next to its same-run baseline; the
hand-written ANALYSIS_MD is appended verbatim (edit that file, not the output).
"""
import glob
import json
import os
import re
import sys

# Targets from issue 11 and docs history; "met" is judged here, from this run's figures.
CPU_PER_DECISION_TARGET_MS = 0.2
IDLE_RSS_TARGET_MIB = 12.0
EMULATOR_TARGET_PUTS = 5000


def must(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        sys.exit("bench_report: no %s in the benchmark output (pattern %r)" % (what, pattern))
    return m


def met(ok):
    return "**met**" if ok else "**not met**"


def decision_section(results):
    rows = {}
    for b in results["benchmarks"]:
        name, key = b["name"].split("/key:")
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
        rows.setdefault(int(key), {})[name] = b["cpu_time"] * unit
    out = ["## CSR decision cost against raw OpenSSL", "",
           "`csr_decision_bench`: `InspectEncodedRequest` (base64 → PEM → PKCS#10 parse → "
           "signature check → facts) then `Evaluate` against a 50-rule policy whose governing "
           "rule is the last. Baselines: OpenSSL's `X509_REQ_verify` on a parsed request, and "
           "`PEM_read_bio_X509_REQ` + `X509_REQ_verify`. CPU time per CSR.", "",
           "| key | verify | parse + verify | inspect + evaluate | ÷ verify | ÷ parse + verify "
           "| evaluate alone |", "|---|---|---|---|---|---|---|"]
    for key, label in ((0, "RSA-2048"), (1, "ECDSA P-256")):
        r = rows[key]
        v, pv, ie, e = (r["BM_RawVerify"], r["BM_RawParseAndVerify"], r["BM_InspectAndEvaluate"],
                        r["BM_EvaluateOnly"])
        out.append("| %s | %.1f µs | %.1f µs | **%.1f µs** | %.2f | %.2f | %.2f µs |"
                   % (label, v, pv, ie, ie / v, ie / pv, e))
    return out


def emulator_section(runs):
    out = ["## API emulator capacity", "",
           "`emulator_bench --clients N --seconds S`: N keep-alive HTTPS clients as the approver "
           "identity PUT `/approval` in a loop (full decode, validation, admission, store write, "
           "watch event). Baseline: the single sequential client of the same run (bound by its "
           "round trip). Target ≥ %d PUTs/s." % EMULATOR_TARGET_PUTS, "",
           "| clients | PUTs/s | ÷ 1 client | ÷ target | p50 | p99 |", "|---|---|---|---|---|---|"]
    base = None
    best = 0
    for clients, text in runs:
        m = must(r"rate=(\d+)/s p50=(\d+)us p99=(\d+)us", text, "approval PUT rate")
        rate, p50, p99 = float(m.group(1)), float(m.group(2)), float(m.group(3))
        base = base or rate
        best = max(best, rate)
        out.append("| %d | %.0f | %.2f | %.2f | %.0f µs | %.1f ms |"
                   % (clients, rate, rate / base, rate / EMULATOR_TARGET_PUTS, p50, p99 / 1000))
    fan = re.search(r"watch fan-out: watchers=(\d+) events=(\d+) delivered=(\d+) in ([\d.]+)s "
                    r"\((\d+) events/s", runs[-1][1])
    if fan:
        out += ["", "Watch fan-out: %s watchers × %s events, %s delivered in %s s (%s events/s)."
                % fan.groups()]
    out += ["", "Target ≥ %d PUTs/s: %s (best %.0f)." % (EMULATOR_TARGET_PUTS,
                                                      met(best >= EMULATOR_TARGET_PUTS), best)]
    return out


def floor_runs(results):
    """cpprest_floor_bench's figures per thread count: cpprestsdk alone, the approver's PATCH."""
    runs = []
    for path in glob.glob(os.path.join(results, "cpprest-floor-*.txt")):
        m = must(r"cpprest floor: threads=(\d+) requests=(\d+) ok=(\d+) cpu=([\d.]+) s "
                 r"\(([\d.]+) ms/request\) wall=([\d.]+) s \((\d+) req/s\)", open(path).read(),
                 "cpprestsdk floor in " + path)
        runs.append({"threads": int(m[1]), "requests": int(m[2]), "ok": int(m[3]),
                     "cpu_ms": float(m[5]), "rate": float(m[7])})
    if not runs:
        sys.exit("bench_report: no cpprest-floor-*.txt in %s" % results)
    return sorted(runs, key=lambda r: r["threads"])


def controller_section(text, baselines, machine, floors):
    f = {}
    f["baseline"] = float(must(r"emulator approval capacity (\d+) PUTs/s", text, "baseline")[1])
    m = must(r"idle after sync: VmRSS=([\d.]+) MiB VmHWM=([\d.]+) MiB", text, "idle RSS")
    f["idle_rss"], f["idle_hwm"] = float(m[1]), float(m[2])
    m = must(r"with (\d+) pending \(dry run[^)]*\): VmRSS=([\d.]+) MiB VmHWM=([\d.]+) MiB", text,
             "pending RSS")
    f["pending"], f["pending_rss"], f["pending_hwm"] = int(m[1]), float(m[2]), float(m[3])
    m = must(r"drain: (\d+)/(\d+) approved(.*?); ([\d.]+)s from spawn \((\d+) CSRs/s\), "
             r"([\d.]+)s from ready \((\d+) CSRs/s\); approver CPU ([\d.]+)s \(([\d.]+)s before "
             r"ready\)", text, "drain")
    approved, csrs = int(m[1]), int(m[2])
    spawn_s, spawn_rate, ready_rate = float(m[4]), float(m[5]), float(m[7])
    cpu, cpu_ready = float(m[8]), float(m[9])
    cpu_ms = 1000 * cpu / csrs
    m = must(r"after drain: VmRSS=([\d.]+) MiB", text, "after-drain RSS")
    drain_rss = float(m[1])
    m = must(r"drain requests: decisions=\d+ approval-PUTs=(\d+) \(([\d.]+)/decision\) "
             r"event-writes=(\d+) \(([\d.]+)/decision\) csr-GETs=(\d+) lists=(\d+) watches=(\d+) "
             r"total=(\d+) \(([\d.]+)/decision\)", text, "drain requests")
    dr = m
    m = must(r"latency: (\d+) CSRs at (\d+)/s \(target (\d+)/s, (\d+) sent >5 ms late, (\d+) "
             r"failed\), (\d+) approved(.*?); create→Approved p50=([\d.]+) ms p90=([\d.]+) ms "
             r"p99=([\d.]+) ms max=([\d.]+) ms; approver CPU ([\d.]+)s \((\d+)% of one core\)",
             text, "latency")
    lat = m
    m = must(r"steady requests: decisions=(\d+) approval-PUTs=(\d+) \(([\d.]+)/decision\) "
             r"event-writes=(\d+) \(([\d.]+)/decision\) csr-GETs=(\d+) lists=(\d+) watches=(\d+) "
             r"total=(\d+) \(([\d.]+)/decision\)", text, "steady requests")
    st = m
    m = must(r"idle after all: VmRSS=([\d.]+) MiB VmHWM=([\d.]+) MiB", text, "final RSS")
    final_rss, final_hwm = float(m[1]), float(m[2])

    kl, kb, py = baselines["kubectl_loop"], baselines["kubectl_batch"], baselines["python"]
    steady_cpu_ms = 1000 * float(lat[12]) / max(int(lat[6]), 1)
    out = ["## Controller against the emulator", "",
           "`controller_bench --csrs %d`: the real `kube-csr-approver run` (`--qps 0`, JSON logs, "
           "default workers) against `kube-apiserver-emulator`, both on this machine's cores. "
           "Phases: emulator capacity (8 keep-alive clients PUT `/approval`, the baseline of the "
           "rates); idle footprint 2 s after `/readyz`; footprint with every CSR pending "
           "(`--dry-run`); drain of all pending by a fresh approver (end = last Approved on the "
           "benchmark's own watch); steady latency (POST → MODIFIED Approved=True on the watch). "
           "CPU and RSS from `/proc/PID/stat` and `/proc/PID/status`; requests from the "
           "emulator's per-identity counts." % csrs, "",
           "### Admin baselines on the same emulator (same run)", "",
           "`scripts/bench_baselines.py` (a fresh emulator of the same build). CPU is the "
           "children's getrusage. Neither baseline checks a policy or a signature; the approver "
           "does both.", "",
           "| approver | CSRs | CSRs/s | CPU per decision | approver's CPU ÷ this |",
           "|---|---|---|---|---|",
           "| `kubectl certificate approve NAME` in a loop (%s) | %d | %.1f | %.2f ms | %.4f |"
           % (baselines["kubectl_version"], kl["csrs"], kl["csrs_per_s"],
              kl["cpu_ms_per_decision"], cpu_ms / kl["cpu_ms_per_decision"]),
           "| one `kubectl certificate approve NAME…` for all | %d | %.1f | %.2f ms | %.3f |"
           % (kb["csrs"], kb["csrs_per_s"], kb["cpu_ms_per_decision"],
              cpu_ms / kb["cpu_ms_per_decision"]),
           "| Python stdlib watch + PUT `/approval` (%s) | %d | %.1f | %.3f ms | %.3f |"
           % (baselines["python_version"], py["csrs"], py["csrs_per_s"],
              py["cpu_ms_per_decision"], cpu_ms / py["cpu_ms_per_decision"]),
           ] + [
           "| cpprestsdk alone, %d thread%s: the approver's TLS set-up and PATCH `/approval`, "
           "bodies read, nothing parsed or decided (`cpprest_floor_bench`)%s | %d | %.0f | %.3f ms "
           "| %.2f |" % (r["threads"], "" if r["threads"] == 1 else "s",
                         "" if r["ok"] == r["requests"] else " (%d failed)"
                         % (r["requests"] - r["ok"]), r["requests"], r["rate"], r["cpu_ms"],
                         cpu_ms / r["cpu_ms"]) for r in floors] + [
           "| **kube-csr-approver** (drain below) | %d | %.0f | **%.3f ms** | 1 |"
           % (csrs, spawn_rate, cpu_ms), "",
           "The cpprestsdk rows are the floor of the HTTP client the approver must use: no use of "
           "it sends the same write for less CPU. Of the %.1f ms target, %.3f ms (1 thread) to "
           "%.3f ms (4 threads) goes to the client before anything is inspected, decided or "
           "logged." % (CPU_PER_DECISION_TARGET_MS, floors[0]["cpu_ms"], floors[-1]["cpu_ms"]),
           "",
           "kube-csr-approver drains %.0f× as many CSRs per second as the kubectl loop, %.0f× "
           "the batch kubectl and %.1f× the Python approver; per decision it uses %.4f×, %.3f× "
           "and %.2f× their CPU. Load average during the baselines: %.1f → %.1f."
           % (spawn_rate / kl["csrs_per_s"], spawn_rate / kb["csrs_per_s"],
              spawn_rate / py["csrs_per_s"], cpu_ms / kl["cpu_ms_per_decision"],
              cpu_ms / kb["cpu_ms_per_decision"], cpu_ms / py["cpu_ms_per_decision"],
              baselines["load_before"], baselines["load_after"]), "",
           "### Figures", "",
           "| figure | result | ÷ baseline | target | |", "|---|---|---|---|---|",
           "| emulator approval capacity (baseline of the rates) | %.0f PUTs/s | 1 | | |"
           % f["baseline"],
           "| drain %d%s: from spawn | %.2f s, %.0f CSRs/s | %.3f of capacity | | |"
           % (csrs, "" if approved == csrs else " (only %d approved)" % approved, spawn_s,
              spawn_rate, spawn_rate / f["baseline"]),
           "| drain: from `/readyz` | %.0f CSRs/s | %.3f of capacity | | |"
           % (ready_rate, ready_rate / f["baseline"]),
           "| **approver CPU per decision in the drain** | **%.3f ms** (%.2f s, %.2f s of it "
           "before ready) | %.3f × Python, %.2f × cpprestsdk alone (%d threads) | ≤ %.1f ms | %s |"
           % (cpu_ms, cpu, cpu_ready, cpu_ms / py["cpu_ms_per_decision"],
              cpu_ms / floors[-1]["cpu_ms"], floors[-1]["threads"],
              CPU_PER_DECISION_TARGET_MS, met(cpu_ms <= CPU_PER_DECISION_TARGET_MS)),
           "| latency at %s/s (%s CSRs, %s sent late, %s failed) | p50 %s ms, p90 %s ms, "
           "**p99 %s ms**, max %s ms | | p99 < 50 ms | %s |"
           % (lat[3], lat[1], lat[4], lat[5], lat[8], lat[9], lat[10], lat[11],
              met(float(lat[10]) < 50)),
           "| approver CPU at a steady %s/s | %s %% of one core, %.3f ms per decision | | | |"
           % (lat[3], lat[13], steady_cpu_ms),
           "| **RSS idle after sync** | **%.1f MiB** (VmHWM %.1f) | | ≤ %.0f MiB | %s |"
           % (f["idle_rss"], f["idle_hwm"], IDLE_RSS_TARGET_MIB,
              met(f["idle_rss"] <= IDLE_RSS_TARGET_MIB)),
           "| RSS with %d pending (dry run) | %.1f MiB (VmHWM %.1f) | %.2f × idle | < 64 MiB | %s |"
           % (f["pending"], f["pending_rss"], f["pending_hwm"], f["pending_rss"] / f["idle_rss"],
              met(f["pending_rss"] < 64)),
           "| RSS after the drain / after the latency phase | %.1f / %.1f MiB (VmHWM %.1f) | "
           "%.2f × idle | | |" % (drain_rss, final_rss, final_hwm, final_rss / f["idle_rss"]),
           "| approval writes per decision (drain, steady) | %s, %s | | exactly 1 | %s |"
           % (dr[2], st[3], met(float(dr[2]) == 1.0 and float(st[3]) == 1.0)),
           "| CSR GETs per decision (drain, steady) | %s, %s (drain: %s LISTs + %s WATCH) | | 0 "
           "| %s |" % (dr[5], st[6], dr[6], dr[7], met(dr[5] == "0" and st[6] == "0")),
           "| all requests per decision (drain, steady) | %s, %s | | | |" % (dr[9], st[10]),
           "| Event writes per decision (drain, steady) | %s (%s), %s (%s) | | best effort | |"
           % (dr[4], dr[3], st[5], st[4]), ""]
    return out, {"cpu_ms": cpu_ms, "idle_rss": f["idle_rss"], "floor_ms": floors[-1]["cpu_ms"]}


def footprint_section(text):
    """The approver's idle footprint next to its floors (footprint_bench); None without a run."""
    runs = int(must(r"footprint runs=(\d+) settle=(\d+)s", text, "footprint runs")[1])
    settle = must(r"footprint runs=(\d+) settle=(\d+)s", text, "footprint runs")[2]
    med, maps = {}, {}
    for name in ("floor-mandated", "floor-same", "approver"):
        m = must(r"footprint median %s: VmRSS=([\d.]+) MiB RssFile=([\d.]+) MiB RssAnon=([\d.]+) "
                 r"MiB Pss=([\d.]+) MiB threads=(\d+)" % name, text, "%s footprint" % name)
        med[name] = [float(m[i]) for i in range(1, 5)] + [int(m[5])]
        line = must(r"footprint mappings %s \(KiB\):(.*)" % name, text, "%s mappings" % name)[1]
        own = {"floor-mandated": "footprint_floor_mandated", "floor-same": "footprint_floor_same",
               "approver": "kube-csr-approver"}[name]
        maps[name] = {("the executable" if k == own else k): int(v)
                      for k, v in re.findall(r"(\S+)=(\d+)", line)}
    floor, same, ours = med["floor-mandated"][0], med["floor-same"][0], med["approver"][0]
    libraries = must(r"footprint libraries: (.*)", text, "library check")[1]
    out = ["## Idle footprint against its floor", "",
           "`footprint_bench --runs %d`: in turn against one emulator, %s s after each is ready, "
           "the median of %d run%s from `/proc/PID/status` and `smaps`. Baselines: "
           "`footprint_floor_mandated`, a program linking only cpprestsdk (which brings OpenSSL, "
           "libstdc++, zlib and brotli as shared libraries) that makes one authenticated TLS "
           "request to the emulator as the approver does (one I/O thread, no default CA bundle) "
           "and then idles; `footprint_floor_same`, the same program linking every shared library "
           "the approver maps (%s). What is above the second floor is the approver's own code, "
           "data and threads." % (runs, settle, runs, "" if runs == 1 else "s", libraries), "",
           "| process | VmRSS | RssFile | RssAnon | Pss | threads | VmRSS ÷ mandated floor |",
           "|---|---|---|---|---|---|---|"]
    for name, label in (("floor-mandated", "floor: cpprestsdk + OpenSSL, one TLS request"),
                        ("floor-same", "floor: every library the approver maps"),
                        ("approver", "**kube-csr-approver**, synced, idle")):
        rss, file_, anon, pss, threads = med[name]
        out.append("| %s | %.2f MiB | %.2f MiB | %.2f MiB | %.2f MiB | %d | %.2f |"
                   % (label, rss, file_, anon, pss, threads, rss / floor))
    if floor < IDLE_RSS_TARGET_MIB:
        verdict = ("above the mandated floor (%.2f MiB): reachable only with less than %.2f MiB "
                   "of our own" % (floor, IDLE_RSS_TARGET_MIB - floor))
    else:
        verdict = ("below the mandated floor (%.2f MiB): not reachable with these libraries"
                   % floor)
    out += ["", "The approver is %.2f MiB above the mandated floor and %.2f MiB above the floor "
            "with its libraries; the target ≤ %.0f MiB is %s."
            % (ours - floor, ours - same, IDLE_RSS_TARGET_MIB, verdict),
            "", "Resident KiB per mapping (median of the runs; mappings under 64 KiB in all three "
            "summed in the last row):", "",
            "| mapping | mandated floor | floor, same libraries | approver | approver − same |",
            "|---|---|---|---|---|"]
    names = sorted(set().union(*maps.values()), key=lambda k: -maps["approver"].get(k, 0))
    rest = [0, 0, 0]
    for name in names:
        row = [maps[p].get(name, 0) for p in ("floor-mandated", "floor-same", "approver")]
        if max(row) < 64:
            rest = [a + b for a, b in zip(rest, row)]
            continue
        out.append("| %s | %d | %d | %d | %+d |" % (name, row[0], row[1], row[2], row[2] - row[1]))
    out.append("| others | %d | %d | %d | %+d |" % (rest[0], rest[1], rest[2], rest[2] - rest[1]))
    return out + [""], ours


def main():
    results, analysis_path, output = sys.argv[1], sys.argv[2], sys.argv[3]
    machine = json.load(open(os.path.join(results, "machine.json")))
    decision = json.load(open(os.path.join(results, "csr_decision.json")))
    emulator_runs = sorted(
        (int(re.search(r"emulator-(\d+)\.txt", p)[1]), open(p).read())
        for p in glob.glob(os.path.join(results, "emulator-*.txt")))
    controller = open(os.path.join(results, "controller.txt")).read()
    baselines = json.load(open(os.path.join(results, "baselines.json")))
    footprint_path = os.path.join(results, "footprint.txt")

    controller_lines, key = controller_section(controller, baselines, machine,
                                               floor_runs(results))
    footprint_lines = []
    idle_source = "controller_bench, one run"
    if os.path.exists(footprint_path):
        footprint_lines, key["idle_rss"] = footprint_section(open(footprint_path).read())
        idle_source = "footprint_bench, median"
    out = ["# Benchmarks", "",
           "<!-- Generated by `bash scripts/bench.sh` (scripts/bench_report.py): do not edit; the "
           "hand-written analysis lives in docs/benchmarks-analysis.md and is appended below. -->",
           "",
           "Every figure below was printed by a benchmark program of this repository in one run of "
           "`bash scripts/bench.sh%s`, each next to a baseline measured in the same run. "
           "Benchmarks are programs, not tests: nothing in CTest asserts a time."
           % machine["mode"], "",
           "## Machine and run", "",
           "| | |", "|---|---|",
           "| date (UTC) | %s → %s |" % (machine["start"], machine["end"]),
           "| cores (nproc) | %s |" % machine["nproc"],
           "| CPU | %s |" % machine["cpu"],
           "| memory | %s |" % machine["memory"],
           "| OS | %s |" % machine["os"],
           "| compiler | %s, `CMAKE_BUILD_TYPE=%s` |" % (machine["compiler"], machine["build_type"]),
           "| OpenSSL | %s |" % machine["openssl"],
           "| load average (1 min) before / after | %s / %s |"
           % (machine["load_before"], machine["load_after"]),
           "| commit | %s |" % machine["commit"], "",
           "A load average above the core count means other processes competed for the CPU: "
           "wall-clock rates (CSRs/s, PUTs/s, latency) are then a floor, while CPU time per "
           "decision (the approver's own user + system time) is much less distorted.", "",
           "## Targets", "",
           "| target | this run | |", "|---|---|---|",
           "| approver CPU per decision in a drain ≤ %.1f ms | %.3f ms (cpprestsdk alone: %.3f ms) "
           "| %s |" % (CPU_PER_DECISION_TARGET_MS, key["cpu_ms"], key["floor_ms"],
                       met(key["cpu_ms"] <= CPU_PER_DECISION_TARGET_MS)),
           "| idle RSS ≤ %.0f MiB | %.1f MiB (%s) | %s |"
           % (IDLE_RSS_TARGET_MIB, key["idle_rss"], idle_source,
              met(key["idle_rss"] <= IDLE_RSS_TARGET_MIB)),
           ""]
    out += decision_section(decision) + [""]
    out += emulator_section(emulator_runs) + [""]
    out += controller_lines
    out += footprint_lines
    out += [open(analysis_path).read().rstrip(), ""]
    with open(output, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
