#!/usr/bin/python3
"""rate-limiting with policy cluster on a 3-node cluster (RAFT.md §6
design A: escrow leases through the Raft ledger): with clients on all
three nodes, unevenly (70/20/10), the requests admitted in a window never
pass its limit L, counted exactly at the upstream, and at least 97% of L
is admitted; still at most L when the leader is SIGSTOPped or a follower
SIGKILLed mid-window; the negative control --unsafe-lease-reclaim-early
(test builds) admits more than L, which shows the check can fail; a day
window's count survives a full restart of all three nodes; policy local
still counts per node; a follower whose clock runs 5 s ahead of the
leader's admits its share. Admitted answers carry X-Raftgate-Quota
(node=..;lease=..;window=<start>) with debug_header on."""

import collections
import os
import threading
import time
import unittest

import rgtest
from rgcluster import Cluster, ClusterTestCase, gateway_doc, route, scaled, \
    service

FEATURES = rgtest.build_features()
FAILPOINTS = FEATURES is not None and "failpoints" in FEATURES

L = 300          # the minute window's limit
LEASE_MS = 500   # D, as the fault-injection suite runs it
GUARD = 25       # s a minute test needs before the window ends
SPLIT = (70, 20, 10)  # percent of the load on nodes 1, 2, 3
RATE = 200       # requests/s offered in all


def rl(**config):
    config.setdefault("policy", "cluster")
    config.setdefault("limit_by", "service")
    config.setdefault("debug_header", True)
    return {"name": "rate-limiting", "config": config}


def fresh_minute(need=GUARD):
    """Start early enough in a minute for the test to stay in it."""
    left = 60 - time.time() % 60
    if left < need:
        time.sleep(left + 0.3)


