#!/usr/bin/python3
"""Process lifecycle: CLI (-t, -v), start-up log, access log, status
listener, SIGHUP reload (under load, and rejected when bad), and graceful
SIGTERM/SIGINT with draining."""

import http.client
import re
import signal
import threading
import time
import unittest

import rgtest
from rgtest import (Gateway, RawConn, Upstream, build_request,
                    gateway_doc, route, run_binary, service, wait_until)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* "
                      r"\[(error|warn|notice|info|debug)\] ")


def api_config(up, gen, **svc):
    """Service path /g<gen>, route /api (strip): upstream sees /g<gen>/..."""
    return gateway_doc(service("api", up.port, path="/g%d" % gen, routes=[
        route("api", ["/api"], strip_path=True)], **svc))


class LifecycleBase(unittest.TestCase):
    """Each test gets its own upstream and gateway (started on demand)."""

    def setUp(self):
        self.up = Upstream().start()
        self.gws = []

    def tearDown(self):
        for gw in self.gws:
            try:
                gw.stop(timeout=5)
            except TimeoutError:
                pass
            gw.cleanup()
        self.up.stop()

    def gateway(self, gen=1, node=None, start=True, **svc):
        gw = Gateway(api_config(self.up, gen, **svc), node)
        self.gws.append(gw)
        if start:
            gw.start()
        return gw

    def api_path(self, gw, path="/api/echo"):
        r = gw.get(path)
        self.assertEqual(r.status, 200, r)
        return r.json()["path"]


class CliTest(LifecycleBase):

    def test_version(self):
        """raftgate -v prints a version and exits 0."""
        rc, out = run_binary(["-v"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"raftgate\S* \d+\.\d+")

    def test_check_good_config(self):
        """-t on a good config: exit 0, nginx-style success line, nothing
        started."""
        gw = self.gateway(start=False)
        gw.write_config()
        rc, out = run_binary(["-t", "-c", gw.node_path])
        self.assertEqual(rc, 0, out)
        # nginx words it "configuration file F test is successful"
        self.assertRegex(out, r"(?m)^raftgate: configuration (file )?%s test "
                              r"is successful" % re.escape(gw.node_path))
        self.assertFalse(rgtest.port_open(gw.port))

    def test_check_bad_gateway_file(self):
        """-t on a bad declarative file: exit 1, message names the key's
        path."""
        gw = self.gateway(start=False)
        gw.gateway["services"][0]["routes"][0]["paths"] = ["nope"]
        gw.write_config()
        rc, out = run_binary(["-t", "-c", gw.node_path])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^raftgate: .*services\[0\]\.routes\[0\]"
                              r"\.paths\[0\]")

    def test_check_bad_node_key(self):
        """-t on a bad node config value: exit 1, names proxy.workers."""
        gw = self.gateway(start=False, node={"proxy": {"workers": "many"}})
        gw.write_config()
        rc, out = run_binary(["-t", "-c", gw.node_path])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^raftgate: .*proxy\.workers")

    def test_check_missing_file(self):
        """-t on a missing file: exit 1 with a raftgate: message."""
        rc, out = run_binary(["-t", "-c", "/nonexistent/raftgate.yml"])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^raftgate: ")

    def test_start_with_bad_config_fails(self):
        """Starting with a bad declarative file exits non-zero and says
        why."""
        gw = self.gateway(start=False)
        gw.gateway["services"][0]["routes"][0]["paths"] = ["nope"]
        with self.assertRaises(RuntimeError) as cm:
            gw.start(timeout=5)
        self.assertIn("paths[0]", str(cm.exception))


class RunTest(LifecycleBase):

    def test_startup_log(self):
        """Start-up logs "raftgate: listening on proxy ADDR, admin http
        ADDR, status ADDR; N workers" (every listener that is on) at
        notice level, in the documented line format."""
        gw = self.gateway(node={"proxy": {"workers": 2}})
        m = gw.wait_log(r"(?m)^.*\[notice\] raftgate: listening on "
                        r"proxy 127\.0\.0\.1:%d, admin http 127\.0\.0\.1:%d, "
                        r"status 127\.0\.0\.1:%d; 2 workers$"
                        % (gw.port, gw.admin_port, gw.status_port), 5)
        self.assertRegex(m.group(0), LOG_LINE)

    def test_access_log(self):
        """Each request appends one JSON line with the documented keys,
        flushed within ~100 ms."""
        gw = self.gateway()
        r = gw.get("/api/echo?q=1", headers={"X-Request-ID": "acc-1"})
        self.assertEqual(r.status, 200)
        r404 = gw.get("/nope")
        self.assertEqual(r404.status, 404)

        def entries():
            log = gw.access_log()
            return log if len(log) >= 2 else None
        log = wait_until(entries, 2, 0.02, "2 access log lines")
        e = [x for x in log if x.get("request_id") == "acc-1"]
        self.assertEqual(len(e), 1, log)
        e = e[0]
        for k in ("time", "request_id", "client", "method", "path", "status",
                  "bytes_sent", "upstream", "latency_ms",
                  "upstream_latency_ms", "route", "service", "attempts"):
            self.assertIn(k, e)
        self.assertEqual(e["method"], "GET")
        self.assertTrue(e["path"].startswith("/api/echo"), e)
        self.assertEqual(e["status"], 200)
        self.assertEqual(e["route"], "api")
        self.assertEqual(e["service"], "api")
        self.assertEqual(e["attempts"], 1)
        self.assertEqual(e["upstream"], "127.0.0.1:%d" % self.up.port)
        self.assertGreater(e["bytes_sent"], len(r.body))
        self.assertTrue(e["client"].startswith("127.0.0.1"), e)
        e404 = [x for x in log if x.get("status") == 404]
        self.assertEqual(len(e404), 1, log)

    def test_status_listener(self):
        """status.listen serves /health and /ready."""
        gw = self.gateway()
        r = rgtest.request(gw.status_port, "GET", "/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok", "reasons": []})
        r = rgtest.request(gw.status_port, "GET", "/ready")
        self.assertEqual(r.status, 200)


