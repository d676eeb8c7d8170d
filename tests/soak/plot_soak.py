#!/usr/bin/env python3
"""Plots a chaos soak run (tests/soak): RSS of every replica incarnation and decision latency.

Usage: plot_soak.py OUTPUT_DIR   (reads rss.csv, latency.csv, summary.json; writes soak.png)
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out_dir):
    series = {}
    with open(os.path.join(out_dir, "rss.csv")) as f:
        for row in csv.DictReader(f):
            key = f"replica-{row['replica']} #{row['incarnation']}"
            series.setdefault(key, ([], []))
            series[key][0].append(float(row["seconds"]))
            series[key][1].append(int(row["rss_kib"]) / 1024)
    created, latency = [], []
    with open(os.path.join(out_dir, "latency.csv")) as f:
        for row in csv.DictReader(f):
            created.append(float(row["created_seconds"]))
            latency.append(float(row["latency_seconds"]))
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)

    fig, (rss_ax, lat_ax) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for key, (t, mib) in sorted(series.items()):
        rss_ax.plot(t, mib, label=key, linewidth=1)
    rss_ax.set_ylabel("RSS (MiB)")
    rss_ax.legend(fontsize="small", ncol=3)
    rss_ax.grid(alpha=0.3)
    lat_ax.scatter(created, latency, s=4)
    lat_ax.set_yscale("symlog", linthresh=0.1)
    lat_ax.set_ylabel("decision latency (s)")
    lat_ax.set_xlabel("seconds since start (CSR created)")
    lat_ax.grid(alpha=0.3)
    failed = [i["name"] for i in summary["invariants"] if not i["passed"]]
    fig.suptitle(
        f"chaos soak: seed {summary['seed']}, {summary['csrs']} CSRs, "
        f"{sum(summary['faults'].values())} faults; "
        + ("all invariants pass" if not failed else "FAILED: " + ", ".join(failed)),
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "soak.png"), dpi=100)
    print(f"soak: plot written to {os.path.join(out_dir, 'soak.png')}")


if __name__ == "__main__":
    main(sys.argv[1])
