#!/usr/bin/python3
"""Kong upstreams and targets: a service whose host is an upstream's name
balances over its targets with the upstream's algorithm (weighted
round-robin, least-connections, consistent hashing by header), passive
health checks eject a target that fails and active ones bring it back or
mark a stopped one down, and with no usable target the answer is Kong's
503. Real upstream processes on loopback ephemeral ports; one worker, so
the per-worker round-robin turn is exact."""

import concurrent.futures
import unittest

import rgtest
from rgcluster import ClusterTestCase, revision_of, scaled
from rgtest import DeadPort, Gateway, Upstream, gateway_doc, route, service

NO_PEER = "failure to get a peer from the ring-balancer"


def upstream(name, targets, **kw):
    u = {"name": name, "targets": [
        {"target": "127.0.0.1:%d" % port, "weight": w} for port, w in targets]}
    u.update(kw)
    return u


class UpstreamsTest(unittest.TestCase):
    def setUp(self):
        self.ups = [Upstream().start() for _ in range(3)]
        self.gw = None
        self.dead = None

    def tearDown(self):
        try:
            if self.gw is not None:
                code = self.gw.stop()
                self.assertEqual(code, 0, self.gw.log_tail(40))
        finally:
            if self.gw is not None:
                self.gw.cleanup()
            for u in self.ups:
                u.stop()
            if self.dead is not None:
                self.dead.close()

    def start(self, ups, retries=0):
        doc = gateway_doc(service("s", 1, host="backend.test",
                                  retries=retries,
                                  routes=[route("r", ["/"])]),
                          upstreams=ups)
        self.gw = Gateway(doc, {"proxy": {"workers": 1}})
        self.gw.start()

    def get(self, path, headers=None):
        return rgtest.request(self.gw.port, "GET", path, headers)

    def test_weights_3_to_1(self):
        """Weights 300 and 100: 30 and 10 of 40 requests."""
        a, b = self.ups[0], self.ups[1]
        self.start([upstream("backend.test", [(a.port, 300), (b.port, 100)])])
        for _ in range(40):
            r = self.get("/count?key=w")
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual((a.hits("w"), b.hits("w")), (30, 10))
        # Host is the picked target's, as Kong sends it.
        hosts = {self.get("/echo").json()["headers"]["Host"]
                 for _ in range(4)}
        self.assertEqual(hosts, {"127.0.0.1:%d" % a.port,
                                 "127.0.0.1:%d" % b.port})

    def test_least_connections_avoids_slow_target(self):
        """Eight clients at once: the target that takes 300 ms per request
        gets few of them, the fast one the rest (round-robin would give
        each half)."""
        a, b = self.ups[0], self.ups[1]
        b.slow_ms = 300
        self.start([upstream("backend.test", [(a.port, 100), (b.port, 100)],
                             algorithm="least-connections")])

        def one(_):
            return self.get("/count?key=lc").status

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            statuses = list(ex.map(one, range(80)))
        self.assertEqual(statuses, [200] * 80)
        self.assertEqual(a.hits("lc") + b.hits("lc"), 80)
        self.assertLess(b.hits("lc"), 20, (a.hits("lc"), b.hits("lc")))

    def test_hash_on_header_sticks(self):
        """consistent-hashing on X-User: each user's requests all reach one
        target, and the users spread over the targets."""
        self.start([upstream("backend.test",
                             [(u.port, 100) for u in self.ups],
                             algorithm="consistent-hashing",
                             hash_on="header", hash_on_header="X-User")])
        used = set()
        for n in range(12):
            key = "user-%d" % n
            for _ in range(4):
                r = self.get("/count?key=" + key, {"X-User": key})
                self.assertEqual(r.status, 200, r.body)
            where = [i for i, u in enumerate(self.ups) if u.hits(key)]
            self.assertEqual(len(where), 1, (key, where))
            self.assertEqual(self.ups[where[0]].hits(key), 4)
            used.add(where[0])
        self.assertGreater(len(used), 1)

    def test_passive_ejects_then_active_brings_back(self):
        """A target answering 500 is ejected after 3 (passive
        http_failures), gets nothing meanwhile, and once it answers 200
        again the active checks (run while it is down) bring it back."""
        a, b = self.ups[0], self.ups[1]
        b.force_status = 500
        hc = {"passive": {"unhealthy": {"http_failures": 3,
                                        "http_statuses": [500]}},
              "active": {"http_path": "/status/200",
                         "healthy": {"successes": 2},
                         "unhealthy": {"interval": 0.2}}}
        self.start([upstream("backend.test", [(a.port, 100), (b.port, 100)],
                             healthchecks=hc)])
        bad = 0
        for _ in range(10):
            bad += self.get("/count?key=p").status == 500
        self.assertEqual(bad, 3)
        self.gw.wait_log(r"target 127\.0\.0\.1:%d: unhealthy \(passive"
                         % b.port)
        for _ in range(10):
            self.assertEqual(self.get("/count?key=p2").status, 200)
        self.assertEqual(b.hits("p2"), 0)
        b.force_status = None
        self.gw.wait_log(r"target http://127\.0\.0\.1:%d/status/200: "
                         r"healthy \(active" % b.port)
        for _ in range(10):
            self.assertEqual(self.get("/count?key=p3").status, 200)
        self.assertEqual(b.hits("p3"), 5)

    def test_active_marks_stopped_target_down_and_up(self):
        """A stopped target fails its active check and is skipped (no
        retry is needed: retries 0 and every request succeeds); started
        again on its port, it is checked healthy and served again."""
        a, b = self.ups[0], self.ups[1]
        port = b.port
        hc = {"active": {"http_path": "/status/200", "timeout": 0.5,
                         "healthy": {"interval": 0.2, "successes": 1},
                         "unhealthy": {"interval": 0.2, "tcp_failures": 1}}}
        self.start([upstream("backend.test", [(a.port, 100), (port, 100)],
                             healthchecks=hc)])
        b.stop()
        self.gw.wait_log(r"target http://127\.0\.0\.1:%d/status/200: "
                         r"unhealthy \(active" % port)
        for _ in range(10):
            r = self.get("/count?key=d")
            self.assertEqual(r.status, 200, r.body)
        self.assertEqual(a.hits("d"), 10)
        health = rgtest.request(self.gw.admin_port, "GET",
                                "/upstreams/backend.test/health").json()
        self.assertEqual({t["target"]: t["health"] for t in health["data"]},
                         {"127.0.0.1:%d" % a.port: "HEALTHY",
                          "127.0.0.1:%d" % port: "UNHEALTHY"}, health)
        self.ups[1] = b = Upstream(port=port).start()
        self.gw.wait_log(r"target http://127\.0\.0\.1:%d/status/200: "
                         r"healthy \(active" % port)
        for _ in range(10):
            self.assertEqual(self.get("/count?key=u").status, 200)
        self.assertEqual(b.hits("u"), 5)

    def test_admin_sets_target_health(self):
        """POST .../targets/{t}/unhealthy takes a target out on this node,
        .../healthy brings it back (Kong's endpoints)."""
        a, b = self.ups[0], self.ups[1]
        self.start([upstream("backend.test", [(a.port, 100), (b.port, 100)])])
        path = "/upstreams/backend.test/targets/127.0.0.1:%d/" % b.port
        r = rgtest.request(self.gw.admin_port, "POST", path + "unhealthy")
        self.assertEqual(r.status, 204, r.body)
        for _ in range(6):
            self.assertEqual(self.get("/count?key=h1").status, 200)
        self.assertEqual((a.hits("h1"), b.hits("h1")), (6, 0))
        r = rgtest.request(self.gw.admin_port, "POST", path + "healthy")
        self.assertEqual(r.status, 204, r.body)
        for _ in range(6):
            self.assertEqual(self.get("/count?key=h2").status, 200)
        self.assertEqual(b.hits("h2"), 3)
        r = rgtest.request(self.gw.admin_port, "POST",
                           "/upstreams/backend.test/targets/10.9.9.9:1/healthy")
        self.assertEqual(r.status, 404, r.body)

    def test_all_down_is_503(self):
        """The only target refuses connections: after one failure (passive
        tcp_failures 1) it is down, and requests get Kong's 503."""
        self.dead = DeadPort()
        hc = {"passive": {"unhealthy": {"tcp_failures": 1}}}
        self.start([upstream("backend.test", [(self.dead.port, 100)],
                             healthchecks=hc)])
        self.assertEqual(self.get("/x").status, 502)
        r = self.get("/x")
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["message"], NO_PEER)

    def test_upstream_without_targets_is_503(self):
        self.start([{"name": "backend.test"}])
        r = self.get("/x")
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["message"], NO_PEER)


