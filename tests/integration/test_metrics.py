#!/usr/bin/python3
"""GET /metrics on the status listener through the real binary: the
Prometheus text exposition passes `promtool check metrics` with no
complaint, and its series move as the traffic says, exactly: 200s, a 404
with no route, a 429 from a rate limit (and its gateway_rate_limit_hits),
a 502 from a dead upstream, upstream statuses, proxy-cache outcomes, the
duration histogram's buckets and count, counted on two workers and summed
at the scrape;
labels keep their route and service names across a reload that reorders
the config."""

import os
import re
import shutil
import subprocess
import unittest

import rgtest
from rgtest import DeadPort, GatewayTestCase, gateway_doc, route, service

PROMTOOL = shutil.which("promtool")
REQ = "gateway_requests_total"
DUR = "gateway_request_duration_seconds"
RL = "gateway_rate_limit_hits_total"


def require(tool):
    """Skip the test when @tool (a path from shutil.which) is missing; under
    CI=true fail instead: CI installs Debian's prometheus
    (cluster/install-deps)."""
    if tool is not None:
        return
    msg = ("promtool/prometheus not installed (Debian package prometheus; "
           "cluster/install-deps installs it)")
    if os.environ.get("CI") == "true":
        raise AssertionError(msg + "; CI must run this test")
    raise unittest.SkipTest(msg)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(gw):
    r = rgtest.request(gw.status_port, "GET", "/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % r)
    return r


def delta(before, after, name, **labels):
    """How far series @name{@labels} moved from @before to @after."""
    return value(after, name, **labels) - value(before, name, **labels)


def attempts(before, after):
    """Upstream attempts between two scrapes, on pooled or new
    connections."""
    return sum(delta(before, after, "raftgate_upstream_attempts_total",
                     connection=c) for c in ("reused", "new"))


def total(samples):
    return sum(v for k, v in samples.items()
               if k[0] == "gateway_requests_total")


def settled(gw, before, n):
    """The exposition once it counts @n more requests than @before: a
    worker counts a request when it ends, which may be just after the
    client read the whole response."""
    out = [None]

    def counted():
        out[0] = parse(scrape(gw).body.decode())
        return total(out[0]) >= total(before) + n
    rgtest.wait_until(counted, 5.0, 0.01, "%d more requests counted" % n)
    return out[0]


def quiet(gw):
    """The exposition once no proxy connection is open (so every request
    before has been counted)."""
    out = [None]

    def idle():
        out[0] = parse(scrape(gw).body.decode())
        return value(out[0], "raftgate_connections_active") == 0
    rgtest.wait_until(idle, 5.0, 0.01, "no proxy connection open")
    return out[0]


def promtool_problems(text):
    """What `promtool check metrics` says about @text ("" when clean)."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    out = p.stdout.decode(errors="replace").strip()
    if p.returncode != 0 and not out:
        out = "promtool exited %d" % p.returncode
    return out


class MetricsTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}
    dead = None

    @classmethod
    def gateway_config(cls, up):
        cls.dead = DeadPort()
        return cls.doc(up, reordered=False)

    @classmethod
    def doc(cls, up, reordered):
        services = [
            service("echo", up.port, routes=[
                route("ok", ["/ok"], strip_path=False),
                route("cached", ["/cached"], strip_path=False,
                      plugins=[{"name": "proxy-cache",
                                "config": {"strategy": "memory"}}]),
                route("limited", ["/limited"], strip_path=False,
                      plugins=[{"name": "rate-limiting",
                                "config": {"hour": 2}}]),
            ]),
            service("dead", cls.dead.port, retries=0,
                    routes=[route("gone", ["/gone"])]),
        ]
        if reordered:
            services.reverse()
            services[1]["routes"].reverse()
        return gateway_doc(*services)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if cls.dead:
                cls.dead.close()

    def traffic(self):
        """3 GET /ok 200, 2 GET with no route 404, 1 POST /ok, each on a
        new connection (both workers take some)."""
        for _ in range(3):
            self.assertEqual(self.gw.get("/ok").status, 200)
        for _ in range(2):
            self.assertEqual(self.gw.get("/nowhere").status, 404)
        self.assertEqual(self.gw.request("POST", "/ok", body=b"x").status,
                         200)

    def test_exposition_passes_promtool(self):
        require(PROMTOOL)
        self.traffic()
        r = scrape(self.gw)
        self.assertEqual(r.header("Content-Type"),
                         "text/plain; version=0.0.4; charset=utf-8")
        text = r.body.decode()
        self.assertIn("gateway_request_duration_seconds_bucket", text)
        self.assertEqual(promtool_problems(text), "", text)

    def test_promtool_can_fail(self):
        """The check above means something: promtool complains about a
        counter without _total and a family without HELP."""
        require(PROMTOOL)
        bad = "# TYPE gateway_requests counter\ngateway_requests 1\n"
        self.assertNotEqual(promtool_problems(bad), "")

    def assertMoves(self, before, after, want):
        """Each (name, labels, n) of @want moved by exactly n."""
        got = [(name, labels, delta(before, after, name, **labels))
               for name, labels, _ in want]
        self.assertEqual(got, want)

    def test_requests_count_exactly(self):
        before = quiet(self.gw)
        self.traffic()
        after = settled(self.gw, before, 6)
        ok = dict(route="ok", service="echo")
        hist = dict(method="GET", **ok)
        self.assertMoves(before, after, [
            (REQ, dict(method="GET", status="200", **ok), 3),
            (REQ, dict(method="POST", status="200", **ok), 1),
            (REQ, dict(method="GET", route="", service="", status="404"), 2),
            ("gateway_upstream_status_total",
             dict(service="echo", status="200"), 4),
            (DUR + "_count", hist, 3),
            (DUR + "_bucket", dict(le="+Inf", **hist), 3),
        ])
        self.assertGreater(delta(before, after, DUR + "_sum", **hist), 0)
        # Cumulative buckets: never decreasing with le.
        les = sorted(((float(dict(k[1])["le"]), v) for k, v in after.items()
                      if k[0] == DUR + "_bucket"
                      and {("route", "ok"), ("method", "GET")} <= k[1]))
        counts = [v for _, v in les]
        self.assertEqual(counts, sorted(counts))
        self.assertGreaterEqual(
            delta(before, after, "raftgate_connections_accepted_total"), 6)
        self.assertEqual(value(after, "raftgate_metrics_dropped_total"), 0)
        self.assertEqual(attempts(before, after), 4)

    def test_rate_limit_and_dead_upstream(self):
        before = quiet(self.gw)
        got = [self.gw.get("/limited").status for _ in range(3)]
        self.assertEqual(got, [200, 200, 429])
        self.assertEqual(self.gw.get("/gone").status, 502)
        after = settled(self.gw, before, 4)
        limited = dict(method="GET", route="limited", service="echo")
        self.assertMoves(before, after, [
            (REQ, dict(status="429", **limited), 1),
            (REQ, dict(status="200", **limited), 2),
            (RL, dict(limiter_type="local"), 1),
            (RL, dict(limiter_type="cluster"), 0),
            (REQ, dict(method="GET", route="gone", service="dead",
                       status="502"), 1),
        ])
        self.assertEqual(attempts(before, after), 3)  # 2 + the dead one
        # The dead upstream never answered: no upstream status for it.
        self.assertFalse([k for k in after
                          if k[0] == "gateway_upstream_status_total"
                          and ("service", "dead") in k[1]])

    def test_cache_outcomes(self):
        """A miss then a hit on one connection (one worker's cache)."""
        before = quiet(self.gw)
        conn = self.gw.http()
        try:
            got = [rgtest.http_request(conn, "GET", "/cached")
                   .header("X-Cache-Status") for _ in range(2)]
        finally:
            conn.close()
        self.assertEqual(got, ["Miss", "Hit"])
        after = settled(self.gw, before, 2)
        for st in ("Miss", "Hit"):
            self.assertEqual(delta(before, after,
                                   "gateway_cache_requests_total",
                                   cache_status=st), 1, st)

    def test_labels_survive_a_reordering_reload(self):
        """Label slots are names, not config positions: after a reload
        that reverses the services and routes, /ok still counts as route
        ok of service echo."""
        self.gw.reload(self.doc(self.up, reordered=True))
        try:
            before = quiet(self.gw)
            for _ in range(2):
                self.assertEqual(self.gw.get("/ok").status, 200)
            after = settled(self.gw, before, 2)
            labels = dict(method="GET", route="ok", service="echo",
                          status="200")
            self.assertEqual(delta(before, after, "gateway_requests_total",
                                   **labels), 2)
        finally:
            self.gw.reload(self.doc(self.up, reordered=False))


if __name__ == "__main__":
    rgtest.main()
