#!/usr/bin/python3
"""A real Prometheus server (Debian's prometheus) scrapes the status
listeners of a three-node cluster every second: all three targets come
up; the cluster's Raft series agree (exactly one node leads, every node
names the same leader and term as /status says); gateway_requests_total
summed over the nodes moves by exactly the traffic sent; a policy-cluster
rate limit's 429s count as limiter_type="cluster"; the leader's apply
latency histogram counted its writes; each node's exposition passes
`promtool check metrics`; and every PromQL expression of
conf/grafana/raftgate-dashboard.json parses and evaluates against the
server, over metric names the nodes export, so the dashboard cannot rot
silently."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import rgtest
from rgcluster import ClusterTestCase, gateway_doc, route, scaled, service
from test_metrics import require

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
SRCDIR = os.environ.get("RAFTGATE_SRCDIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(SRCDIR, "conf", "grafana", "raftgate-dashboard.json")

# Grafana's variables, as the dashboard's queries would see them.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1s",
                "$__range": "5m"}
NAME = re.compile(r'\b(gateway_[a-z_]+|raftgate_[a-z_]+)\b')


class Prometheus:
    """One prometheus process with its config and storage in a temp dir."""

    def __init__(self, targets):
        self.dir = tempfile.mkdtemp(prefix="rgprom-")
        self.port = rgtest.free_port()
        conf = {
            "global": {"scrape_interval": "1s",
                       "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "raftgate",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": targets}],
            }],
        }
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            json.dump(conf, f)  # JSON is YAML
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.conf,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=%s:%d" % (rgtest.HOST, self.port),
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self):
        url = "http://%s:%d/-/ready" % (rgtest.HOST, self.port)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return self.proc.poll() is not None  # died: say so below

    def wait_ready(self):
        rgtest.wait_until(self.ready, scaled(30), 0.1, "prometheus ready")
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited %s:\n%s"
                                 % (self.proc.returncode, self.log_tail()))

    def api(self, path, **params):
        url = "http://%s:%d/api/v1/%s" % (rgtest.HOST, self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:  # 400: a bad query, with why
            return json.loads(e.read().decode())

    def query(self, expr):
        return self.api("query", query=expr)

    def vector(self, expr):
        """{frozenset of labels: value} of an instant vector query."""
        d = self.query(expr)
        if d.get("status") != "success":
            raise AssertionError("%s: %s" % (expr, d))
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in d["data"]["result"]}

    def log_tail(self):
        with open(self.log.name) as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def scrape_total(nodes, route):
    """gateway_requests_total{route=@route,status="200"} summed over the
    nodes' own /metrics now."""
    total = 0.0
    pat = re.compile(r'^gateway_requests_total\{[^}]*route="%s"[^}]*'
                     r'status="200"\} (\S+)$' % re.escape(route), re.M)
    for nd in nodes:
        r = rgtest.request(nd.status_port, "GET", "/metrics")
        total += sum(float(v) for v in pat.findall(r.body.decode()))
    return total


