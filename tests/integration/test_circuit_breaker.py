#!/usr/bin/python3
"""circuit-breaker through the real binary, against a real flaky upstream
on loopback (a small server switched between 200 and 500, counting what
reaches it).

Single node (no Raft: the node's local breaker): open after
failure_threshold failures, a fast 503 while open with the upstream
untouched, half-open trials after recovery_timeout, closed after
half_open_requests successes, reopened after a failed trial, connect
errors counted whatever failure_statuses says, proxy-cache's stale entry
served while open (stale_if_error), config errors naming their paths.

Three nodes (rgcluster): a dead upstream behind spread load sees about
failure_threshold failures from the whole cluster (the leader counts the
cluster's failures), every node reports the same (state, version), one
prober in half-open, and a node cut off from the others (SIGSTOP) falls
back to its local breaker."""

import http.server
import json
import os
import signal
import threading
import time
import unittest

import rgcluster
import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


class Flaky:
    """An upstream answering 200 ({"n": hits}) or 500 by mode, counting
    hits per first path segment."""

    def __init__(self):
        self.mode = 200
        self.delay = 0.0
        self.hits = {}
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                seg = self.path.split("/")[1] if "/" in self.path else ""
                with outer.lock:
                    n = outer.hits.get(seg, 0) + 1
                    outer.hits[seg] = n
                    mode = outer.mode
                if outer.delay:
                    time.sleep(outer.delay)
                body = json.dumps({"n": n, "path": self.path}).encode()
                self.send_response(mode)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def count(self, seg):
        with self.lock:
            return self.hits.get(seg, 0)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def cb(**config):
    return {"name": "circuit-breaker", "config": config}


def pc(**config):
    c = {"strategy": "memory"}
    c.update(config)
    return {"name": "proxy-cache", "config": c}


FAST = {"failure_threshold": 5, "recovery_timeout": 1,
        "half_open_requests": 3, "window": 60}


def admin_status(port):
    r = rgtest.request(port, "GET", "/status")
    assert r.status == 200, r
    return r.json()


class SingleNodeTest(GatewayTestCase):
    """One node: every breaker is the node's own (local: true)."""

    @classmethod
    def setUpClass(cls):
        cls.flaky = Flaky()
        cls.dead = rgtest.DeadPort()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.flaky.stop()
            cls.dead.close()

    @classmethod
    def gateway_config(cls, up):
        def svc(name, plugins, port=None):
            return service(name, port or cls.flaky.port, plugins=plugins,
                           routes=[route(name, ["/" + name],
                                         strip_path=False)], retries=0)
        return gateway_doc(
            svc("open", [cb(**FAST)]),
            svc("cycle", [cb(**FAST)]),
            svc("reopen", [cb(**FAST)]),
            svc("dead", [cb(failure_threshold=3, recovery_timeout=60,
                            failure_statuses=[418])], port=cls.dead.port),
            svc("stale", [cb(**FAST), pc(cache_ttl=1, stale_if_error=60)]),
            svc("custom", [cb(failure_threshold=2, recovery_timeout=60,
                              status_code=502, message="upstream resting")]),
        )

    def get(self, path):
        return rgtest.request(self.gw.port, "GET", path)

    def breaker(self, name):
        return admin_status(self.gw.admin_port)["cb"].get(name)

    def trip(self, name, n=5):
        self.flaky.mode = 500
        for i in range(n):
            r = self.get("/%s/f%d" % (name, i))
            self.assertEqual(r.status, 500, r)
        rgtest.wait_until(lambda: (self.breaker(name) or {}).get("state") ==
                          "open", timeout=5, what="%s open" % name)

    def test_open_after_threshold_and_fast_503(self):
        self.trip("open")
        before = self.flaky.count("open")
        self.assertEqual(before, 5)
        for _ in range(20):
            t = time.monotonic()
            r = self.get("/open/x")
            took = time.monotonic() - t
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json(),
                             {"message": "Service temporarily unavailable"})
            self.assertLess(took, 0.05 * rgcluster.time_scale())
        self.assertEqual(self.flaky.count("open"), before)
        b = self.breaker("open")
        self.assertEqual(b["state"], "open")
        self.assertEqual(b["version"], 1)
        self.assertTrue(b["local"])

    def test_half_open_trials_then_close(self):
        self.trip("cycle")
        self.flaky.mode = 200
        rgtest.wait_until(lambda: self.breaker("cycle")["state"] ==
                          "half_open", timeout=5, what="half-open")
        hits = self.flaky.count("cycle")
        for i in range(3):
            r = self.get("/cycle/t%d" % i)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.flaky.count("cycle"), hits + 3)
        rgtest.wait_until(lambda: self.breaker("cycle")["state"] == "closed",
                          timeout=5, what="closed")
        self.assertEqual(self.breaker("cycle")["version"], 3)
        self.assertEqual(self.get("/cycle/after").status, 200)

    def test_failed_trial_reopens(self):
        self.trip("reopen")
        rgtest.wait_until(lambda: self.breaker("reopen")["state"] ==
                          "half_open", timeout=5, what="half-open")
        r = self.get("/reopen/trial")
        self.assertEqual(r.status, 500, r)
        rgtest.wait_until(lambda: self.breaker("reopen")["state"] == "open",
                          timeout=5, what="reopened")
        self.assertEqual(self.breaker("reopen")["version"], 3)
        hits = self.flaky.count("reopen")
        self.assertEqual(self.get("/reopen/x").status, 503)
        self.assertEqual(self.flaky.count("reopen"), hits)

    def test_connect_errors_always_count(self):
        for i in range(3):
            self.assertEqual(self.get("/dead/%d" % i).status, 502)
        rgtest.wait_until(lambda: (self.breaker("dead") or {}).get("state")
                          == "open", timeout=5, what="dead open")
        self.assertEqual(self.get("/dead/x").status, 503)

    def test_status_code_and_message(self):
        self.trip("custom", 2)
        r = self.get("/custom/x")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json(), {"message": "upstream resting"})

    def test_stale_cache_entry_while_open(self):
        self.flaky.mode = 200
        r = self.get("/stale/page")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache-Status"), "Miss")
        time.sleep(1.2)  # the entry is stale now
        self.trip("stale")
        hits = self.flaky.count("stale")
        r = self.get("/stale/page")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache-Status"), "Stale")
        self.assertEqual(self.flaky.count("stale"), hits)
        # No entry: the breaker's own 503.
        self.assertEqual(self.get("/stale/none").status, 503)

    def test_config_errors_name_paths(self):
        cases = [
            ({"failure_threshold": 0}, "config.failure_threshold"),
            ({"recovery_timeout": "soon"}, "config.recovery_timeout"),
            ({"policy": "global"}, "config.policy"),
            ({"failure_statuses": [500, 99]}, "config.failure_statuses[1]"),
            ({"status_code": 200}, "config.status_code"),
            ({"bogus": 1}, "config.bogus"),
        ]
        for config, path in cases:
            doc = gateway_doc(service("s", self.flaky.port, routes=[
                route("r", ["/r"])], plugins=[cb(**config)]))
            rc, out = self.gw.check_config(doc)
            self.assertNotEqual(rc, 0, config)
            self.assertIn(path, out, (config, out))


