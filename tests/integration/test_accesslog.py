#!/usr/bin/python3
"""The access log's fields (issue 12) through the real binary, for a
proxied, a cached, a rate-limited, an unrouted and a never-parsed (400)
request (alone, or pipelined behind a good one); and SIGUSR1
reopening the access and error logs for logrotate: after a rename, later
lines land in the new file, and under load no line is lost or torn."""

import json
import os
import signal
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rgtest  # noqa: E402
from rgtest import GatewayTestCase, gateway_doc, route, service  # noqa: E402


def lines_of(path):
    """Every line of @path parsed (a torn or bad line fails the test)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    # A line still being written (no newline yet) is not read; a torn line
    # before the last newline fails the test.
    text = text[:text.rfind("\n") + 1]
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


class AccessLogTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("auth", ["/auth"], plugins=[
                    {"name": "key-auth", "config": {"key_names": ["apikey"]}}
                ]),
                route("cached", ["/cached"], plugins=[
                    {"name": "proxy-cache", "config": {
                        "strategy": "memory",
                        "content_type": ["application/json"]}}]),
                route("limited", ["/limited"], plugins=[
                    {"name": "rate-limiting", "config": {
                        "hour": 2, "policy": "local"}}]),
                route("plain", ["/plain"]),
            ]),
            consumers=[{"username": "alice",
                        "keyauth_credentials": [{"key": "alice-key"}]}])

    def line(self, rid, path=None):
        """The access log line of request @rid (waits for the flush)."""
        path = path or self.gw.access_log_path
        found = []

        def pred():
            found[:] = [x for x in lines_of(path)
                        if x.get("request_id") == rid]
            return found
        rgtest.wait_until(pred, 5, 0.02, "access log line of %s" % rid)
        self.assertEqual(len(found), 1, found)
        return found[0]

    def req(self, method, path, headers=None, body=None, conn=None):
        rid = uuid.uuid4().hex
        h = {"X-Request-ID": rid}
        h.update(headers or {})
        if conn is not None:
            r = rgtest.http_request(conn, method, path, h, body)
        else:
            r = self.gw.request(method, path, h, body)
        return r, self.line(rid)

    def test_proxied(self):
        """A proxied request with a consumer and a body: route, service,
        upstream address, both statuses, the latency split (total =
        upstream + gateway; ttfb within upstream), bytes both ways."""
        body = b"x" * 1000
        r, x = self.req("POST", "/auth/delay/150", {"apikey": "alice-key"},
                        body)
        self.assertEqual(r.status, 200)
        self.assertEqual(x["route"], "auth")
        self.assertEqual(x["service"], "svc")
        self.assertEqual(x["consumer"], "alice")
        self.assertEqual(x["upstream"], "127.0.0.1:%d" % self.up.port)
        self.assertEqual((x["status"], x["upstream_status"]), (200, 200))
        self.assertGreaterEqual(x["upstream_ttfb_ms"], 150)
        self.assertLessEqual(x["upstream_ttfb_ms"], x["upstream_latency_ms"])
        self.assertAlmostEqual(x["latency_ms"], x["upstream_latency_ms"] +
                               x["gateway_latency_ms"], delta=0.01)
        self.assertGreaterEqual(x["gateway_latency_ms"], 0)
        self.assertLess(x["gateway_latency_ms"], 100)
        self.assertGreater(x["bytes_received"], 1000 + 40)
        self.assertLess(x["bytes_received"], 1000 + 400)
        self.assertGreater(x["bytes_sent"], len(r.body))
        self.assertIsNone(x["cache"])
        self.assertIsNone(x["limit"])
        self.assertIsNone(x["limit_remaining"])
        r, x = self.req("GET", "/auth/echo")
        self.assertEqual((r.status, x["status"], x["upstream_status"]),
                         (401, 401, 0))
        self.assertIsNone(x["consumer"])
        self.assertEqual(x["upstream"], "")

    def test_cached(self):
        """proxy-cache: Miss (upstream asked), then Hit (no upstream),
        on one connection (the cache is per worker)."""
        p = "/cached/echo?k=" + uuid.uuid4().hex
        c = self.gw.http()
        self.addCleanup(c.close)
        r, x = self.req("GET", p, conn=c)
        self.assertEqual(r.header("X-Cache-Status"), "Miss")
        self.assertEqual((x["cache"], x["upstream_status"]), ("Miss", 200))
        r, x = self.req("GET", p, conn=c)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual((x["cache"], x["status"], x["upstream_status"],
                          x["upstream"], x["attempts"]),
                         ("Hit", 200, 0, "", 0))
        self.assertEqual(x["upstream_ttfb_ms"], 0)
        self.assertAlmostEqual(x["gateway_latency_ms"], x["latency_ms"],
                               delta=0.01)
        r, x = self.req("GET", p, {"Cache-Control": "no-store"}, conn=c)
        self.assertEqual(x["cache"], r.header("X-Cache-Status"))

    def test_rate_limited(self):
        """rate-limiting (hour: 2): allowed with what is left, then
        refused (429, no upstream)."""
        seen = []
        for _ in range(3):
            r, x = self.req("GET", "/limited/echo")
            seen.append((r.status, x["status"], x["limit"],
                         x["limit_remaining"], x["upstream_status"]))
        self.assertEqual(seen, [(200, 200, "allowed", 1, 200),
                                (200, 200, "allowed", 0, 200),
                                (429, 429, "refused", 0, 0)])

    def test_not_found(self):
        """No route: 404 with no route, service or upstream."""
        r, x = self.req("GET", "/nothing/here")
        self.assertEqual(r.status, 404)
        self.assertEqual((x["status"], x["route"], x["service"],
                          x["upstream"], x["upstream_status"]),
                         (404, "", "", "", 0))
        self.assertIsNone(x["consumer"])
        self.assertEqual(x["path"], "/nothing/here")

    def test_unparsed_nulls(self):
        """A request the parser refuses (400) before its head is whole
        has no method, path, trace or span: each is JSON null, not "" (nor
        the parser's default method)."""
        for raw in (b"GARBAGE\r\n\r\n",
                    b"GET /plain/echo HTTP/1.1\r\nHost: x\r\n"
                    b"Bad Header\r\n\r\n"):
            seen = {x["request_id"] for x in lines_of(self.gw.access_log_path)}
            with self.gw.connect() as c:
                c.send(raw)
                self.assertEqual(c.read_response("GET").status, 400)
            new = []

            def pred():
                new[:] = [x for x in lines_of(self.gw.access_log_path)
                          if x["request_id"] not in seen]
                return new
            rgtest.wait_until(pred, 5, 0.02, "the 400's access log line")
            self.assertEqual(len(new), 1, new)
            x = new[0]
            self.assertEqual(x["status"], 400, raw)
            for k in ("method", "path", "trace_id", "span_id"):
                self.assertIn(k, x)
                self.assertIsNone(x[k], (raw, k))
            # What the client sent (one write, all read before the
            # error), not a request line made up from the parser's
            # defaults.
            self.assertEqual(x["bytes_received"], len(raw), raw)
        # A parsed request still names them all.
        r, x = self.req("GET", "/plain/echo")
        self.assertEqual((x["method"], x["path"]), ("GET", "/plain/echo"))
        self.assertRegex(x["trace_id"], "^[0-9a-f]{32}$")
        self.assertRegex(x["span_id"], "^[0-9a-f]{16}$")

    def test_unparsed_after_a_good_request(self):
        """A bad request pipelined behind a good one, in one write: the
        400's bytes_received counts its own bytes only."""
        rid = uuid.uuid4().hex
        good = ("GET /plain/echo HTTP/1.1\r\nHost: x\r\n"
                "X-Request-ID: %s\r\n\r\n" % rid).encode()
        bad = b"GARBAGE\r\n\r\n"
        seen = {x["request_id"] for x in lines_of(self.gw.access_log_path)}
        with self.gw.connect() as c:
            c.send(good + bad)
            self.assertEqual(c.read_response("GET").status, 200)
            self.assertEqual(c.read_response("GET").status, 400)
        new = []

        def pred():
            new[:] = [x for x in lines_of(self.gw.access_log_path)
                      if x["request_id"] not in seen]
            return len(new) >= 2
        rgtest.wait_until(pred, 5, 0.02, "both access log lines")
        by = {x["status"]: x for x in new}
        self.assertEqual(sorted(by), [200, 400], new)
        self.assertEqual(by[200]["request_id"], rid)
        self.assertEqual(by[200]["bytes_received"], len(good))
        self.assertEqual(by[400]["bytes_received"], len(bad))


class ReopenTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}

    def test_sigusr1_reopens(self):
        """Rename both logs, SIGUSR1: new files appear, the lines after
        land there; with clients running throughout, every request has
        exactly one whole line in one of the two access log files."""
        gw = self.gw
        alog, elog = gw.access_log_path, gw.error_log_path
        done, stop = [], threading.Event()
        errors = []

        def client(k):
            c = gw.http()
            i = 0
            while not stop.is_set():
                rid = "c%d-%d" % (k, i)
                try:
                    r = rgtest.http_request(c, "GET", "/plain/echo",
                                            {"X-Request-ID": rid})
                    if r.status != 200:
                        errors.append(r.status)
                    done.append(rid)
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    c.close()
                    c = gw.http()
                i += 1
            c.close()

        ts = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in ts:
            t.start()
        try:
            rgtest.wait_until(lambda: len(lines_of(alog)) > 200, 10, 0.01,
                              "load written to the first file")
            os.rename(alog, alog + ".1")
            os.rename(elog, elog + ".1")
            gw.send_signal(signal.SIGUSR1)
            rgtest.wait_until(lambda: os.path.exists(alog), 5, 0.01,
                              "a new access log")
            rgtest.wait_until(lambda: os.path.exists(elog), 5, 0.01,
                              "a new error log")
            n = len(done)
            rgtest.wait_until(lambda: len(done) > n + 200, 10, 0.01,
                              "load after the reopen")
        finally:
            stop.set()
            for t in ts:
                t.join()
        self.assertEqual(errors, [])
        after = uuid.uuid4().hex
        self.assertEqual(gw.get("/plain/echo",
                                {"X-Request-ID": after}).status, 200)
        rgtest.wait_until(
            lambda: any(x["request_id"] == after for x in lines_of(alog)),
            5, 0.02, "the last line in the new file")
        # Each worker flushes its own log every 100 ms: wait for all.
        want = sorted(done + [after])
        rgtest.wait_until(
            lambda: sorted(x["request_id"] for x in
                           lines_of(alog + ".1") + lines_of(alog)) == want,
            5, 0.02, "every request's line in one of the two files")
        old, new = lines_of(alog + ".1"), lines_of(alog)
        ids = [x["request_id"] for x in old + new]
        self.assertEqual(sorted(ids), sorted(done + [after]))
        self.assertGreater(len(new), 200)
        self.assertGreater(len(old), 200)
        with open(elog) as f:
            self.assertIn("logs reopened", f.read())


if __name__ == "__main__":
    import unittest
    unittest.main()
