#!/usr/bin/python3
"""Three-node cluster under crashes: SIGKILL the leader while clients hammer
the survivors' proxies (no proxied request fails; writes are accepted again
after the election); leadership transfer; a killed follower restarts and
catches up, by log and by snapshot install; a full-cluster SIGKILL and
restart loses no acknowledged write and does not re-apply the seed."""

import os
import re
import time
import uuid

import rgcluster
import rgtest
from rgcluster import ClusterTestCase, Hammer, scaled

ELECTION_BOUND = 15.0  # seconds from SIGKILL of the leader to a new write


class FailoverTest(ClusterTestCase):

    def add_route(self, prefix, node=None):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        rev, _ = rgcluster.add_service_with_route(
            self.cluster, name, self.up.port, "/" + name, node=node)
        return "/" + name, rev

    def test_leader_sigkill_survivors_keep_serving(self):
        """SIGKILL the leader: both survivors answer every proxied request
        (keep-alive clients, 2 per node) throughout the election, a new
        leader is elected among them, a write through a survivor is
        accepted and served by both; the old leader restarts and catches
        up."""
        c = self.cluster
        path, rev = self.add_route("pre")
        c.wait_served(path)
        lead = c.wait_leader()
        survivors = [nd for nd in c.nodes if nd is not lead]
        with Hammer(survivors, path, threads_per_node=2) as h:
            rgtest.wait_until(lambda: h.ok > 20, scaled(5.0), 0.01,
                              "hammer warm-up")
            t0 = time.monotonic()
            lead.kill()
            new_lead = c.wait_leader(timeout=scaled(ELECTION_BOUND),
                                     nodes=survivors)
            t_elect = time.monotonic() - t0
            self.assertNotEqual(new_lead.id, lead.id)
            name = "post-" + uuid.uuid4().hex[:8]
            r = c.write("POST", "/services",
                        {"name": name, "host": rgtest.HOST,
                         "port": self.up.port},
                        node=survivors[0],
                        timeout=scaled(ELECTION_BOUND))
            self.assertWrite(r, 201, "POST /services after the election")
            r = c.write("POST", "/services/%s/routes" % name,
                        {"name": name, "paths": ["/" + name],
                         "strip_path": False}, node=survivors[1])
            rev2 = self.assertWrite(r, 201, "POST route after the election")
            t_write = time.monotonic() - t0
            c.wait_served("/" + name, nodes=survivors)
            ok_before = h.ok
            rgtest.wait_until(lambda: h.ok > ok_before + 20, scaled(5.0),
                              0.01, "more proxied requests after the write")
        self.assertEqual(h.failures, [], "proxied requests failed on the "
                         "survivors (%d ok)" % h.ok)
        self.assertLess(t_write, scaled(ELECTION_BOUND))
        if os.environ.get("RG_VERBOSE"):
            print("leader %d killed: new leader %d after %.2fs, write after "
                  "%.2fs, %d proxied ok" % (lead.id, new_lead.id, t_elect,
                                            t_write, h.ok))
        # the old leader comes back as a follower and catches up
        c.restart(lead)
        c.wait_revision(rev2)
        c.wait_served("/" + name)
        self.assertIsNotNone(c.wait_leader())

    def test_leadership_transfer(self):
        """POST /cluster/transfer {id} moves leadership to that node within
        a bound; the cluster accepts writes afterwards (through the old
        leader too, which now forwards)."""
        c = self.cluster
        lead = c.wait_leader()
        target = [nd for nd in c.nodes if nd is not lead][0]
        r = lead.admin("POST", "/cluster/transfer", {"id": target.id})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        new = c.wait_leader(timeout=scaled(10.0),
                            not_id=lead.id)
        self.assertEqual(new.id, target.id)
        info = lead.cluster_info()
        self.assertEqual(rgcluster.leader_of(info), target.id, repr(info))
        path, rev = self.add_route("xfer", node=lead)
        c.wait_served(path)
        # transfer requested through a follower is forwarded
        other = [nd for nd in c.nodes if nd is not target][1]
        r = other.admin("POST", "/cluster/transfer", {"id": other.id})
        self.assertIn(r.status, (200, 202, 204), repr(r))
        new = c.wait_leader(timeout=scaled(10.0), not_id=target.id)
        self.assertEqual(new.id, other.id)

    def test_follower_restart_catches_up(self):
        """A SIGKILLed follower misses writes; restarted, it applies them
        all (same config_hash) and its proxy serves the new routes."""
        c = self.cluster
        fol = c.followers()[0]
        fol.kill()
        paths = []
        for i in range(10):
            p, rev = self.add_route("missed%d" % i)
            paths.append(p)
        c.wait_served(paths[-1], nodes=c.alive())
        c.restart(fol)
        c.wait_revision(rev, timeout=scaled(10.0))
        for p in paths:
            c.wait_served(p)
        rgtest.wait_until(c.same_hash, scaled(5.0), 0.05, "equal hashes")


def segment_ranges(data_dir):
    """[(first, last)] of libraft's closed segments in a data dir."""
    out = []
    for n in os.listdir(data_dir):
        m = re.fullmatch(r"(\d{16})-(\d{16})", n)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return sorted(out)


