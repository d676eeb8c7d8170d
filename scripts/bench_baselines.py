#!/usr/bin/env python3
"""The approvers an admin would otherwise use, measured against kube-apiserver-emulator.

Baselines for docs/benchmarks.md (run by scripts/bench.sh, stdlib only):
  kubectl-loop:  `kubectl certificate approve NAME`, one process per pending CSR (a shell loop);
  kubectl-batch: one `kubectl certificate approve NAME...` for all of them;
  python:        a watch loop + PUT /approval in Python (scripts/bench_python_approver.py).
Each drains its own set of pending CSRs; CPU is the children's getrusage (user + system).
Neither baseline checks a policy or the request's signature: they are the floor of "approve".

Usage: bench_baselines.py EMULATOR_BINARY [--kubectl-csrs N] [--kubectl-batch-csrs N]
                          [--python-csrs N] > result.json
"""
import argparse
import base64
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
HERE = os.path.dirname(os.path.abspath(__file__))


def kubeconfig_field(path, field):
    with open(path) as f:
        m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(field), f.read(), re.M)
    return m.group(1) if m else None


def admin_connection(data, port, work):
    """An HTTPS connection with the admin kubeconfig's client certificate."""
    cfg = os.path.join(data, "admin.kubeconfig")
    ctx = ssl.create_default_context(cafile=os.path.join(data, "ca.crt"))
    cert, key = os.path.join(work, "admin.crt"), os.path.join(work, "admin.key")
    with open(cert, "wb") as f:
        f.write(base64.b64decode(kubeconfig_field(cfg, "client-certificate-data")))
    with open(key, "wb") as f:
        f.write(base64.b64decode(kubeconfig_field(cfg, "client-key-data")))
    ctx.load_cert_chain(cert, key)
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx)


def create_csrs(conn, work, prefix, count):
    """Creates prefix-0..count-1, ECDSA P-256 (one key, each subject differs)."""
    key = os.path.join(work, "key.pem")
    if not os.path.exists(key):
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", key], check=True)
    names = []
    for i in range(count):
        name = "%s-%d" % (prefix, i)
        pem = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + name],
                             check=True, capture_output=True).stdout
        body = json.dumps({
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client",
                     "usages": ["digital signature", "key encipherment", "client auth"]}})
        conn.request("POST", CSRS, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 201:
            sys.exit("creating %s: HTTP %d" % (name, r.status))
        names.append(name)
    return names


def approved_count(conn, prefix):
    conn.request("GET", CSRS)
    r = conn.getresponse()
    items = json.loads(r.read())["items"]
    return sum(1 for o in items if o["metadata"]["name"].startswith(prefix + "-") and any(
        c.get("type") == "Approved" for c in (o.get("status") or {}).get("conditions") or []))


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def measure(label, commands, conn, prefix, count):
    """Runs commands one after the other; returns wall, CPU and the approved count."""
    cpu0, t0 = children_cpu(), time.monotonic()
    for cmd in commands:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
    approved = approved_count(conn, prefix)
    print("%s: %d/%d approved in %.2fs (%.1f CSRs/s), CPU %.2fs (%.3f ms per decision)"
          % (label, approved, count, wall, count / wall, cpu, 1000 * cpu / count), file=sys.stderr)
    return {"csrs": count, "approved": approved, "wall_s": wall, "cpu_s": cpu,
            "csrs_per_s": count / wall, "cpu_ms_per_decision": 1000 * cpu / count}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("emulator")
    p.add_argument("--kubectl", default=os.environ.get("KUBECTL", "/usr/bin/kubectl"))
    p.add_argument("--kubectl-csrs", type=int, default=100)
    p.add_argument("--kubectl-batch-csrs", type=int, default=100)  # kubectl throttles at 5 QPS
    p.add_argument("--python-csrs", type=int, default=2000)
    args = p.parse_args()

    work = tempfile.mkdtemp(prefix="kca-bench-baselines-")
    data = os.path.join(work, "data")
    emulator = subprocess.Popen([args.emulator, "--listen", "127.0.0.1:0", "--data-dir", data,
                                 "--history", "100000"], stdout=subprocess.PIPE, text=True)
    try:
        line = emulator.stdout.readline()  # exactly one line once it accepts connections
        m = re.match(r"listening on https://127\.0\.0\.1:(\d+)", line)
        if not m:
            sys.exit("emulator did not start: %r" % line)
        port = int(m.group(1))
        conn = admin_connection(data, port, work)
        env_home = os.path.join(work, "home")  # kubectl's discovery cache stays here
        os.environ["HOME"] = env_home
        approver_cfg = os.path.join(data, "approver.kubeconfig")
        kubectl = [args.kubectl, "--kubeconfig", approver_cfg, "certificate", "approve"]
        result = {"load_before": os.getloadavg()[0]}

        names = create_csrs(conn, work, "kubectl-loop", args.kubectl_csrs)
        result["kubectl_loop"] = measure("kubectl loop", [kubectl + [n] for n in names], conn,
                                         "kubectl-loop", len(names))
        names = create_csrs(conn, work, "kubectl-batch", args.kubectl_batch_csrs)
        result["kubectl_batch"] = measure("kubectl batch", [kubectl + names], conn,
                                          "kubectl-batch", len(names))
        names = create_csrs(conn, work, "python", args.python_csrs)
        result["python"] = measure(
            "python approver",
            [[sys.executable, os.path.join(HERE, "bench_python_approver.py"), approver_cfg,
              "python-", str(len(names))]], conn, "python", len(names))
        result["load_after"] = os.getloadavg()[0]
        result["kubectl_version"] = subprocess.run(
            [args.kubectl, "version", "--client", "-o", "json"], capture_output=True,
            text=True).stdout
        try:
            result["kubectl_version"] = json.loads(result["kubectl_version"])["clientVersion"][
                "gitVersion"]
        except (ValueError, KeyError):
            result["kubectl_version"] = "unknown"
        result["python_version"] = sys.version.split()[0]
        json.dump(result, sys.stdout, indent=1)
        print()
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
