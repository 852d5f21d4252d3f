#!/usr/bin/python3
"""Consul discovery through the real binary: a service whose host is
web.service.consul is served by the instances the Consul stand-in
(tests/consul_standin.py, cross-checked with python3-consul in
test_consul_standin.py) lists as passing, on loopback upstreams.

Guarded: traffic reaches every instance, each on its own port; a check
going critical removes its instance within about a second (the blocking
query returns at once); a new instance is added; the tag form filters;
the ACL token is sent (a wrong one leaves the name without address and
/status says why); http_proxy is never used for Consul; with Consul
killed the last good set keeps serving and /status says "stale", and
once it is back (with a lower index: a restarted agent) the watch
catches up; a name never registered answers 503 in Kong's format, then
serves once it is registered. Both modes: single-node and a one-voter
cluster (the replicated store's rebuild path)."""

import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

import rgtest
from rgtest import Gateway, Upstream, gateway_doc, route, service

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "consul_standin.py")


class Standin:
    """The stand-in on a port of its own that survives a restart."""

    def __init__(self, port, *args):
        self.port = port
        self.args = list(args)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, STANDIN, "--listen", "127.0.0.1:%d" % self.port]
            + self.args, stdout=subprocess.PIPE, text=True,
            process_group=0)
        rgtest._register(self.proc)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise AssertionError("stand-in did not start: %r" % line)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc is not None:
            self.proc.stdout.close()
        self.proc = None

    def ctl(self, method, path):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), method=method,
            data=b"" if method == "PUT" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def requests(self):
        return json.loads(self.ctl("GET", "/_ctl/requests"))


def get_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=5) as r:
        return json.loads(r.read())


