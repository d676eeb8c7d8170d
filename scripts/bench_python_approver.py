#!/usr/bin/env python3
"""A simple approver in Python (stdlib only), the baseline of docs/benchmarks.md.

What an admin might write in an afternoon: list, then watch CSRs; approve every pending one
whose name starts with PREFIX and whose signer is kube-apiserver-client by PUT /approval on one
keep-alive connection. It checks no signature and no policy. Exits after COUNT approvals.

Usage: bench_python_approver.py KUBECONFIG PREFIX COUNT
"""
import base64
import http.client
import json
import re
import ssl
import sys
import tempfile

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def field(text, name):
    m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(name), text, re.M)
    return m.group(1).strip('"') if m else None


def main():
    kubeconfig, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = open(kubeconfig).read()
    host, port = re.match(r"https://([^:/]+):(\d+)", field(text, "server")).groups()
    ctx = ssl.create_default_context()
    if field(text, "certificate-authority-data"):
        ctx.load_verify_locations(
            cadata=base64.b64decode(field(text, "certificate-authority-data")).decode())
    else:
        ctx.load_verify_locations(cafile=field(text, "certificate-authority"))
    token = field(text, "token") or open(field(text, "tokenFile")).read().strip()
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def connect():
        return http.client.HTTPSConnection(host, int(port), context=ctx)

    writer = connect()
    approved = set()

    def consider(obj):
        name = obj["metadata"]["name"]
        if not name.startswith(prefix) or name in approved:
            return
        if obj["spec"].get("signerName") != "kubernetes.io/kube-apiserver-client":
            return
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") in ("Approved", "Denied") for c in conditions):
            return
        base64.b64decode(obj["spec"]["request"])  # as far as stdlib goes in reading it
        obj.setdefault("status", {})["conditions"] = conditions + [{
            "type": "Approved", "status": "True", "reason": "PythonApprover",
            "message": "approved by the benchmark's Python baseline"}]
        writer.request("PUT", CSRS + "/" + name + "/approval", json.dumps(obj), headers)
        r = writer.getresponse()
        r.read()
        if r.status == 200:
            approved.add(name)

    lister = connect()
    lister.request("GET", CSRS, headers=headers)
    listed = json.loads(lister.getresponse().read())
    for obj in listed["items"]:
        consider(obj)
    rv = listed["metadata"]["resourceVersion"]
    while len(approved) < count:
        watch = connect()
        watch.request("GET", CSRS + "?watch=1&resourceVersion=" + rv + "&timeoutSeconds=300",
                      headers=headers)
        stream = watch.getresponse()
        for line in stream:
            event = json.loads(line)
            rv = event["object"]["metadata"].get("resourceVersion", rv)
            if event["type"] in ("ADDED", "MODIFIED"):
                consider(event["object"])
            if len(approved) >= count:
                break
        watch.close()


if __name__ == "__main__":
    main()
