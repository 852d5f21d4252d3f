#!/usr/bin/python3
"""A whole cluster restarted on a long log elects one leader and stays
responsive while it replays: libraft applies every entry on the control
loop, so a per-entry cost that grows with the config (a text round trip
of the whole config, a quadratic uniqueness scan) stalls each node for
seconds, followers time out, and elections cascade (jepsen kill finding,
fixed in a3ca950). Guards: one election, bounded catch-up, no /status
timeout once a leader exists."""

import http.client
import json
import os
import threading
import time

import rgcluster
import rgtest
from rgcluster import ClusterTestCase, scaled

N_ROUTES = int(os.environ.get("RG_RESTART_ROUTES", "1500"))
LEADER_BOUND = 6.0     # s from restart to every node ready, same leader
CATCHUP_BOUND = 8.0    # s from restart to every node applied, same hash
STATUS_BOUND = 1.0     # s for any GET /status once a leader appeared
MAX_TERM_RISE = 2      # terms over the pre-kill term (one election + 1)
POLL_INTERVAL = 0.1    # s between one node's GET /status polls
AFTER_CATCHUP = 1.0    # s of polling after catch-up (a late stall)


class StatusPoller:
    """One thread per node sending GET /status every POLL_INTERVAL on a
    fresh connection with a STATUS_BOUND timeout, recording (sent,
    answered, status dict or None, error) per poll."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.samples = {nd.id: [] for nd in nodes}
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = []

    def _poll(self, nd):
        t_sent = time.monotonic()
        st, err = None, None
        try:
            r = nd.admin("GET", "/status", timeout=scaled(STATUS_BOUND))
            if r.status == 200:
                st = r.json()
            else:
                err = "HTTP %d" % r.status
        except (OSError, ValueError, http.client.HTTPException) as e:
            err = repr(e)
        return (t_sent, time.monotonic(), st, err)

    def _run(self, nd):
        while not self.stop_ev.is_set():
            s = self._poll(nd)
            with self.lock:
                self.samples[nd.id].append(s)
            self.stop_ev.wait(POLL_INTERVAL)

    def latest(self):
        """{node id: the last answered status dict (or None)}."""
        with self.lock:
            return {i: (v[-1][2] if v else None)
                    for i, v in self.samples.items()}

    def all_samples(self):
        with self.lock:
            return {i: list(v) for i, v in self.samples.items()}

    def __enter__(self):
        for nd in self.nodes:
            t = threading.Thread(target=self._run, args=(nd,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(scaled(10.0))


def agreed_leader(latest, ids):
    """The leader id when every node is ready and names the same leader,
    which calls itself leader; else None."""
    sts = [latest.get(i) for i in ids]
    if any(st is None or st.get("ready") is not True for st in sts):
        return None
    lids = {st.get("leader_id") for st in sts}
    if len(lids) != 1:
        return None
    lid = lids.pop()
    lead = latest.get(lid)
    if lead is None or lead.get("raft_state") != "leader":
        return None
    return lid


def caught_up(latest, ids, commit):
    """The config_hash when every node applied `commit` and all report the
    same hash; else None."""
    sts = [latest.get(i) for i in ids]
    if any(st is None or int(st.get("applied_index") or 0) < commit
           for st in sts):
        return None
    hashes = {str(st.get("config_hash")) for st in sts}
    return hashes.pop() if len(hashes) == 1 else None


def fmt(t):
    return "never" if t is None else "%.2fs" % t


class ClusterRestartTest(ClusterTestCase):

    def put_routes(self, lead, svc, n):
        """PUT n routes (distinct paths) through the leader on one
        keep-alive connection; returns the seconds taken."""
        conn = None
        t0 = time.monotonic()
        try:
            for i in range(n):
                name = "rr-%05d" % i
                body = json.dumps({"name": name, "paths": ["/rr/%05d" % i],
                                   "service": {"name": svc},
                                   "strip_path": False}).encode()
                end = time.monotonic() + scaled(15.0)
                while True:
                    if conn is None:
                        conn = http.client.HTTPConnection(
                            rgtest.HOST, lead.admin_port,
                            timeout=scaled(10.0))
                    r = rgtest.http_request(
                        conn, "PUT", "/routes/" + name,
                        {"Content-Type": "application/json"}, body)
                    if (r.header("connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                    if not rgcluster.not_proposed(r) or \
                            time.monotonic() >= end:
                        break
                    time.sleep(0.05)
                self.assertWrite(r, (200, 201), "PUT /routes/" + name)
        finally:
            if conn is not None:
                conn.close()
        return time.monotonic() - t0

    def test_sigkill_restart_with_long_log_one_election(self):
        """Write a service and N routes (one log entry each), SIGKILL all
        three nodes, start all three: within 6 s every node is ready with
        one agreed leader, the term rose by at most 2, within 8 s every
        node applied the pre-kill commit index with one config_hash, and
        no GET /status took over 1 s once a leader appeared."""
        c = self.cluster
        lead = c.wait_leader()
        svc = "rr-svc"
        r = c.write("PUT", "/services/" + svc,
                    {"name": svc, "host": rgtest.HOST, "port": self.up.port},
                    node=lead)
        self.assertWrite(r, (200, 201), "PUT /services/" + svc)
        t_write = self.put_routes(lead, svc, N_ROUTES)
        c.wait_served("/rr/%05d" % (N_ROUTES - 1), timeout=scaled(15.0))
        st = lead.status()
        self.assertIsNotNone(st, "leader's GET /status before the kill")
        self.assertEqual(st.get("raft_state"), "leader", repr(st))
        term0 = int(st["term"])
        commit0 = int(st["commit_index"])

        c.kill_all()
        t0 = time.monotonic()
        for nd in c.nodes:
            nd.start(wait=False)
        ids = [nd.id for nd in c.nodes]
        t_leader = t_hash = None
        with StatusPoller(c.nodes) as p:
            end = t0 + scaled(CATCHUP_BOUND)
            while time.monotonic() < end:
                latest = p.latest()
                now = time.monotonic()
                if t_leader is None and agreed_leader(latest, ids):
                    t_leader = now - t0
                if t_hash is None and caught_up(latest, ids, commit0):
                    t_hash = now - t0
                if t_leader is not None and t_hash is not None:
                    break
                time.sleep(0.02)
            if t_hash is not None:
                time.sleep(AFTER_CATCHUP)
        samples = p.all_samples()

        # the first answer from any node that knows a leader
        t_first = min((s[1] for v in samples.values() for s in v
                       if s[2] and int(s[2].get("leader_id") or 0)),
                      default=None)
        slow = [(i, s[0] - t0, s[1] - s[0], s[3])
                for i, v in samples.items() for s in v
                if t_first is not None and s[0] >= t_first and
                (s[2] is None or s[1] - s[0] > scaled(STATUS_BOUND))]
        terms = [int(s[2].get("term") or 0) for v in samples.values()
                 for s in v if s[2]]
        term_max = max(terms, default=0)
        final = p.latest()
        print("%d routes written in %.1fs; log commit %d, term %d; "
              "restart: first leader %s, agreed leader %s, caught up %s, "
              "max term %d (+%d), %d slow/failed /status after a leader"
              % (N_ROUTES, t_write, commit0, term0,
                 fmt(None if t_first is None else t_first - t0),
                 fmt(t_leader), fmt(t_hash), term_max, term_max - term0,
                 len(slow)))
        detail = "\nlast statuses: %s" % {
            i: (st and {k: st.get(k) for k in (
                "raft_state", "term", "leader_id", "commit_index",
                "applied_index", "config_hash")}) for i, st in final.items()}
        problems = []
        if t_leader is None or t_leader > scaled(LEADER_BOUND):
            problems.append("(a) no agreed leader within %.0fs (%s)"
                            % (scaled(LEADER_BOUND), fmt(t_leader)))
        if term_max > term0 + MAX_TERM_RISE:
            problems.append("(b) term %d -> %d: an election cascade"
                            % (term0, term_max))
        if t_hash is None:
            problems.append("(c) not every node applied index %d with one "
                            "config_hash within %.0fs"
                            % (commit0, scaled(CATCHUP_BOUND)))
        if slow:
            problems.append("(d) %d GET /status slower than %.1fs or failed "
                            "after a leader appeared (node, sent at, took, "
                            "error): %s" % (len(slow), scaled(STATUS_BOUND),
                                            slow[:6]))
        if problems:
            self.fail("\n".join(problems) + detail)

if __name__ == "__main__":
    rgtest.main()