def snapshots(data_dir):
    """Indexes of snapshot-TERM-INDEX-TS files (not .meta)."""
    out = []
    for n in os.listdir(data_dir):
        m = re.fullmatch(r"snapshot-(\d+)-(\d+)-(\d+)", n)
        if m:
            out.append(int(m.group(2)))
    return sorted(out)


class SnapshotTest(ClusterTestCase):
    """A small raft.snapshot_threshold so the leader compacts its log."""

    NODE = {"raft": {"snapshot_threshold": 32}}

    def test_follower_catches_up_by_snapshot_install(self):
        """Kill a follower at applied index I; write until the leader's log
        no longer holds entry I+1 (compacted into a snapshot); restart the
        follower: the only way to catch up is a snapshot install. It must
        reach the same state and serve every route."""
        c = self.cluster
        lead = c.wait_leader()
        fol = [nd for nd in c.nodes if nd is not lead][0]
        first = "/" + "snap-first-" + uuid.uuid4().hex[:8]
        rgcluster.add_service_with_route(c, first[1:], self.up.port, first)
        c.wait_served(first)
        idx = int(fol.status()["applied_index"])
        fol.kill()

        def compacted():
            segs = segment_ranges(lead.data_dir)
            # entries still in closed segments start at segs[0][0]; open
            # segments only hold entries after the closed ones
            return segs and segs[0][0] > idx + 1 and snapshots(lead.data_dir)

        names = []
        end = time.monotonic() + scaled(90.0)
        while not compacted():
            if time.monotonic() > end or len(names) > 3000:
                self.fail("after %d writes the leader still holds entry "
                          "%d (segments %s, snapshots %s): snapshot "
                          "threshold/trailing not small enough to test "
                          "an install" % (len(names), idx + 1,
                                          segment_ranges(lead.data_dir)[:3],
                                          snapshots(lead.data_dir)))
            name = "snap-%d" % len(names)
            r = c.write("PUT", "/services/" + name,
                        {"name": name, "host": rgtest.HOST,
                         "port": self.up.port, "retries": len(names)},
                        node=lead)
            rev = self.assertWrite(r, (200, 201), "PUT " + name)
            names.append(name)
        last = "/" + "snap-last-" + uuid.uuid4().hex[:8]
        rev, _ = rgcluster.add_service_with_route(c, last[1:], self.up.port,
                                                  last)
        c.restart(fol)
        c.wait_revision(rev, timeout=scaled(20.0))
        c.wait_served(last)
        c.wait_served(first)
        rgtest.wait_until(c.same_hash, scaled(5.0), 0.05, "equal hashes")
        self.assertTrue(snapshots(fol.data_dir),
                        "the follower has no snapshot after catching up")
        g = fol.admin("GET", "/services/%s" % names[-1])
        self.assertEqual(g.status, 200, repr(g))
        self.assertEqual(g.json()["retries"], len(names) - 1)


class RestartTest(ClusterTestCase):

    def test_full_cluster_restart_loses_no_acknowledged_write(self):
        """Acknowledged writes (services via every node, a deletion of the
        seed service's route) survive SIGKILL of all three nodes at once;
        after restart every node serves the written routes, every object is
        readable, the deleted seed route stays deleted (the seed is not
        proposed again)."""
        c = self.cluster
        acked = {}
        for i in range(30):
            nd = c.nodes[i % 3]
            name = "dur-%d-%s" % (i, uuid.uuid4().hex[:6])
            r = c.write("POST", "/services",
                        {"name": name, "host": rgtest.HOST,
                         "port": self.up.port, "retries": i}, node=nd)
            acked[name] = (i, self.assertWrite(r, 201, "POST " + name))
        path, rev = self.add_route_last()
        r = c.write("DELETE", "/routes/seed")
        rev = self.assertWrite(r, 204, "DELETE /routes/seed")
        c.wait_served("/seed", 404)
        c.kill_all()
        for nd in c.nodes:
            nd.start(wait=False)
        for nd in c.nodes:
            nd.wait_ready()
        c.wait_leader()
        c.wait_revision(rev, timeout=scaled(15.0))
        c.wait_served(path)
        for nd in c.nodes:
            for name, (i, wrev) in acked.items():
                g = nd.admin("GET", "/services/" + name)
                self.assertEqual(g.status, 200, "node %d lost %s (acked at "
                                 "revision %d): %r" % (nd.id, name, wrev, g))
                self.assertEqual(g.json()["retries"], i)
            self.assertEqual(nd.proxy("/seed").status, 404,
                             "node %d: the seed came back" % nd.id)
        rgtest.wait_until(c.same_hash, scaled(5.0), 0.05, "equal hashes")

    def add_route_last(self):
        name = "dur-route-" + uuid.uuid4().hex[:6]
        rev, _ = rgcluster.add_service_with_route(
            self.cluster, name, self.up.port, "/" + name)
        return "/" + name, rev


if __name__ == "__main__":
    rgtest.main()
