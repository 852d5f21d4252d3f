#!/usr/bin/python3
"""/health and /ready on the status listener tell the truth (issue 12):
liveness is 200 while the process serves, degraded or not; readiness is
200 when degraded (the node proxies from its copy) unless
status.ready_when_degraded is false. The reasons: no_leader (a cluster
survivor after two of three nodes were SIGKILLed), last_config (a lone
restarted node serving its data dir's copy; a refused reload), consul (the
agent killed). GET /status lists the same reasons under "degraded"."""

import json
import re
import os
import signal
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rgcluster  # noqa: E402
import rgtest  # noqa: E402
from rgcluster import ClusterTestCase, scaled  # noqa: E402
from rgtest import Gateway, Upstream, gateway_doc, route, service  # noqa
from test_consul import Standin  # noqa: E402


def probe(port, path):
    r = rgtest.request(port, "GET", path)
    return r.status, r.json()


def degraded_metric(port):
    """The reasons raftgate_degraded says hold on /metrics."""
    r = rgtest.request(port, "GET", "/metrics")
    return sorted(re.findall(r'^raftgate_degraded\{reason="(\w+)"\} 1$',
                             r.body.decode(), re.M))


def admin_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=5) as r:
        return json.loads(r.read())


class SingleNodeTest(unittest.TestCase):

    def setUp(self):
        self.up = Upstream().start()
        self.gw = None
        self.consul = None

    def tearDown(self):
        try:
            if self.gw is not None:
                self.assertEqual(self.gw.stop(), 0, self.gw.log_tail(40))
        finally:
            if self.gw is not None:
                self.gw.cleanup()
            if self.consul is not None:
                self.consul.stop()
            self.up.stop()

    def doc(self):
        return gateway_doc(service("s", self.up.port,
                                   routes=[route("r", ["/r"])]))

    def test_ok(self):
        """A healthy single node: ok on both, nothing in /status."""
        self.gw = Gateway(self.doc()).start()
        self.assertEqual(probe(self.gw.status_port, "/health"),
                         (200, {"status": "ok", "reasons": []}))
        self.assertEqual(probe(self.gw.status_port, "/ready"),
                         (200, {"status": "ok", "reasons": []}))
        self.assertEqual(admin_status(self.gw.admin_port)["degraded"], [])

    def test_refused_reload_is_last_config(self):
        """A reload the config check refuses: the node keeps serving the
        previous config and says last_config until a good reload."""
        self.gw = Gateway(self.doc()).start()
        bad = self.doc()
        bad["services"][0]["port"] = "nope"
        self.gw.reload(gateway=bad, wait=False)
        rgtest.wait_until(
            lambda: probe(self.gw.status_port, "/health")[1]["reasons"]
            == ["last_config"], 5, 0.05, "last_config after a bad reload")
        self.assertEqual(probe(self.gw.status_port, "/health"),
                         (200, {"status": "degraded",
                                "reasons": ["last_config"]}))
        self.assertEqual(probe(self.gw.status_port, "/ready")[0], 200)
        self.assertEqual(self.gw.get("/r/x").status, 200)
        self.gw.reload(gateway=self.doc())
        rgtest.wait_until(
            lambda: probe(self.gw.status_port, "/health")[1]["status"]
            == "ok", 5, 0.05, "ok after a good reload")

    def consul_gateway(self, node=None):
        self.consul = Standin(
            rgtest.free_port(),
            "--service", "web=a@127.0.0.1:%d" % self.up.port).start()
        doc = gateway_doc(service("web", 1, host="web.service.consul",
                                  routes=[route("w", ["/w"])]))
        n = {"consul": {"address": "http://127.0.0.1:%d" % self.consul.port,
                        "wait": "5s"}}
        rgtest.deep_update(n, node or {})
        self.gw = Gateway(doc, n)
        self.gw.env = {"http_proxy": "", "HTTP_PROXY": ""}
        self.gw.start()
        rgtest.wait_until(lambda: self.gw.get("/w/x").status == 200, 10,
                          0.05, "served through Consul")

    def test_consul_unreachable(self):
        """Consul killed: consul in /health, /ready and /status; the last
        good answer still proxies; back: ok again."""
        self.consul_gateway()
        self.assertEqual(probe(self.gw.status_port, "/health")[1]["status"],
                         "ok")
        self.consul.stop()
        rgtest.wait_until(
            lambda: probe(self.gw.status_port, "/health")[1]["reasons"]
            == ["consul"], 10, 0.05, "consul reason")
        self.assertEqual(probe(self.gw.status_port, "/health"),
                         (200, {"status": "degraded", "reasons": ["consul"]}))
        self.assertEqual(probe(self.gw.status_port, "/ready"),
                         (200, {"status": "degraded", "reasons": ["consul"]}))
        self.assertEqual(admin_status(self.gw.admin_port)["degraded"],
                         ["consul"])
        self.assertEqual(degraded_metric(self.gw.status_port), ["consul"])
        self.assertEqual(self.gw.get("/w/x").status, 200)
        self.consul.start()
        rgtest.wait_until(
            lambda: probe(self.gw.status_port, "/health")[1]["status"]
            == "ok", 10, 0.05, "ok once Consul is back")
        self.assertEqual(degraded_metric(self.gw.status_port), [])

    def test_not_ready_when_degraded_option(self):
        """status.ready_when_degraded: false turns a degraded /ready into
        503; /health stays 200."""
        self.consul_gateway({"status": {"ready_when_degraded": False}})
        self.assertEqual(probe(self.gw.status_port, "/ready")[0], 200)
        self.consul.stop()
        rgtest.wait_until(
            lambda: probe(self.gw.status_port, "/ready")[0] == 503, 10, 0.05,
            "/ready 503 while degraded")
        self.assertEqual(probe(self.gw.status_port, "/ready")[1],
                         {"status": "degraded", "reasons": ["consul"]})
        self.assertEqual(probe(self.gw.status_port, "/health")[0], 200)


