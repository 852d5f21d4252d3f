#!/usr/bin/python3
"""The unsafe test switch --unsafe-local-admin-reads (docs/fault-injection.md §4.2 item
9): a binary built without --enable-failpoints refuses to start with it and
names the configure flag; a failpoint build accepts it, warns in its log,
reports it in GET /status ("unsafe": ["local-admin-reads"], empty on the
other nodes) and answers ?consistency=linearizable reads from its own store
even when no leader is reachable (where a safe node cannot answer 200).

Which case runs depends on the "features:" line of `raftgate -v`."""

import signal
import unittest

import rgtest
from rgcluster import ClusterTestCase, scaled

SWITCH = "--unsafe-local-admin-reads"


FEATURES = rgtest.build_features()
FAILPOINTS = FEATURES is not None and "failpoints" in FEATURES


class VersionTest(unittest.TestCase):

    def test_version_reports_features(self):
        """`raftgate -v` says whether this is a failpoint build: the tests
        below rely on it to pick their case."""
        self.assertIsNotNone(FEATURES, "no 'features:' line in raftgate -v")


@unittest.skipIf(FAILPOINTS, "failpoint build: the switch is accepted")
class RefusedTest(unittest.TestCase):

    def test_switch_refused_without_failpoints(self):
        """With a valid config, the switch still stops the start: non-zero
        exit, an error naming the switch and the configure flag, nothing
        listening."""
        gw = rgtest.Gateway()
        try:
            gw.write_config()
            for sw in (SWITCH, "--unsafe-lease-reclaim-early"):
                rc, out = rgtest.run_binary(["-c", gw.node_path, sw],
                                            timeout=scaled(10.0), cwd=gw.dir)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(sw, out)
            self.assertIn("--enable-failpoints", out)
            self.assertFalse(rgtest.port_open(gw.port))
            self.assertFalse(rgtest.port_open(gw.admin_port))
        finally:
            gw.cleanup()


@unittest.skipUnless(FAILPOINTS, "not a failpoint build (configure "
                                  "--enable-failpoints)")
class UnsafeReadsTest(ClusterTestCase):
    """Node 1 runs with the switch; nodes 2 and 3 do not."""
    SHARED = True

    @classmethod
    def make_cluster(cls):
        c = super().make_cluster()
        c.node(1).args = [SWITCH]
        return c

    def test_status_lists_the_switch(self):
        c = self.cluster
        self.assertEqual(c.node(1).status().get("unsafe"),
                         ["local-admin-reads"])
        for nd in c.nodes[1:]:
            self.assertEqual(nd.status().get("unsafe"), [], nd)

    def test_warning_logged_at_start(self):
        c = self.cluster
        self.assertRegex(c.node(1).error_log(),
                         r"\[warn\] UNSAFE: --unsafe-local-admin-reads")
        for nd in c.nodes[1:]:
            self.assertNotIn("UNSAFE", nd.error_log())

    def stopped(self, nodes):
        """SIGSTOP `nodes` (continued again by the returned callable)."""
        for nd in nodes:
            nd.send_signal(signal.SIGSTOP)

        def cont():
            for nd in nodes:
                nd.send_signal(signal.SIGCONT)
        return cont

    def linear_read(self, nd):
        """GET /routes?consistency=linearizable on nd: the response, or
        None when it did not answer in time."""
        try:
            return nd.admin("GET", "/routes?consistency=linearizable",
                            timeout=scaled(5.0))
        except OSError:
            return None

    def test_linearizable_read_served_locally(self):
        """With both peers stopped there is no leader to forward to and no
        quorum for a barrier: the unsafe node still answers 200 from its
        own store. A safe node in the same position does not (the
        control, so this test cannot pass for the wrong reason)."""
        c = self.cluster
        unsafe, safe = c.node(1), c.node(2)
        cont = self.stopped([nd for nd in c.nodes if nd is not unsafe])
        try:
            r = self.linear_read(unsafe)
        finally:
            cont()
        self.assertIsNotNone(r, "unsafe node: no answer")
        self.assertEqual(r.status, 200, r)
        self.assertIn("seed", [x["name"] for x in r.json()["data"]])

        c.wait_leader()
        cont = self.stopped([nd for nd in c.nodes if nd is not safe])
        try:
            r = self.linear_read(safe)
        finally:
            cont()
        self.assertTrue(r is None or r.status != 200,
                        "safe node answered a linearizable read with no "
                        "leader reachable: %r" % r)
        c.wait_leader()


if __name__ == "__main__":
    rgtest.main()