class ClusterBreakerTest(rgcluster.ClusterTestCase):
    """Three nodes, policy cluster."""

    @classmethod
    def seed(cls, up):
        cls.flaky = Flaky()
        return gateway_doc(
            service("seed", up.port, routes=[
                route("seed", ["/seed"], strip_path=False)]),
            service("flaky", cls.flaky.port, retries=0, plugins=[
                cb(failure_threshold=5, recovery_timeout=2,
                   half_open_requests=3, window=60)],
                routes=[route("flaky", ["/flaky"], strip_path=False)]))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.flaky.stop()

    def states(self, nodes=None):
        out = {}
        for nd in nodes or self.cluster.nodes:
            st = nd.status()
            b = (st or {}).get("cb", {}).get("flaky")
            out[nd.id] = (b["state"], b["version"], b["prober"],
                          b["local"]) if b else None
        return out

    def converged(self, state, nodes=None):
        s = self.states(nodes)
        vals = set((v[0], v[1]) if v else None for v in s.values())
        return len(vals) == 1 and None not in vals and \
            next(iter(vals))[0] == state and \
            not any(v[3] for v in s.values())

    def spread(self, n, nodes=None, threads=3):
        """@n requests to /flaky spread round-robin over @nodes from
        @threads clients; returns the statuses."""
        nodes = nodes or self.cluster.nodes
        out = []
        lock = threading.Lock()
        k = [0]

        def run():
            while True:
                with lock:
                    if k[0] >= n:
                        return
                    i = k[0]
                    k[0] += 1
                nd = nodes[i % len(nodes)]
                try:
                    st = nd.proxy("/flaky/%d" % i, timeout=5).status
                except OSError:
                    st = 0
                with lock:
                    out.append(st)

        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out

    def test_cluster_trip_converge_probe_close(self):
        self.flaky.mode = 500
        statuses = self.spread(60)
        hits = self.flaky.count("flaky")
        # About the threshold from the whole cluster, not one per node:
        # at most the threshold plus what was in flight on each node
        # (3 clients) while the OPEN committed.
        self.assertLessEqual(hits, 5 + 2 * 3, statuses)
        self.assertIn(503, statuses)
        rgtest.wait_until(lambda: self.converged("open"), timeout=5,
                          what="every node open at one version")
        v_open = self.states()[1][1]
        self.flaky.mode = 200
        rgtest.wait_until(lambda: self.converged("half_open"), timeout=10,
                          what="every node half-open")
        s = self.states()
        probers = set(v[2] for v in s.values())
        self.assertEqual(len(probers), 1, s)
        prober = probers.pop()
        self.assertIn(prober, (1, 2, 3))
        self.assertGreater(s[1][1], v_open)
        # Only the prober admits; the others refuse.
        for nd in self.cluster.nodes:
            if nd.id != prober:
                self.assertEqual(nd.proxy("/flaky/no").status, 503)
        p = self.cluster.node(prober)
        for i in range(3):
            self.assertEqual(p.proxy("/flaky/trial%d" % i).status, 200)
        rgtest.wait_until(lambda: self.converged("closed"), timeout=5,
                          what="every node closed")
        for nd in self.cluster.nodes:
            self.assertEqual(nd.proxy("/flaky/ok").status, 200)

    def trip_all(self):
        self.flaky.mode = 500
        self.spread(30)
        rgtest.wait_until(lambda: self.converged("open"), timeout=5,
                          what="every node open at one version")

    def test_prober_takeover(self):
        """The prober stops (SIGSTOP) without a verdict: after
        recovery_timeout another node takes over as the only prober."""
        self.trip_all()
        rgtest.wait_until(lambda: self.converged("half_open"), timeout=10,
                          what="every node half-open")
        s = self.states()
        first = s[1][2]
        v1 = s[1][1]
        p = self.cluster.node(first)
        live = [nd for nd in self.cluster.nodes if nd is not p]
        os.kill(p.pid, signal.SIGSTOP)
        try:
            if self.cluster.leader(live) is None:
                self.cluster.wait_leader(nodes=live, timeout=15)

            def taken_over():
                st = self.states(live)
                vals = set(v[:3] if v else None for v in st.values())
                if len(vals) != 1 or None in vals:
                    return False
                state, ver, prober = vals.pop()
                return state == "half_open" and ver > v1 and prober != first
            rgtest.wait_until(taken_over, timeout=15,
                              what="another node takes over probing")
        finally:
            os.kill(p.pid, signal.SIGCONT)
        # The stopped node catches up to the same (state, version).
        want = self.states(live)[live[0].id][1]
        rgtest.wait_until(lambda: (self.states([p])[p.id] or (0, -1))[1] >=
                          want, timeout=10, what="the old prober catches up")

    def test_state_survives_restart(self):
        """The breakers are in the log (and snapshots): a restarted node
        comes back with the committed (state, version)."""
        self.trip_all()
        want = self.states()[1][:2]
        nd = self.cluster.nodes[2]
        nd.stop()
        self.cluster.restart(nd)
        rgtest.wait_until(lambda: (self.states([nd])[nd.id] or ())[:2] ==
                          want, timeout=10, what="restarted node open")

    def test_cut_off_node_uses_local_breaker(self):
        lead = self.cluster.wait_leader()
        follower = [nd for nd in self.cluster.nodes if nd.id != lead.id][0]
        others = [nd for nd in self.cluster.nodes if nd is not follower]
        for nd in others:
            os.kill(nd.pid, signal.SIGSTOP)
        try:
            self.flaky.mode = 500
            hits0 = self.flaky.count("flaky")
            for i in range(5):
                follower.proxy("/flaky/c%d" % i, timeout=10)
            rgtest.wait_until(
                lambda: (self.states([follower])[follower.id] or ())[:1] ==
                ("open",) and self.states([follower])[follower.id][3],
                timeout=10, what="the cut-off node opens its local breaker")
            self.assertEqual(follower.proxy("/flaky/x").status, 503)
            self.assertEqual(self.flaky.count("flaky") - hits0, 5)
        finally:
            for nd in others:
                os.kill(nd.pid, signal.SIGCONT)
        # Back in touch: it adopts the committed state again.
        rgtest.wait_until(lambda: not (self.states([follower])[follower.id]
                                       or (0, 0, 0, True))[3],
                          timeout=15, what="the node leaves its local breaker")