class ConsulTest(unittest.TestCase):
    cluster = False

    def setUp(self):
        self.ups = [Upstream("127.0.0.1").start() for _ in range(3)]
        self.consul = None
        self.gw = None

    def tearDown(self):
        try:
            if self.gw is not None:
                code = self.gw.stop()
                self.assertEqual(code, 0, self.gw.log_tail(40))
        finally:
            if self.gw is not None:
                self.gw.cleanup()
            if self.consul is not None:
                self.consul.stop()
            for u in self.ups:
                u.stop()

    def start(self, token=None, gw_token=None, extra_services=(),
              consul_flag=False, upstreams=None):
        a, b = self.ups[0].port, self.ups[1].port
        args = ["--service", "web=a@127.0.0.1:%d,b@127.0.0.1:%d" % (a, b)]
        if token:
            args += ["--token", token]
        self.consul = Standin(rgtest.free_port(), *args).start()
        self.consul.ctl("PUT", "/_ctl/web/b?address=127.0.0.1&port=%d"
                        "&tags=v2" % b)
        # The configured port (1) is never used: instances bring theirs.
        doc = gateway_doc(
            service("web", 1, host="web.service.consul",
                    routes=[route("w", ["/w"])]),
            service("v2", 1, host="v2.web.service.consul",
                    routes=[route("t", ["/t"])]),
            service("later", 1, host="later.service.dc1.consul",
                    routes=[route("l", ["/l"])]),
            *extra_services)
        if upstreams is not None:
            doc["upstreams"] = upstreams
        addr = "http://127.0.0.1:%d" % self.consul.port
        node = {"consul": {"address": addr, "wait": "5s"}}
        if consul_flag:  # the file names a dead agent; --consul the real one
            self.dead = rgtest.DeadPort()
            node["consul"]["address"] = "http://127.0.0.1:%d" % self.dead.port
        if gw_token:
            node["consul"]["token"] = gw_token
        if self.cluster:
            node["node"] = {"id": 1}
            node["raft"] = {"listen": "127.0.0.1:%d" % rgtest.free_port(),
                            "voters": [], "election_timeout": "200ms",
                            "heartbeat_timeout": "20ms"}
        self.gw = Gateway(doc, node)
        if self.cluster:
            self.gw.node["raft"]["data_dir"] = os.path.join(self.gw.dir, "raft")
            self.gw.node["raft"]["voters"] = [
                {"id": 1, "address": self.gw.node["raft"]["listen"]}]
        # Consul must never go through a proxy: this one does not exist.
        if consul_flag:
            self.gw.args = ["--consul", addr]
        self.gw.env = {"http_proxy": "http://127.0.0.1:1",
                       "HTTP_PROXY": "http://127.0.0.1:1",
                       "no_proxy": "", "NO_PROXY": ""}
        self.gw.start()
        if self.cluster:  # the seed goes through the log first
            rgtest.wait_until(
                lambda: rgtest.request(self.gw.port, "GET", "/l/x").status
                != 404, 20, 0.05, "the seeded config served")

    def status(self):
        st = get_json(self.gw.admin_port, "/status")["consul"]
        self.assertEqual(st["address"],
                         "http://127.0.0.1:%d" % self.consul.port)
        return {w["name"]: w for w in st["watches"]}

    def spread(self, path, n, key):
        """@n requests to @path on fresh connections: hits per upstream."""
        before = [u.hits(key) for u in self.ups]
        for _ in range(n):
            r = rgtest.request(self.gw.port, "GET", path + "/count?key=" + key)
            self.assertEqual(r.status, 200, r.body)
        return [u.hits(key) - b for u, b in zip(self.ups, before)]

    def wait_spread(self, path, want, what, timeout=5):
        """Until requests reach exactly the upstreams in @want."""
        seen = []

        def ok():
            try:
                got = self.spread(path, 6, "w%d" % len(seen))
            except AssertionError:
                return False
            seen.append(got)
            return [i for i, c in enumerate(got) if c > 0] == want
        rgtest.wait_until(ok, timeout, 0.02, what + " (saw %r)" % seen)

    def test_instances_change_with_consul(self):
        """Both instances serve; critical b leaves within ~1 s; a new c
        joins; the tag form reaches the v2 instance only; the agent was
        reached directly although http_proxy is set."""
        self.start()
        self.wait_spread("/w", [0, 1], "both instances")
        self.assertEqual(self.spread("/t", 4, "tag"), [0, 4, 0])
        t0 = time.monotonic()
        self.consul.ctl("PUT", "/_ctl/web/b/critical")
        self.wait_spread("/w", [0], "b removed")
        self.assertLess(time.monotonic() - t0, 1.5)
        self.consul.ctl("PUT", "/_ctl/web/c?address=127.0.0.1&port=%d"
                        % self.ups[2].port)
        self.wait_spread("/w", [0, 2], "c added", timeout=2)
        st = self.status()["web.service.consul"]
        self.assertEqual((st["state"], st["instances"], st["service"]),
                         ("ok", 2, "web"))
        self.assertGreater(st["index"], 0)
        self.assertIsNone(st["last_error"])
        self.assertEqual(self.status()["v2.web.service.consul"]["tag"], "v2")
        queries = [q["path"] for q in self.consul.requests()]
        self.assertTrue(any("tag=v2" in q for q in queries), queries)
        self.assertTrue(all("passing=1" in q for q in queries), queries)
        self.assertTrue(any("dc=dc1" in q for q in queries), queries)

    def test_a_consul_name_as_an_upstream_target(self):
        """An upstream target naming a Consul service balances over its
        instances beside a static target; an instance that turns
        critical leaves the balancer."""
        pool = {"name": "pool", "targets": [
            {"target": "web.service.consul:1"},
            {"target": "127.0.0.1:%d" % self.ups[2].port}]}
        self.start(extra_services=[service("bal", 80, host="pool", routes=[
            route("b", ["/b"])])], upstreams=[pool])
        self.wait_spread("/b", [0, 1, 2], "both instances and the static "
                         "target")
        self.consul.ctl("PUT", "/_ctl/web/b/critical")
        self.wait_spread("/b", [0, 2], "b removed from the balancer")

    def test_never_registered_then_registered(self):
        """later.service.dc1.consul has no instance: 503 with Kong's
        balancer message; once registered it serves."""
        self.start()
        r = rgtest.request(self.gw.port, "GET", "/l/x")
        self.assertEqual(r.status, 503, r.body)
        body = json.loads(r.body)
        self.assertEqual(body["message"],
                         "failure to get a peer from the ring-balancer")
        self.assertIn("request_id", body)
        self.consul.ctl("PUT", "/_ctl/later/x?address=127.0.0.1&port=%d"
                        % self.ups[2].port)
        self.wait_spread("/l", [2], "later registered", timeout=3)

    def test_consul_down_keeps_last_good(self):
        """Consul killed: the last set keeps serving and /status says
        stale with the error; Consul back (a fresh agent: its index went
        backwards) with b critical: the watch catches up."""
        self.start()
        self.wait_spread("/w", [0, 1], "both instances")
        self.consul.stop()
        rgtest.wait_until(
            lambda: self.status()["web.service.consul"]["state"] == "stale",
            10, 0.05, "stale state")
        st = self.status()["web.service.consul"]
        self.assertTrue(st["last_error"], st)
        self.assertEqual(st["instances"], 2)
        self.assertEqual(self.spread("/w", 6, "down")[2], 0)
        self.assertTrue(all(c > 0 for c in self.spread("/w", 6, "down2")[:2]))
        self.consul.start()
        self.consul.ctl("PUT", "/_ctl/web/b/critical")
        self.wait_spread("/w", [0], "caught up", timeout=8)
        rgtest.wait_until(
            lambda: self.status()["web.service.consul"]["state"] == "ok",
            5, 0.05, "ok again")

    def test_token(self):
        """The configured ACL token is sent with every query."""
        self.start(token="s3cret", gw_token="s3cret")
        self.wait_spread("/w", [0, 1], "both instances with the token")
        toks = {q["token"] for q in self.consul.requests()}
        self.assertEqual(toks, {"s3cret"})

    def test_unchanged_index_is_rate_limited(self):
        """An agent whose X-Consul-Index is not a number (and that never
        blocks): the index starts over at 0 each time, and queries are
        spaced by the minimum gap (250 ms), not a tight loop; the
        instances keep serving and follow a change."""
        self.start()
        self.wait_spread("/w", [0, 1], "both instances")
        self.consul.ctl("PUT", "/_ctl/_mode?index=garbage")
        time.sleep(0.3)  # let the blocked query return
        n0 = len(self.consul.requests())
        time.sleep(2.0)
        n = len(self.consul.requests()) - n0
        # Three names, each at most one query per 250 ms: <= 24 in 2 s.
        self.assertLessEqual(n, 30, n)
        self.assertGreaterEqual(n, 9, n)
        paths = [q["path"] for q in self.consul.requests()[n0:]]
        self.assertTrue(all("index=0&" in p for p in paths), paths)
        self.consul.ctl("PUT", "/_ctl/web/b/critical")
        self.wait_spread("/w", [0], "b removed", timeout=2)

    def admin(self, method, path, body):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.gw.admin_port, path),
            method=method, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status

    def test_new_name_waits_for_its_first_answer(self):
        """A config change that brings a new Consul name (SIGHUP in
        single-node mode, an admin API write in cluster mode) is served
        once the name's first answer came, with its instances."""
        self.start()
        self.wait_spread("/w", [0, 1], "both instances")
        self.consul.ctl("PUT", "/_ctl/fresh/f?address=127.0.0.1&port=%d"
                        % self.ups[2].port)
        if self.cluster:
            self.assertEqual(self.admin("POST", "/services", {
                "name": "fresh", "host": "fresh.service.consul",
                "port": 1}), 201)
            self.assertEqual(self.admin("POST", "/services/fresh/routes", {
                "name": "f", "paths": ["/f"]}), 201)
        else:
            doc = dict(self.gw.gateway)
            doc["services"] = list(doc["services"]) + [
                service("fresh", 1, host="fresh.service.consul",
                        routes=[route("f", ["/f"])])]
            self.gw.reload(gateway=doc, wait=False)
        self.wait_spread("/f", [2], "the new name served", timeout=5)
        self.wait_spread("/w", [0, 1], "the old ones still")

    def test_consul_flag(self):
        """--consul URL overrides consul.address."""
        self.start(consul_flag=True)
        self.wait_spread("/w", [0, 1], "both instances via --consul")
        self.dead.close()

    def test_names_leaving_the_config_are_not_watched(self):
        """A service removed from the config: its name's watch stops (it
        leaves /status and Consul sees no more queries for it)."""
        self.start()
        self.wait_spread("/w", [0, 1], "both instances")
        self.assertIn("later.service.dc1.consul", self.status())
        if self.cluster:
            for path in ("/routes/l", "/services/later"):
                req = urllib.request.Request(
                    "http://127.0.0.1:%d%s" % (self.gw.admin_port, path),
                    method="DELETE")
                with urllib.request.urlopen(req, timeout=5) as r:
                    self.assertEqual(r.status, 204)
        else:
            doc = dict(self.gw.gateway)
            doc["services"] = [x for x in doc["services"]
                               if x["name"] != "later"]
            self.gw.reload(gateway=doc)
        rgtest.wait_until(
            lambda: "later.service.dc1.consul" not in self.status(), 5, 0.05,
            "the watch of the removed name gone")
        self.assertIn("web.service.consul", self.status())
        seen = len([q for q in self.consul.requests()
                    if "/later?" in q["path"]])
        time.sleep(0.6)  # more than the gap between two queries
        self.assertEqual(len([q for q in self.consul.requests()
                              if "/later?" in q["path"]]), seen)

    def test_wrong_token(self):
        """A wrong token: the agent's 403 leaves the name with no address
        (503), and /status says "never" with the error."""
        self.start(token="s3cret", gw_token="wrong")
        rgtest.wait_until(
            lambda: self.status().get("web.service.consul", {}).get(
                "last_error"), 5, 0.05, "a 403 in /status")
        st = self.status()["web.service.consul"]
        self.assertEqual(st["state"], "never")
        self.assertIn("403", st["last_error"])
        r = rgtest.request(self.gw.port, "GET", "/w/x")
        self.assertEqual(r.status, 503, r.body)


class ConsulClusterTest(ConsulTest):
    """The same through the replicated store (cluster mode, one voter)."""
    cluster = True


if __name__ == "__main__":
    rgtest.main()