class ClusterMetricsTest(ClusterTestCase):
    SHARED = True
    prom = None

    @classmethod
    def seed(cls, up):
        capped = {"name": "rate-limiting",
                  "config": {"policy": "cluster", "limit_by": "service",
                             "day": 3}}
        return gateway_doc(
            service("seed", up.port, routes=[
                route("seed", ["/seed"], strip_path=False)]),
            service("capped", up.port, routes=[
                route("capped", ["/capped"], strip_path=False,
                      plugins=[capped])]))

    @classmethod
    def setUpClass(cls):
        require(PROMETHEUS)
        super().setUpClass()
        try:
            cls.prom = Prometheus(["%s:%d" % (rgtest.HOST, nd.status_port)
                                   for nd in cls.cluster.nodes])
            cls.prom.wait_ready()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.prom:
                cls.prom.stop()
        finally:
            super().tearDownClass()

    def wait_targets_up(self):
        def up():
            d = self.prom.api("targets")
            act = d.get("data", {}).get("activeTargets", [])
            return len(act) == 3 and all(t["health"] == "up" for t in act)
        try:
            rgtest.wait_until(up, scaled(30), 0.2, "3 targets up")
        except Exception:
            raise AssertionError("targets: %s\n%s" % (
                self.prom.api("targets"), self.prom.log_tail()))

    def wait_query(self, expr, want, timeout=15):
        """Wait until @expr's single sample equals @want."""
        got = [None]

        def ok():
            try:
                v = self.prom.vector(expr)
            except (OSError, ValueError):
                return False
            got[0] = v
            return list(v.values()) == [want]
        try:
            rgtest.wait_until(ok, scaled(timeout), 0.2, expr)
        except Exception:
            self.fail("%s: %s, want %s" % (expr, got[0], want))

    def test_1_targets_and_raft(self):
        self.wait_targets_up()
        c = self.cluster
        lead = c.wait_leader()
        st = lead.status()
        self.wait_query("sum(raftgate_raft_is_leader)", 1)
        self.wait_query("count(raftgate_raft_term)", 3)
        self.wait_query("count(raftgate_raft_leader_id == %d)" % lead.id, 3)
        self.wait_query("count(raftgate_raft_term == %d)" % int(st["term"]),
                        3)
        self.wait_query('sum(raftgate_raft_is_leader{instance="%s:%d"})'
                        % (rgtest.HOST, lead.status_port), 1)
        # The seed and the node records were proposed by the leader.
        v = self.prom.vector("sum(raftgate_raft_apply_duration_seconds_count)")
        self.assertGreater(list(v.values())[0], 0)

    def test_1_cluster_exposition_passes_promtool(self):
        """A cluster node's /metrics (with the raftgate_raft_* series)
        is clean for promtool too."""
        require(PROMTOOL)
        for nd in self.cluster.nodes:
            text = rgtest.request(nd.status_port, "GET", "/metrics"
                                  ).body.decode()
            self.assertIn("raftgate_raft_apply_duration_seconds_bucket", text)
            p = subprocess.run([PROMTOOL, "check", "metrics"],
                               input=text.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual((p.returncode, p.stdout.decode().strip()),
                             (0, ""), "node %d" % nd.id)

    def test_2_requests_counted(self):
        self.wait_targets_up()
        nodes = self.cluster.nodes
        before = scrape_total(nodes, "seed")
        for nd in nodes:
            for _ in range(5):
                self.assertEqual(nd.proxy("/seed").status, 200)
        # A worker counts a request as it ends, maybe just after the
        # client read it.
        rgtest.wait_until(lambda: scrape_total(nodes, "seed") >= before + 15,
                          5.0, 0.01, "15 requests counted")
        self.assertEqual(scrape_total(nodes, "seed"), before + 15)
        self.wait_query('sum(gateway_requests_total{route="seed",'
                        'status="200"})', before + 15)
        self.wait_query('count(gateway_requests_total{route="seed",'
                        'status="200"})', 3)

    def test_2_cluster_rate_limit_hits(self):
        """Refusals of a policy-cluster limit count as limiter_type
        cluster, one per 429 answered, summed over the nodes."""
        self.wait_targets_up()
        nodes = self.cluster.nodes
        q = 'sum(gateway_rate_limit_hits_total{limiter_type="cluster"})'
        before = list(self.prom.vector(q).values())
        self.assertEqual(len(before), 1)
        got = [nodes[i % 3].proxy("/capped").status for i in range(6)]
        self.assertLessEqual(got.count(200), 3, got)
        self.assertIn(429, got)
        self.wait_query(q, before[0] + got.count(429))
        self.wait_query('sum(gateway_rate_limit_hits_total'
                        '{limiter_type="local"})', 0)

    def test_3_dashboard_queries_evaluate(self):
        self.wait_targets_up()
        for nd in self.cluster.nodes:  # some traffic for the rates
            nd.proxy("/seed")
        with open(DASHBOARD) as f:
            dash = json.load(f)
        exported = set()
        for nd in self.cluster.nodes:
            text = rgtest.request(nd.status_port, "GET", "/metrics"
                                  ).body.decode()
            exported |= set(re.findall(r"^# TYPE (\S+)", text, re.M))
        exprs = [(p["title"], t["expr"]) for p in dash["panels"]
                 for t in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 10)
        problems = []
        for title, expr in exprs:
            q = expr
            for k, v in GRAFANA_VARS.items():
                q = q.replace(k, v)
            if "$" in q:
                problems.append("%s: unresolved variable in %r" % (title, q))
                continue
            d = self.prom.query(q)
            if d.get("status") != "success":
                problems.append("%s: %r: %s" % (title, q, d.get("error")))
            for name in NAME.findall(q):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name not in exported and base not in exported:
                    problems.append("%s: %s is not exported" % (title, name))
        self.assertEqual(problems, [])
        # The seed's request rate has data once Prometheus saw traffic.
        self.wait_query('count(sum by (service) '
                        '(rate(gateway_requests_total{service="seed"}[1m])) '
                        '> 0)', 1, timeout=20)


if __name__ == "__main__":
    rgtest.main()