class ClusterHealthTest(ClusterTestCase):

    def test_no_leader_then_last_config(self):
        """3 nodes ok; two SIGKILLed: the survivor says no_leader (200 on
        both: it still proxies); restarted alone it serves its last config
        (no_leader, last_config); the others back: ok everywhere."""
        c = self.cluster
        c.wait_served("/seed")
        for nd in c.nodes:
            rgtest.wait_until(
                lambda: probe(nd.status_port, "/health")[1]["status"] ==
                "ok", scaled(10), 0.05, "node %d ok" % nd.id)
            self.assertEqual(probe(nd.status_port, "/ready")[0], 200)
        surv, *dead = c.nodes
        for nd in dead:
            nd.kill()
        rgtest.wait_until(
            lambda: "no_leader" in probe(surv.status_port, "/health")[1]
            ["reasons"], scaled(10), 0.05, "no_leader on the survivor")
        self.assertEqual(probe(surv.status_port, "/health"),
                         (200, {"status": "degraded",
                                "reasons": ["no_leader"]}))
        self.assertEqual(probe(surv.status_port, "/ready"),
                         (200, {"status": "degraded",
                                "reasons": ["no_leader"]}))
        self.assertIn("no_leader", surv.status()["degraded"])
        self.assertEqual(surv.proxy("/seed").status, 200)
        surv.kill()
        c.restart(surv, wait=False)
        surv.wait_admin()
        rgtest.wait_until(
            lambda: probe(surv.status_port, "/health")[1]["reasons"] ==
            ["no_leader", "last_config"], scaled(10), 0.05,
            "last_config on the lone restarted node")
        self.assertEqual(probe(surv.status_port, "/ready")[0], 200)
        self.assertEqual(surv.proxy("/seed").status, 200)
        for nd in dead:
            c.restart(nd, wait=False)
        for nd in c.nodes:
            rgtest.wait_until(
                lambda: probe(nd.status_port, "/health")[1]["status"] ==
                "ok", scaled(20), 0.05, "node %d ok again" % nd.id)

    def test_joining_node_starts_not_ready(self):
        """A node started to join serves no config of the cluster's yet:
        /ready 503 "starting" (/health 200); once added and caught up,
        /ready 200 and it proxies the seed."""
        c = self.cluster
        n4 = c.new_node(4)
        n4.start(wait=False)
        n4.wait_admin()
        st, body = probe(n4.status_port, "/ready")
        self.assertEqual((st, body["status"]), (503, "starting"))
        self.assertEqual(probe(n4.status_port, "/health")[0], 200)
        r = c.nodes[0].admin("POST", "/cluster/members", n4.member_doc())
        self.assertIn(r.status, (200, 201), repr(r))
        rgtest.wait_until(
            lambda: probe(n4.status_port, "/ready") ==
            (200, {"status": "ok", "reasons": []}), scaled(15), 0.05,
            "the joined node ready")
        # the workers take the published generation within a loop turn
        rgtest.wait_until(lambda: n4.proxy("/seed").status == 200, 1, 0.01,
                          "the seed served once ready")


if __name__ == "__main__":
    unittest.main()