class ClusterSnapshotTest(ClusterBreakerTest):
    """A small snapshot threshold: the restarted node restores the
    breakers from a snapshot (its "breakers" section) during start."""
    NODE = {"raft": {"snapshot_threshold": 16}}

    def test_state_survives_restart(self):
        self.trip_all()
        want = self.states()[1][:2]
        lead = self.cluster.wait_leader()
        for i in range(40):  # entries enough for a snapshot on every node
            r = lead.admin("PATCH", "/services/seed", {"retries": i % 5})
            self.assertEqual(r.status, 200, r)
        nd = [n for n in self.cluster.nodes if n is not lead][0]
        rgtest.wait_until(lambda: (nd.status() or {}).get("applied_index", 0)
                          >= (lead.status() or {}).get("commit_index", 1),
                          timeout=10, what="the follower applied everything")
        time.sleep(0.5)
        nd.stop()
        self.cluster.restart(nd)
        rgtest.wait_until(lambda: (self.states([nd])[nd.id] or ())[:2] ==
                          want, timeout=10, what="restarted node open")


for _name in list(vars(ClusterBreakerTest)):
    if _name.startswith("test_") and _name != "test_state_survives_restart":
        setattr(ClusterSnapshotTest, _name, None)


if __name__ == "__main__":
    unittest.main()
