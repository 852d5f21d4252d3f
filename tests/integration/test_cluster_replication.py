#!/usr/bin/python3
"""Three-node cluster, healthy: a write on any node is served by every
node's proxy within a bound; followers forward writes (the request id lands
in every node's applied log); read-your-writes on another node with
?min_revision, bounded; linearizable reads through a follower; concurrent
compare-and-set writers see exactly one winner per revision; a bad
declarative file is rejected with a path-qualified error and nothing is
applied; GET /config loads back to the same state."""

import json
import threading
import uuid

import rgcluster
import rgtest
from rgcluster import REV, ClusterTestCase, revision_of, scaled

SERVE_BOUND = 5.0  # seconds until all three proxies serve a new route


class ReplicationTest(ClusterTestCase):
    SHARED = True

    def uniq(self, prefix):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:8])

    def add_service(self, name, node=None, **kw):
        body = {"name": name, "protocol": "http", "host": rgtest.HOST,
                "port": self.up.port}
        body.update(kw)
        r = self.cluster.write("POST", "/services", body, node=node)
        rev = self.assertWrite(r, 201, "POST /services %s" % name)
        return r.json(), rev

    # -- replication -----------------------------------------------------
    def test_write_on_any_node_served_by_all(self):
        """A service+route written through each node in turn is proxied by
        all three nodes within SERVE_BOUND seconds."""
        c = self.cluster
        for nd in c.nodes:
            name = self.uniq("any%d" % nd.id)
            path = "/" + name
            rev, _ = rgcluster.add_service_with_route(c, name, self.up.port,
                                                      path, node=nd)
            self.assertIsNotNone(rev, "no %s on the route write" % REV)
            took = c.wait_served(path, 200, timeout=scaled(SERVE_BOUND))
            for other in c.nodes:
                r = other.proxy(path + "/echo")
                self.assertEqual(r.status, 200, "node %d: %r"
                                 % (other.id, r))
                self.assertEqual(r.json()["path"], path + "/echo")
            c.wait_revision(rev, timeout=scaled(2.0))
            if rgtest.os.environ.get("RG_VERBOSE"):
                print("write on node %d served everywhere in %.3fs"
                      % (nd.id, took))

    def test_follower_forwards_write(self):
        """A write sent to a follower is forwarded to the leader: it
        answers 201 with a revision, and the request id appears, at the
        same log index, in every node's /debug/applied."""
        c = self.cluster
        lead = c.wait_leader()
        fol = [nd for nd in c.nodes if nd is not lead][0]
        st = lead.status()
        since = int(st["applied_index"])
        rid = "fwd-" + uuid.uuid4().hex
        name = self.uniq("fwd")
        r = fol.admin("POST", "/services",
                      {"name": name, "host": rgtest.HOST,
                       "port": self.up.port},
                      headers={"X-Request-Id": rid})
        rev = self.assertWrite(r, 201, "POST /services on follower %d"
                               % fol.id)
        self.assertTrue(r.header("X-Raftgate-Version"),
                        "no X-Raftgate-Version: %r" % r)
        c.wait_revision(rev)
        seen = {}
        for nd in c.nodes:
            a = nd.admin("GET", "/debug/applied?since=%d" % since)
            self.assertEqual(a.status, 200, "node %d: %r" % (nd.id, a))
            hits = [e for e in a.json() if e.get("request_id") == rid]
            self.assertEqual(len(hits), 1, "node %d: request id %s in %r"
                             % (nd.id, rid, a.json()))
            seen[nd.id] = (hits[0]["index"], hits[0].get("revision"))
        self.assertEqual(len(set(seen.values())), 1,
                         "same entry on every node: %r" % seen)
        # and the object is readable on the follower (local read)
        g = fol.admin("GET", "/services/%s?min_revision=%d" % (name, rev))
        self.assertEqual(g.status, 200, repr(g))
        self.assertEqual(g.json()["name"], name)

    def test_service_by_host_name(self):
        """A service named by host name is served by every node: the
        rebuild asks the resolver cache, the lookup runs off the control
        loop, and the config is served once it answers."""
        first = rgtest.socket.getaddrinfo("localhost", self.up.port,
                                          type=rgtest.socket.SOCK_STREAM)[0]
        if first[4][0] != rgtest.HOST:
            self.skipTest("localhost resolves to %s first here, not %s"
                          % (first[4][0], rgtest.HOST))
        c = self.cluster
        name = self.uniq("byname")
        r = c.write("POST", "/services",
                    {"name": name, "host": "localhost",
                     "port": self.up.port})
        self.assertEqual(r.status, 201, r)
        r = c.write("POST", "/services/%s/routes" % name,
                    {"paths": ["/" + name], "strip_path": False})
        self.assertEqual(r.status, 201, r)
        c.wait_served("/" + name + "/echo", 200, timeout=scaled(SERVE_BOUND))

    def test_read_your_writes_on_another_node(self):
        """Write on node i, read on node i+1 with ?min_revision=R: always
        the value just written, and a revision >= R."""
        c = self.cluster
        name = self.uniq("ryw")
        self.add_service(name)
        for i in range(20):
            w = c.nodes[i % 3]
            rd = c.nodes[(i + 1) % 3]
            r = c.write("PATCH", "/services/" + name, {"retries": i},
                        node=w)
            rev = self.assertWrite(r, 200, "PATCH on node %d" % w.id)
            g = rd.admin("GET", "/services/%s?min_revision=%d"
                         % (name, rev))
            self.assertEqual(g.status, 200, "node %d: %r" % (rd.id, g))
            self.assertEqual(g.json()["retries"], i,
                             "round %d: node %d read %r after the write on "
                             "node %d at revision %d"
                             % (i, rd.id, g.json(), w.id, rev))
            self.assertGreaterEqual(revision_of(g), rev, repr(g))

    def test_min_revision_wait_is_bounded(self):
        """?min_revision far ahead answers 504 after the bounded wait (5 s)
        instead of hanging."""
        nd = self.cluster.nodes[1]
        st = nd.status()
        t0 = rgtest.time.monotonic()
        g = nd.admin("GET", "/services?min_revision=%d"
                     % (int(st["config_version"]) + 1000000),
                     timeout=scaled(15.0))
        took = rgtest.time.monotonic() - t0
        self.assertEqual(g.status, 504, repr(g))
        self.assertLess(took, scaled(8.0))

    def test_linearizable_read_on_follower(self):
        """Right after a write acknowledged by the leader, a
        ?consistency=linearizable read on a follower sees it."""
        c = self.cluster
        name = self.uniq("lin")
        self.add_service(name)
        lead = c.wait_leader()
        for i in range(10):
            r = c.write("PATCH", "/services/" + name, {"retries": i},
                        node=lead)
            rev = self.assertWrite(r, 200)
            for nd in c.nodes:
                if nd is lead:
                    continue
                g = nd.admin("GET", "/services/%s?consistency=linearizable"
                             % name)
                self.assertEqual(g.status, 200, repr(g))
                self.assertEqual(g.json()["retries"], i,
                                 "node %d stale: %r" % (nd.id, g.json()))
                self.assertGreaterEqual(revision_of(g) or 0, rev, repr(g))

    def test_consumers_replicated(self):
        """Consumers are stored and replicated (the data plane ignores
        them): POST on a follower, read on every node."""
        c = self.cluster
        user = self.uniq("user")
        r = c.write("POST", "/consumers", {"username": user},
                    node=c.followers()[0])
        rev = self.assertWrite(r, 201, "POST /consumers")
        cid = r.json()["id"]
        for nd in c.nodes:
            g = nd.admin("GET", "/consumers/%s?min_revision=%d" % (cid, rev))
            self.assertEqual(g.status, 200, "node %d: %r" % (nd.id, g))
            self.assertEqual(g.json()["username"], user)

    # -- compare-and-set -------------------------------------------------
    def test_concurrent_cas_one_winner_per_revision(self):
        """Rounds of 6 writers (2 per node) PATCH the same service with
        If-Match: <its revision>. Each round exactly one gets 200, the rest
        412; the winner's value is what every node then reads."""
        c = self.cluster
        name = self.uniq("cas")
        _, rev = self.add_service(name, retries=0)
        writers = [nd for nd in c.nodes for _ in range(2)]
        for rnd in range(8):
            results = [None] * len(writers)
            barrier = threading.Barrier(len(writers))

            def run(k, nd, rev=rev):
                value = rnd * 100 + k
                barrier.wait(scaled(10.0))
                try:
                    results[k] = (value, nd.admin(
                        "PATCH", "/services/" + name, {"retries": value},
                        headers={"If-Match": str(rev),
                                 "X-Request-Id": uuid.uuid4().hex}))
                except OSError as e:
                    results[k] = (value, e)

            ts = [threading.Thread(target=run, args=(k, nd))
                  for k, nd in enumerate(writers)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(scaled(30.0))
            statuses = [getattr(r, "status", r) for _, r in results]
            for value, r in results:
                self.assertIn(getattr(r, "status", None), (200, 412),
                              "round %d: %r" % (rnd, r))
            winners = [(v, r) for v, r in results if r.status == 200]
            self.assertEqual(len(winners), 1,
                             "round %d at revision %d: %r"
                             % (rnd, rev, statuses))
            value, w = winners[0]
            new_rev = revision_of(w)
            self.assertGreater(new_rev, rev)
            for nd in c.nodes:
                g = nd.admin("GET", "/services/%s?min_revision=%d"
                             % (name, new_rev))
                self.assertEqual(g.status, 200, repr(g))
                self.assertEqual(g.json()["retries"], value,
                                 "round %d: node %d has %r, winner wrote %d"
                                 % (rnd, nd.id, g.json(), value))
            rev = new_rev
        # a stale If-Match still loses
        r = c.write("PATCH", "/services/" + name, {"retries": 1},
                    headers={"If-Match": str(rev - 1)})
        self.assertEqual(r.status, 412, repr(r))

    # -- declarative -----------------------------------------------------
    def config_state(self):
        """(GET /config body via the leader, linearizable) and the set of
        every node's config_hash once they agree."""
        c = self.cluster
        lead = c.wait_leader()
        g = lead.admin("GET", "/config?consistency=linearizable")
        self.assertEqual(g.status, 200, repr(g))
        rev = revision_of(g)
        c.wait_revision(rev or 0)
        h = rgtest.wait_until(c.same_hash, scaled(5.0), 0.05,
                              "equal config_hash on every node")
        return g.body, rev, h

    def test_bad_declarative_rejected_nothing_applied(self):
        """POST /config with an invalid document answers 400 naming the
        offending path; no node applies any of it (revision, hash, export
        unchanged, the valid part is not served)."""
        c = self.cluster
        before, rev, h = self.config_state()
        ok_svc = {"name": "new-ok", "host": rgtest.HOST,
                  "port": self.up.port,
                  "routes": [{"name": "new-ok", "paths": ["/bad-new"]}]}
        cases = [
            ("bad path",
             {"_format_version": "3.0", "services": [
                 ok_svc,
                 {"name": "bad", "host": rgtest.HOST, "port": self.up.port,
                  "routes": [{"name": "bad", "paths": ["nope"]}]}]},
             "services[1].routes[0].paths[0]"),
            ("bad port",
             {"_format_version": "3.0", "services": [
                 ok_svc, {"name": "bad", "host": rgtest.HOST,
                          "port": 70000}]},
             "services[1].port"),
            ("unknown service",
             {"_format_version": "3.0", "services": [ok_svc],
              "routes": [{"name": "orphan", "paths": ["/o"],
                          "service": {"name": "ghost"}}]},
             "routes[0]"),
            ("bad version",
             {"_format_version": "9.9", "services": [ok_svc]},
             "_format_version"),
        ]
        for what, doc, where in cases:
            for nd in c.nodes:  # leader and followers (forwarded)
                r = nd.admin("POST", "/config", doc)
                self.assertEqual(r.status, 400, "%s via node %d: %r"
                                 % (what, nd.id, r))
                self.assertIn(where, r.body.decode("utf-8", "replace"),
                              "%s: the error does not name %s: %r"
                              % (what, where, r))
        # YAML that does not parse
        r = c.nodes[1].admin("POST", "/config", "services: [\n  - {name: x",
                             headers={"Content-Type": "application/x-yaml"})
        self.assertEqual(r.status, 400, repr(r))
        after, rev2, h2 = self.config_state()
        self.assertEqual(rev2, rev, "revision moved")
        self.assertEqual(h2, h, "config_hash changed")
        self.assertEqual(json.loads(after), json.loads(before))
        for nd in c.nodes:
            st = nd.status()
            self.assertEqual(int(st["config_version"]), rev, repr(st))
            self.assertEqual(nd.proxy("/bad-new").status, 404)
            self.assertEqual(nd.proxy("/seed").status, 200)

    def test_valid_declarative_applied_and_export_round_trips(self):
        """POST /config (YAML) replaces the config atomically on every node;
        GET /config posted back gives the same config_hash."""
        c = self.cluster
        path = "/" + self.uniq("decl")
        yaml = ("_format_version: \"3.0\"\n"
                "services:\n"
                "  - name: seed\n"
                "    host: %s\n"
                "    port: %d\n"
                "    routes:\n"
                "      - name: seed\n"
                "        paths: [/seed]\n"
                "        strip_path: false\n"
                "      - name: decl\n"
                "        paths: [%s]\n"
                "        strip_path: false\n" % (rgtest.HOST, self.up.port,
                                                 path))
        r = c.write("POST", "/config", yaml,
                    headers={"Content-Type": "application/x-yaml"},
                    node=c.nodes[2])
        rev = self.assertWrite(r, 201, "POST /config")
        c.wait_revision(rev)
        c.wait_served(path, 200, timeout=scaled(SERVE_BOUND))
        export, rev1, h1 = self.config_state()
        r = c.write("POST", "/config", json.loads(export))
        self.assertWrite(r, 201, "POST /config of the export")
        _, _, h2 = self.config_state()
        self.assertEqual(h1, h2, "export did not load back to the same "
                         "state")
        c.wait_served(path, 200)
        c.wait_served("/seed", 200)


if __name__ == "__main__":
    rgtest.main()
