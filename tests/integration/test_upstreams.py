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
        self.ups[1] = b = Upstream(port=port).start()
        self.gw.wait_log(r"target http://127\.0\.0\.1:%d/status/200: "
                         r"healthy \(active" % port)
        for _ in range(10):
            self.assertEqual(self.get("/count?key=u").status, 200)
        self.assertEqual(b.hits("u"), 5)

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


if __name__ == "__main__":
    unittest.main()