class Load:
    """Paced clients on keep-alive connections: @rates[i] requests/s to
    nodes[i]'s proxy. Records (node id, status, window of the
    X-Raftgate-Quota header or None) per answer."""

    def __init__(self, nodes, path, rates):
        self.path = path
        self.jobs = [(nd, r) for nd, r in zip(nodes, rates) if r > 0]
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.answers = []
        self.errors = 0
        self.threads = []

    def _run(self, nd, rate):
        conn = None
        period = 1.0 / rate
        nxt = time.monotonic()
        while not self.stop_ev.is_set():
            nxt += period
            try:
                if conn is None:
                    conn = rgtest.http.client.HTTPConnection(
                        rgtest.HOST, nd.port, timeout=scaled(3.0))
                r = rgtest.http_request(conn, "GET", self.path)
                q = r.header("X-Raftgate-Quota")
                win = None
                if q:
                    win = dict(p.split("=", 1) for p in q.split(";"))["window"]
                with self.lock:
                    self.answers.append((nd.id, r.status, win, q))
                if (r.header("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, rgtest.http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop_ev.wait(delay)
            else:
                nxt = time.monotonic()
        if conn is not None:
            conn.close()

    def __enter__(self):
        for nd, r in self.jobs:
            t = threading.Thread(target=self._run, args=(nd, r), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(scaled(10.0))

    def admitted(self):
        with self.lock:
            return [a for a in self.answers if a[1] == 200]

    def statuses(self):
        with self.lock:
            return collections.Counter(a[1] for a in self.answers)


class QuotaTestCase(ClusterTestCase):
    ARGS = []

    @classmethod
    def seed(cls, up):
        return gateway_doc(service("quota", up.port, routes=[
            route("q", ["/q"], plugins=[rl(minute=L)]),
            route("day", ["/day"], plugins=[rl(day=60)]),
            route("local", ["/local"],
                  plugins=[rl(minute=5, policy="local")]),
        ]))

    @classmethod
    def make_cluster(cls):
        c = Cluster(cls.N, cls.seed(cls.up),
                    {"raft": {"quota_lease_ms": LEASE_MS}})
        for nd in c.nodes:
            nd.args = list(cls.ARGS)
        return c

    def rates(self):
        return [RATE * p / 100.0 for p in SPLIT]

    def drive(self, seconds, during=None, path="/q/count?key=q"):
        """Offer the uneven load for @seconds (calling @during(load) after
        a third of them); returns the Load."""
        nodes = self.cluster.nodes
        base = self.up.hits("q")
        with Load(nodes, path, self.rates()) as load:
            if during is not None:
                time.sleep(seconds / 3.0)
                during(load)
                time.sleep(seconds * 2 / 3.0)
            else:
                time.sleep(seconds)
        self.counted = self.up.hits("q") - base
        return load

    def check_windows(self, load, limit=L):
        """Per window (from the debug header): admitted <= limit; every
        admitted answer named one; the upstream saw exactly the admitted
        requests. Returns {window: admitted}."""
        adm = load.admitted()
        per = collections.Counter(a[2] for a in adm)
        self.assertNotIn(None, per, "an admitted answer without "
                         "X-Raftgate-Quota")
        for w, n in per.items():
            self.assertLessEqual(n, limit, "window %s admitted %d > %d (%s)"
                                 % (w, n, limit, load.statuses()))
        self.assertEqual(self.counted, len(adm),
                         "upstream count != admitted answers")
        return per


class ClusterQuotaTest(QuotaTestCase):

    def test_uneven_load_admits_limit_exactly(self):
        """70/20/10 over three nodes at 200 req/s, minute limit 300: at
        most 300 admitted in the window (counted at the upstream) and at
        least 97% of it; every node admitted some; the rest get 429 with
        Kong's headers."""
        fresh_minute()
        load = self.drive(6.0)
        per = self.check_windows(load)
        self.assertEqual(len(per), 1, per)
        n = sum(per.values())
        self.assertGreaterEqual(n, 0.97 * L, "admitted %d of %d: %s"
                                % (n, L, load.statuses()))
        by_node = collections.Counter(a[0] for a in load.admitted())
        self.assertEqual(set(by_node), {1, 2, 3}, by_node)
        self.assertGreater(load.statuses()[429], 0)
        r = self.cluster.node(3).proxy("/q/count?key=q")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("X-RateLimit-Limit-Minute"), str(L))
        self.assertEqual(r.header("X-RateLimit-Remaining-Minute"), "0")
        self.assertIsNotNone(r.header("Retry-After"))
        st = self.cluster.node(1).status()
        self.assertEqual(st["quota"]["lease_ms"], LEASE_MS)
        self.assertTrue(any("|minute|service:" in l["key"] and l["used"] > 0
                            for l in st["quota"]["leases"]), st["quota"])
        # The server's accounting (JEPSEN.md §4.4 c2): per lease id, the
        # admitted answers naming it <= the tokens /status says it got,
        # and only the node it names used it.
        leases = {}
        for nd in self.cluster.nodes:
            for l in nd.status()["quota"]["leases"]:
                leases[l["id"]] = (nd.id, l)
        per_lease = collections.Counter()
        for node_id, _, _, q in load.admitted():
            f = dict(p.split("=", 1) for p in q.split(";"))
            self.assertEqual(f["node"], "n%d" % node_id, q)
            per_lease[f["lease"]] += 1
        for lid, n in per_lease.items():
            self.assertIn(lid, leases)
            owner, l = leases[lid]
            self.assertEqual("n%d" % owner, lid.split(".")[0])
            self.assertLessEqual(n, l["tokens"], (lid, l))
            self.assertLessEqual(n, l["used"], (lid, l))
            self.assertLessEqual(l["used"], l["tokens"], (lid, l))

    def test_leader_paused_mid_window(self):
        """SIGSTOP the leader a third into the load for 3 s (a new leader
        is elected), then SIGCONT: still at most L in the window; the
        paused node spends nothing of an expired lease when it wakes."""
        fresh_minute()
        lead = self.cluster.leader()

        def pause(load):
            lead.send_signal(rgtest.signal.SIGSTOP)
            time.sleep(3.0)
            lead.send_signal(rgtest.signal.SIGCONT)

        load = self.drive(9.0, pause)
        self.check_windows(load)

    def test_follower_killed_mid_window(self):
        """SIGKILL a follower a third into the load: still at most L (its
        leases are stranded, never spent twice)."""
        fresh_minute()
        f = self.cluster.followers()[0]

        def kill(load):
            f.kill()
            f.expect_alive = False

        load = self.drive(6.0, kill)
        self.check_windows(load)

    def test_day_window_survives_full_restart(self):
        """Admit part of a day window's 60, stop all three nodes, start
        them again: the count goes on (at most 60 in the day, where a
        fresh ledger would admit 60 more)."""
        left = 86400 - time.time() % 86400
        if left < 60:
            time.sleep(left + 1)
        statuses = [self.cluster.nodes[i % 3].proxy("/day/count?key=d").status
                    for i in range(30)]
        self.assertEqual(statuses.count(200), 30, statuses)
        problems = self.cluster.stop()
        self.assertEqual(problems, [])
        self.cluster.start()
        after = []
        for i in range(120):
            after.append(self.cluster.nodes[i % 3].proxy(
                "/day/count?key=d").status)
        self.assertLessEqual(30 + after.count(200), 60, after)
        self.assertGreater(after.count(200), 0, after)
        self.assertEqual(self.up.hits("d"), 30 + after.count(200))

    def test_policy_local_counts_per_node(self):
        """policy local is unchanged: each node counts its own 5."""
        fresh_minute(5)
        ok = 0
        for nd in self.cluster.nodes:
            sts = [nd.proxy("/local/count?key=l").status for _ in range(7)]
            self.assertEqual(sts, [200] * 5 + [429] * 2)
            ok += sts.count(200)
        self.assertEqual(ok, 15)


FAKETIME_LIB = next((p for p in (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1") if os.path.exists(p)),
    None)
LS = 40          # the second window's limit
SKEW = 5         # s a follower's clock runs ahead (forwarded admin
                 # requests are stamped and accepted within 30 s)
LEAD_SKEW = 8    # s a leader's clock runs ahead before it hands over


@unittest.skipUnless(FAKETIME_LIB, "needs libfaketime")
class SkewedClockQuotaTest(QuotaTestCase):
    """A follower whose clock is SKEW s ahead of the leader's, more than a
    window of a second: its grants are spent by the ledger's clock, so
    it admits its share and the cluster about L a window. Held against
    its own clock each grant it got was already past its window's end,
    it asked again at once and the cluster admitted about a tenth of L
    (the fault-injection clock test's c4/quota-utilization)."""

    @classmethod
    def seed(cls, up):
        return gateway_doc(service("quota", up.port, routes=[
            route("s", ["/s"], plugins=[rl(second=LS)]),
        ]))

    def skewed_follower(self, skew):
        """A follower restarted with its clock @skew s ahead."""
        f = self.cluster.followers()[0]
        f.stop()
        f.env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+%d" % skew}
        if rgtest.sanitized_binary():
            # libfaketime comes before the ASan runtime, which ASan
            # refuses to start with unless told not to check
            f.env["ASAN_OPTIONS"] = ":".join(filter(None, [
                os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
        f.start()
        f.wait_ready()
        return f

    def load_s(self, seconds):
        """Even load on all three nodes, twice the limit, for @seconds:
        (admitted answers, {window: admitted}), none over LS."""
        with Load(self.cluster.nodes, "/s/count?key=s",
                  [2.0 * LS / 3] * 3) as load:
            time.sleep(seconds)
        adm = load.admitted()
        per = collections.Counter(a[2] for a in adm)
        for w, n in per.items():
            self.assertLessEqual(n, LS, "window %s admitted %d > %d"
                                 % (w, n, LS))
        return adm, per

    def test_follower_ahead_admits_its_share(self):
        f = self.skewed_follower(SKEW)
        self.assertGreater(f.status()["quota"]["lease_ms"], 0)
        adm, _ = self.load_s(6.0)
        by_node = collections.Counter(a[0] for a in adm)
        # about 6 windows of LS; the skewed follower gets its share
        self.assertGreaterEqual(len(adm), 0.6 * 6 * LS,
                                "admitted %d in 6 s of %d/s: %s" % (
                                    len(adm), LS, dict(by_node)))
        self.assertGreaterEqual(by_node[f.id], 0.15 * len(adm),
                                "the follower %d ahead by %d s admitted %d "
                                "of %d: %s" % (f.id, SKEW, by_node[f.id],
                                               len(adm), dict(by_node)))

    def test_leader_after_one_ahead_goes_on_granting(self):
        """The leader's clock is LEAD_SKEW s ahead, so the ledger's windows
        are; leadership then moves to a node with the right time: the
        windows go on from the ledger's clock (the new leader's stamps
        carry the difference), so about L a second is admitted at once.
        Before, its stamps were behind the ledger's running max, which
        stood still: no window rolled and nothing was admitted until its
        clock caught up."""
        c = self.cluster
        f = self.skewed_follower(LEAD_SKEW)
        lead = c.wait_leader()
        r = lead.admin("POST", "/cluster/transfer", {"id": f.id})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        self.assertEqual(c.wait_leader(timeout=scaled(10.0),
                                       not_id=lead.id).id, f.id)
        self.assertGreater(len(self.load_s(2.0)[0]), 0)
        other = [nd for nd in c.nodes if nd is not f][0]
        r = f.admin("POST", "/cluster/transfer", {"id": other.id})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        self.assertEqual(c.wait_leader(timeout=scaled(10.0),
                                       not_id=f.id).id, other.id)
        adm, per = self.load_s(5.0)
        self.assertGreaterEqual(len(adm), 0.6 * 5 * LS,
                                "admitted %d in 5 s of %d/s after the "
                                "transfer (windows %s)" % (len(adm), LS,
                                                           sorted(per)))


@unittest.skipUnless(FAILPOINTS, "needs a test build (--enable-failpoints)")
class UnsafeReclaimTest(QuotaTestCase):
    """The negative control: with --unsafe-lease-reclaim-early, nodes give
    unused tokens back and still spend them: the same load admits more
    than L, so the check above can fail."""

    ARGS = ["--unsafe-lease-reclaim-early"]

    def test_unsafe_reclaim_over_admits(self):
        fresh_minute()
        st = self.cluster.node(1).status()
        self.assertIn("lease-reclaim-early", st["unsafe"])
        self.assertRegex(self.cluster.node(1).error_log(),
                         r"\[warn\] UNSAFE: --unsafe-lease-reclaim-early")
        load = self.drive(6.0)
        per = collections.Counter(a[2] for a in load.admitted())
        self.assertGreater(max(per.values()), L,
                           "the negative control did not over-admit: %s"
                           % dict(per))


if __name__ == "__main__":
    unittest.main()