class ReloadTest(LifecycleBase):

    def test_reload_applies(self):
        """SIGHUP with a changed file: logs "config reloaded: generation N"
        and the new route config serves."""
        gw = self.gateway(1)
        self.assertEqual(self.api_path(gw), "/g1/echo")
        gw.reload(api_config(self.up, 2))
        wait_until(lambda: self.api_path(gw) == "/g2/echo", 3, 0.02,
                   "generation 2 to serve")

    def test_reload_node_settings(self):
        """SIGHUP also applies reloadable node settings (proxy.via)."""
        gw = self.gateway(1)
        r = gw.get("/api/echo")
        self.assertEqual(r.json()["headers"].get("Via"), "1.1 raftgate")
        gw.reload(node={"proxy": {"via": "edge7"}})

        def via():
            return gw.get("/api/echo").json()["headers"].get("Via")
        wait_until(lambda: via() == "1.1 edge7", 3, 0.02, "new Via value")

    def test_reload_under_load(self):
        """Several reloads while two clients (fresh connections, one
        keep-alive connection) send requests: no request fails and each new
        config takes effect."""
        gw = self.gateway(1, node={"proxy": {"workers": 2}})
        stop = threading.Event()
        results = {"fresh": [], "keepalive": []}
        failures = []
        races = [0]

        def fresh():
            while not stop.is_set():
                try:
                    r = rgtest.request(gw.port, "GET", "/api/echo", timeout=5)
                    if r.status != 200:
                        failures.append("fresh: %d %r" % (r.status, r.body))
                    else:
                        results["fresh"].append(r.json()["path"])
                except Exception as e:
                    failures.append("fresh: %r" % e)

        def keepalive():
            conn = gw.http(timeout=5)
            reused = False
            while not stop.is_set():
                try:
                    r = rgtest.http_request(conn, "GET", "/api/echo")
                    reused = True
                    if r.status != 200:
                        failures.append("ka: %d %r" % (r.status, r.body))
                    else:
                        results["keepalive"].append(r.json()["path"])
                except (http.client.RemoteDisconnected,
                        ConnectionResetError, BrokenPipeError) as e:
                    # A server may close an idle keep-alive connection; a
                    # client then retries on a new one (RFC 9112 §9.3.1).
                    # That is not a failed request, unless it happens on a
                    # fresh connection.
                    if not reused:
                        failures.append("ka (fresh conn): %r" % e)
                    races[0] += 1
                    conn.close()
                    conn = gw.http(timeout=5)
                    reused = False
                except Exception as e:
                    failures.append("ka: %r" % e)
                    conn.close()
                    conn = gw.http(timeout=5)
                    reused = False
            conn.close()

        threads = [threading.Thread(target=fresh),
                   threading.Thread(target=keepalive)]
        for t in threads:
            t.start()
        try:
            # Both clients must have seen generation 1 before the first
            # reload, or a slow (sanitized) start makes gen 1 unobserved.
            wait_until(lambda: (results["fresh"][-1:] == ["/g1/echo"] and
                                results["keepalive"][-1:] == ["/g1/echo"]),
                       10, 0.01, "generation 1 on both clients")
            for gen in range(2, 7):
                gw.reload(api_config(self.up, gen))
                want = "/g%d/echo" % gen
                wait_until(lambda: (results["fresh"][-1:] == [want] and
                                    results["keepalive"][-1:] == [want]),
                           5, 0.01, "generation %d on both clients" % gen)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(failures, [], "failed requests during reload")
        total = len(results["fresh"]) + len(results["keepalive"])
        self.assertGreater(total, 50)
        for name, seen in results.items():
            gens = [int(p[2:].split("/")[0]) for p in seen]
            self.assertEqual(sorted(set(gens)), list(range(1, 7)), name)
        if races[0]:
            print("\n  keep-alive closes during reload: %d" % races[0],
                  end=" ")

    def test_bad_gateway_file_rejected(self):
        """A bad declarative file on SIGHUP is rejected (error names the
        key's path) and the old config keeps serving."""
        gw = self.gateway(1)
        bad = api_config(self.up, 2)
        bad["services"][0]["routes"][0]["paths"] = ["nope"]
        since = len(gw.error_log())
        gw.reload(bad, wait=False)
        gw.wait_log(r"\[error\] .*reload rejected: .*services\[0\]\."
                    r"routes\[0\]\.paths\[0\]", 5, since)
        self.assertEqual(self.api_path(gw), "/g1/echo")
        self.assertEqual(gw.reloads_done(), 0)
        # a good file afterwards is applied
        gw.reload(api_config(self.up, 3))
        wait_until(lambda: self.api_path(gw) == "/g3/echo", 3, 0.02,
                   "generation 3 to serve")

    def test_unparsable_file_rejected(self):
        """A file that is not YAML at all is rejected; old config serves."""
        gw = self.gateway(1)
        since = len(gw.error_log())
        with open(gw.gateway_path, "w") as f:
            f.write("services: [ {name: x\n  : : :\n")
        gw.send_signal(signal.SIGHUP)
        gw.wait_log(r"reload rejected: ", 5, since)
        self.assertEqual(self.api_path(gw), "/g1/echo")

    def test_bad_node_config_rejected(self):
        """A bad node config value on SIGHUP is rejected naming the key;
        the old config keeps serving."""
        gw = self.gateway(1)
        since = len(gw.error_log())
        gw.node["proxy"]["max_connections"] = "lots"
        gw.gateway = api_config(self.up, 2)
        gw.write_config()
        gw.send_signal(signal.SIGHUP)
        gw.wait_log(r"reload rejected: .*proxy\.max_connections", 5, since)
        self.assertEqual(self.api_path(gw), "/g1/echo")
        self.assertTrue(gw.alive())