class ClusterUpstreamsTest(ClusterTestCase):
    """Upstreams and targets through the admin API of a three-node
    cluster: written on a follower, listed and served by every node."""

    SHARED = True

    def everywhere(self, path, want):
        """Wait until GET @path on every node's admin API answers @want
        (a predicate on the response)."""
        c = self.cluster

        def pred():
            return all(want(nd.admin("GET", path)) for nd in c.alive())
        rgtest.wait_until(pred, scaled(10.0), 0.05, "%s on every node" % path)

    def test_admin_crud_replicates(self):
        c = self.cluster
        a, b = Upstream().start(), Upstream().start()
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        follower = c.followers()[0]
        r = c.write("POST", "/upstreams", {"name": "cl.up"}, node=follower)
        self.assertEqual(r.status, 201, r)
        uid = r.json()["id"]
        r = c.write("POST", "/upstreams/cl.up/targets",
                    {"target": "127.0.0.1:%d" % a.port, "weight": 300})
        self.assertEqual(r.status, 201, r)
        r = c.write("POST", "/upstreams/%s/targets" % uid,
                    {"target": "127.0.0.1:%d" % b.port})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["weight"], 100)
        self.assertEqual(r.json()["upstream"], {"id": uid})
        r = c.write("POST", "/upstreams/cl.up/targets",
                    {"target": "127.0.0.1:%d" % b.port})
        self.assertIn(r.status, (400, 409), r)
        r = c.write("POST", "/upstreams/nope/targets", {"target": "x:1"})
        self.assertEqual(r.status, 404, r)
        r = c.write("POST", "/upstreams", {"name": "bad.up",
                                           "algorithm": "latency"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("algorithm", r.json()["message"])
        r = c.write("POST", "/upstreams/cl.up/targets", {"target": "a:0"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("target", r.json()["message"])
        r = c.write("POST", "/services", {"name": "cl", "host": "cl.up"})
        self.assertEqual(r.status, 201, r)
        r = c.write("POST", "/services/cl/routes", {"paths": ["/cl"]})
        self.assertEqual(r.status, 201, r)
        c.wait_revision(revision_of(r))
        c.wait_served("/cl/count?key=warm")
        self.everywhere("/upstreams/cl.up/targets",
                        lambda r: len(r.json()["data"]) == 2)
        tb = "/upstreams/cl.up/targets/127.0.0.1:%d" % b.port
        self.everywhere(tb, lambda r: r.status == 200)
        for nd in c.nodes:
            h = nd.admin("GET", "/upstreams/cl.up/health").json()["data"]
            self.assertEqual(sorted(t["health"] for t in h),
                             ["HEALTHY", "HEALTHY"], h)
        # Weight 0 on one node's write: no node sends it anything.
        r = c.write("PATCH", tb, {"weight": 0}, node=c.nodes[2])
        self.assertEqual(r.status, 200, r)
        c.wait_revision(revision_of(r))
        before = b.hits("z")
        for nd in c.nodes:
            for _ in range(6):
                self.assertEqual(nd.proxy("/cl/count?key=z").status, 200)
        self.assertEqual(b.hits("z"), before)
        self.assertEqual(a.hits("z"), 18)
        r = c.write("DELETE", tb)
        self.assertEqual(r.status, 204, r)
        self.everywhere(tb, lambda r: r.status == 404)
        self.everywhere("/upstreams/cl.up/targets",
                        lambda r: len(r.json()["data"]) == 1)
        # Deleting an upstream deletes its targets with it (Kong's rule).
        r = c.write("POST", "/upstreams", {"name": "gone.up", "targets": []})
        self.assertEqual(r.status, 400, r)  # nesting: whole configs only
        r = c.write("POST", "/upstreams", {"name": "gone.up"})
        self.assertEqual(r.status, 201, r)
        for port in (1, 2):
            r = c.write("POST", "/upstreams/gone.up/targets",
                        {"target": "127.0.0.1:%d" % port})
            self.assertEqual(r.status, 201, r)
        r = c.write("DELETE", "/upstreams/gone.up", node=follower)
        self.assertEqual(r.status, 204, r)
        c.wait_revision(revision_of(r))
        for nd in c.nodes:
            self.assertEqual(nd.admin("GET", "/upstreams/gone.up").status, 404)
            left = [t for t in nd.admin("GET", "/upstreams/cl.up/targets")
                    .json()["data"]]
            self.assertEqual(len(left), 1)
        # Health set through one follower's admin API is that node's only.
        ta = "/upstreams/cl.up/targets/127.0.0.1:%d/" % a.port
        nd = c.followers()[0]
        r = nd.admin("POST", ta + "unhealthy")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(nd.proxy("/cl/x").status, 503)
        others = [o for o in c.nodes if o is not nd]
        self.assertEqual([o.proxy("/cl/x").status for o in others], [200, 200])
        self.assertEqual(nd.admin("POST", ta + "healthy").status, 204)
        self.assertEqual(nd.proxy("/cl/x").status, 200)

    def test_whole_config_nests_targets(self):
        """POST /config with targets nested in an upstream: stored flat
        (targets with upstream {id}), served by every node."""
        c = self.cluster
        a = Upstream().start()
        self.addCleanup(a.stop)
        doc = gateway_doc(
            service("seed", self.up.port, routes=[
                route("seed", ["/seed"], strip_path=False)]),
            service("nest", 1, host="nest.up",
                    routes=[route("nest", ["/nest"])]),
            upstreams=[{"name": "nest.up", "targets": [
                {"target": "127.0.0.1:%d" % a.port}]}])
        r = c.write("POST", "/config", doc)
        self.assertIn(r.status, (200, 201), r)
        c.wait_served("/nest/count?key=n")
        t = c.nodes[0].admin("GET", "/upstreams/nest.up/targets").json()
        self.assertEqual(len(t["data"]), 1, t)
        self.assertIn("upstream", t["data"][0])


if __name__ == "__main__":
    unittest.main()
