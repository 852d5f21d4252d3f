#!/usr/bin/env python3
"""rate-limiting policy cluster on 3 nodes (a benchmark, not a test; never
part of make check): Raft entries per admitted request, the share of a
window's limit admitted with the load spread 70/20/10 over the nodes, and
the latency of policy cluster next to policy local on the same node, in the
same run, in front of the same upstream. See tests/bench/README.md.

Usage: tests/bench/quota_bench.py [--raftgate PATH] [--duration S]
Needs wrk; Python 3 standard library only (the cluster harness of
tests/integration)."""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import rgtest  # noqa: E402
from rgcluster import Cluster, gateway_doc, route, service  # noqa: E402

SHARE_L = 3000


def rl(**config):
    config.setdefault("limit_by", "service")
    return {"name": "rate-limiting", "config": config}


def wrk(port, path, conns, seconds):
    """wrk against 127.0.0.1:@port@path: (requests, non-2xx, rps, p50 ms,
    p99 ms)."""
    out = subprocess.run(
        ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency",
         "http://127.0.0.1:%d%s" % (port, path)],
        capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)" % label, out, re.M)
        v = float(m.group(1))
        return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]

    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return n, int(bad.group(1)) if bad else 0, rps, ms("50%"), ms("99%")


def commit_index(c):
    return max(nd.status()["commit_index"] for nd in c.alive())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raftgate", default=os.environ.get("RAFTGATE_BIN"))
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    if args.raftgate:
        os.environ["RAFTGATE_BIN"] = os.path.abspath(args.raftgate)
    up = rgtest.Upstream().start()
    seed = gateway_doc(service("bench", up.port, routes=[
        route("big", ["/big"], plugins=[rl(minute=1000000000,
                                           policy="cluster")]),
        route("loc", ["/loc"], plugins=[rl(minute=1000000000,
                                           policy="local")]),
        route("share", ["/share"], plugins=[rl(minute=SHARE_L,
                                               policy="cluster")]),
    ]))
    c = Cluster(3, seed, {"raft": {"quota_lease_ms": 2000}})
    try:
        c.start()
        lead = c.leader()
        fol = c.followers()[0]
        print("date %s, 3 nodes, D = 2000 ms, wrk -t1 -c10 -d%ds on a "
              "follower (n%d)" % (time.strftime("%Y-%m-%d %H:%M UTC",
                                                time.gmtime()),
                                  args.duration, fol.id))
        for rnd in range(2):
            for path in ("/loc", "/big"):
                ci = commit_index(c)
                n, bad, rps, p50, p99 = wrk(fol.port, path + "/x", 10,
                                            args.duration)
                ent = commit_index(c) - ci
                print("round %d %-5s %7d req %5d non-2xx %8.0f req/s "
                      "p50 %.2f ms p99 %.2f ms; raft entries %d (%.3f%% of "
                      "admitted)" % (rnd, path, n, bad, rps, p50, p99, ent,
                                     100.0 * ent / max(1, n - bad)))
        left = 60 - time.time() % 60
        if left < 25:
            time.sleep(left + 0.5)
        base = up.hits("share")
        ci = commit_index(c)
        procs = []
        for nd, conns in zip(c.nodes, (7, 2, 1)):
            procs.append(subprocess.Popen(
                ["wrk", "-t1", "-c%d" % conns, "-d8s",
                 "http://127.0.0.1:%d/share/count?key=share" % nd.port],
                stdout=subprocess.DEVNULL))
        for p in procs:
            p.wait()
        got = up.hits("share") - base
        ent = commit_index(c) - ci
        print("share: limit %d per minute, wrk 7/2/1 connections on n1/n2/n3 "
              "for 8 s: %d admitted (%.1f%%), raft entries %d (%.2f%% of "
              "admitted); leader n%d" % (SHARE_L, got, 100.0 * got / SHARE_L,
                                         ent, 100.0 * ent / max(1, got),
                                         lead.id))
    finally:
        problems = c.stop()
        c.cleanup()
        up.stop()
        for p in problems:
            print(p)


if __name__ == "__main__":
    main()