class ShutdownTest(LifecycleBase):

    def _slow_request(self, gw, ms, out):
        def run():
            try:
                with RawConn(gw.port, timeout=15) as c:
                    c.send(build_request("GET", "/api/delay/%d" % ms))
                    out["response"] = c.read_response(timeout=15)
            except Exception as e:  # inspected by the test
                out["error"] = e
            out["done"] = time.monotonic()
        t = threading.Thread(target=run)
        t.start()
        return t

    def test_graceful_sigterm(self):
        """SIGTERM: new connections refused at once, idle keep-alive
        connections closed, the in-flight request completes with 200,
        then exit 0."""
        gw = self.gateway(1, node={"proxy": {"drain_timeout": "10s"}})
        idle = RawConn(gw.port)
        self.assertEqual(idle.request("GET", "/api/echo").status, 200)
        out = {}
        started = self.up.delays_started
        t = self._slow_request(gw, 1500, out)
        try:
            self.up.wait_for(lambda: self.up.delays_started > started, 5)
            t_term = time.monotonic()
            gw.send_signal(signal.SIGTERM)
            wait_until(lambda: rgtest.connect_refused(gw.port), 1.0, 0.02,
                       "new connections to be refused")
            self.assertNotIn("done", out,
                             "slow request ended before the listener closed")
            self.assertTrue(idle.wait_closed(1.0),
                            "idle keep-alive connection not closed")
            code = gw.wait_exit(10)
        finally:
            idle.close()
            t.join(15)
        self.assertNotIn("error", out, out)
        r = out["response"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["delayed_ms"], 1500)
        self.assertGreaterEqual(out["done"] - t_term, 1.0)
        self.assertEqual(code, 0, gw.log_tail())

    def test_drain_timeout(self):
        """An in-flight request longer than drain_timeout is cut off and
        the process still exits 0, around drain_timeout."""
        gw = self.gateway(1, node={"proxy": {"drain_timeout": "500ms"}})
        out = {}
        started = self.up.delays_started
        t = self._slow_request(gw, 8000, out)
        try:
            self.up.wait_for(lambda: self.up.delays_started > started, 5)
            t0 = time.monotonic()
            gw.send_signal(signal.SIGTERM)
            code = gw.wait_exit(5)
            elapsed = time.monotonic() - t0
        finally:
            t.join(15)
        self.assertEqual(code, 0, gw.log_tail())
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 3.0)
        r = out.get("response")
        self.assertTrue(r is None or r.status != 200, r)

    def test_sigint_idle(self):
        """SIGINT on an idle gateway: prompt exit 0."""
        gw = self.gateway(1)
        self.assertEqual(self.api_path(gw), "/g1/echo")
        t0 = time.monotonic()
        code = gw.stop(signal.SIGINT, timeout=5)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_access_log_flushed_at_exit(self):
        """Access log lines are on disk after a clean exit."""
        gw = self.gateway(1)
        for _ in range(3):
            gw.get("/api/echo")
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(len(gw.access_log()), 3)


if __name__ == "__main__":
    rgtest.main()
