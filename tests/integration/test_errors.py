#!/usr/bin/python3
"""Upstream failures: 504 on timeouts, 502 on refused/closed/garbage
responses, truncation when the response already started, and the retry
policy (count, idempotency, body, per-route override, backoff)."""

import itertools
import socket
import threading
import time

import rgtest
from rgtest import (DeadPort, GatewayTestCase, Incomplete, build_request,
                    gateway_doc, route, service)

BAD_GATEWAY = "An invalid response was received from the upstream server"
TIMEOUT = "The upstream server is timing out"
_keys = itertools.count()


class FullBacklog:
    """A listener that never accepts, its accept queue filled (listen(0)
    holds one connection): further SYNs are dropped, so a connect to it
    hangs until the connecting side gives up, as a black-holed upstream
    does. Loopback only."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(2):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fill.append(s)
        time.sleep(0.05)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", self.port))
            raise AssertionError("the full backlog still accepts: the "
                                 "connect-timeout tests would prove nothing")
        except socket.timeout:
            pass
        finally:
            probe.close()

    def close(self):
        for s in self.fill:
            s.close()
        self.sock.close()


def key(tag):
    return "%s-%d-%d" % (tag, time.monotonic_ns(), next(_keys))


class ErrorsTest(GatewayTestCase):
    dead = None
    hole = None

    @classmethod
    def gateway_config(cls, up):
        cls.dead = DeadPort()
        cls.hole = FullBacklog()
        return gateway_doc(
            service("hole", cls.hole.port, connect_timeout=300, retries=0,
                    routes=[route("hole", ["/hole"], strip_path=False)]),
            service("hole3", cls.hole.port, connect_timeout=300, retries=2,
                    retry_backoff={"type": "linear", "base": 10, "max": 10,
                                   "jitter": False},
                    routes=[route("hole3", ["/hole3"], strip_path=False)]),
            service("slow", up.port, read_timeout=300, retries=0, routes=[
                route("slow", ["/slow"], strip_path=False)]),
            service("dead", cls.dead.port, retries=2, connect_timeout=1000,
                    routes=[route("dead", ["/dead"], strip_path=False)]),
            service("r2", up.port, retries=2, routes=[
                route("r2", ["/r2"], strip_path=False),
                route("r0", ["/r0"], strip_path=False, retries=0),
                route("r1", ["/r1"], strip_path=False, retries=1),
                route("rtimeout", ["/rtimeout"], strip_path=False,
                      read_timeout=300)]),
            service("wt", up.port, write_timeout=300, retries=0, routes=[
                route("wt", ["/wt"], strip_path=False)]),
            service("off", up.port, enabled=False, routes=[
                route("off", ["/off"], strip_path=False)]),
            service("rdef", up.port, routes=[
                route("rdef", ["/rdef"], strip_path=False)]),
            service("backoff", up.port, retries=2,
                    retry_backoff={"type": "linear", "base": 200,
                                   "max": 1000, "jitter": False},
                    routes=[route("backoff", ["/backoff"],
                                  strip_path=False)]),
        )

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if cls.dead:
                cls.dead.close()
            if cls.hole:
                cls.hole.close()

    def fetch(self, method, path, body=b"", timeout=10):
        with self.gw.connect(timeout=timeout) as c:
            t0 = time.monotonic()
            c.send(build_request(method, path, body=body))
            r = c.read_response(method)
            return r, time.monotonic() - t0

    # -- timeouts ----------------------------------------------------------
    def test_504_read_timeout(self):
        """An upstream slower than read_timeout -> 504 JSON, promptly."""
        r, elapsed = self.fetch("GET", "/slow/delay/3000")
        self.assertJsonError(r, 504, TIMEOUT)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 2.0)
        r, _ = self.fetch("GET", "/slow/echo")
        self.assertEqual(r.status, 200, r)

    def test_504_connect_timeout(self):
        """A connect that never completes (the upstream's accept queue is
        full) expires after connect_timeout -> 504 JSON, as nginx and Kong
        answer a connect timeout."""
        r, elapsed = self.fetch("GET", "/hole/x")
        self.assertJsonError(r, 504, TIMEOUT)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 2.0)
        self.assertTrue(self.gw.wait_log(
            r"upstream 127\.0\.0\.1:%d attempt 1: timeout" % self.hole.port))

    def test_connect_timeout_retried(self):
        """A connect timeout may be retried for any method (nothing was
        sent): three attempts of 300 ms, then 504."""
        r, elapsed = self.fetch("POST", "/hole3/x", body=b"abc")
        self.assertJsonError(r, 504, TIMEOUT)
        self.assertGreaterEqual(elapsed, 0.85)
        self.assertLess(elapsed, 4.0)
        self.assertTrue(self.gw.wait_log(
            r"upstream 127\.0\.0\.1:%d attempt 3: timeout" % self.hole.port))

    def test_504_after_retries(self):
        """A timing-out idempotent request is retried, then 504."""
        r, elapsed = self.fetch("GET", "/rtimeout/delay/2000")
        self.assertJsonError(r, 504, TIMEOUT)
        self.assertGreaterEqual(elapsed, 0.85)  # 3 attempts x 300 ms
        self.assertLess(elapsed, 4.0)

    def test_read_timeout_mid_body_truncates(self):
        """A stall after the response started: the client connection is
        closed with the body short; no second response is sent."""
        with self.gw.connect() as c:
            c.send(build_request("GET",
                                 "/slow/bytes/100000?stall_at=50000"
                                 "&stall_ms=3000"))
            t0 = time.monotonic()
            with self.assertRaises(Incomplete) as cm:
                c.read_response(timeout=5)
            self.assertLess(time.monotonic() - t0, 2.5)
            r = cm.exception.response
            self.assertIsNotNone(r)
            self.assertEqual(r.status, 200)
            self.assertLess(len(r.body), 100000)
            self.assertNotIn(b"HTTP/1.1", r.body)

    def test_504_write_timeout(self):
        """An upstream that stops reading the request body for longer than
        write_timeout -> 504 JSON (the client is held back meanwhile)."""
        n = 64 << 20
        c = self.gw.connect(timeout=10)
        sender_done = threading.Event()

        def send():
            try:
                c.send(build_request("POST", "/wt/upload?stall_at=1"
                                     "&stall_ms=5000",
                                     [("Content-Length", str(n))]))
                blk = memoryview(rgtest.pattern(0, 1 << 20))
                for _ in range(n >> 20):
                    c.sock.sendall(blk)
            except OSError:
                pass
            sender_done.set()
        t = threading.Thread(target=send, daemon=True)
        try:
            t0 = time.monotonic()
            t.start()
            r = c.read_response(timeout=8)
            elapsed = time.monotonic() - t0
            self.assertEqual(r.status, 504, "after %.1fs: %r" % (elapsed, r))
            self.assertJsonError(r, 504, TIMEOUT)
            self.assertLess(elapsed, 4.0)
        finally:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
            t.join(10)

    def test_disabled_service_not_routed(self):
        """A disabled service's routes are dropped (Kong's rule) -> 404.
        (proxy-contract.md still lists "503 no target (service disabled)";
        commit 0fda4c7 chose Kong's behaviour.)"""
        r, _ = self.fetch("GET", "/off/echo")
        self.assertJsonError(r, 404, "no Route matched with those values")

    # -- 502 ---------------------------------------------------------------
    def test_502_dead_upstream(self):
        """Connection refused (after retries) -> 502 JSON, promptly."""
        r, elapsed = self.fetch("GET", "/dead/x")
        self.assertJsonError(r, 502, BAD_GATEWAY)
        self.assertLess(elapsed, 3.0)

    def test_502_dead_upstream_post(self):
        """A POST to a refusing upstream -> 502 (nothing was sent, so it
        is retried safely; it must not hang)."""
        r, _ = self.fetch("POST", "/dead/x", body=b"abc")
        self.assertJsonError(r, 502, BAD_GATEWAY)

    def test_502_upstream_closes(self):
        """The upstream closes without answering -> 502 JSON."""
        r, _ = self.fetch("GET", "/r0/close")
        self.assertJsonError(r, 502, BAD_GATEWAY)

    def test_502_upstream_resets(self):
        """The upstream resets the connection -> 502 JSON."""
        r, _ = self.fetch("GET", "/r0/close?rst=1")
        self.assertJsonError(r, 502, BAD_GATEWAY)

    def test_502_garbage_response(self):
        """A response that is not HTTP -> 502 JSON."""
        r, _ = self.fetch("GET", "/r0/garbage")
        self.assertJsonError(r, 502, BAD_GATEWAY)

    def test_502_folded_response(self):
        """A response header continued by obs-fold (RFC 9112 §5.2) -> 502:
        the proxy does not forward a fold, nor guess at its meaning."""
        r, _ = self.fetch("GET", "/r0/folded")
        self.assertJsonError(r, 502, BAD_GATEWAY)

    def test_partial_content_length_truncated(self):
        """Upstream dies after 10 of 1000 bytes: the client sees the 200,
        10 bytes, then the connection closes (never a 502 after it)."""
        with self.gw.connect() as c:
            c.send(build_request("GET", "/r0/partial"))
            with self.assertRaises(Incomplete) as cm:
                c.read_response(timeout=5)
            r = cm.exception.response
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-length"), "1000")
            self.assertEqual(len(r.body), 10)

    def test_partial_chunked_truncated(self):
        """Upstream dies mid chunked body: the client's chunked body ends
        without the last chunk and the connection closes."""
        with self.gw.connect() as c:
            c.send(build_request("GET",
                                 "/r0/chunked/100000?size=1000&die_at=50000"))
            with self.assertRaises(Incomplete) as cm:
                c.read_response(timeout=5)
            r = cm.exception.response
            self.assertEqual(r.status, 200)
            self.assertLessEqual(len(r.body), 50000)
            self.assertNotIn(b"HTTP/1.1", r.body)

    def test_gateway_serves_after_failures(self):
        """After upstream failures the gateway still proxies normally."""
        self.fetch("GET", "/r0/close")
        r, _ = self.fetch("GET", "/r0/echo")
        self.assertEqual(r.status, 200, r)

    # -- retries -----------------------------------------------------------
    def assertAttempts(self, method, route_prefix, n, body=b"", status=502):
        k = key(method + route_prefix.strip("/"))
        r, _ = self.fetch(method, "%s/count?key=%s&close=1"
                          % (route_prefix, k), body=body)
        self.assertJsonError(r, status, BAD_GATEWAY)
        self.assertEqual(self.up.hits(k), n,
                         "%s %s: %d attempts, wanted %d"
                         % (method, route_prefix, self.up.hits(k), n))
        return r

    def test_get_retried(self):
        """GET to an upstream that closes: 1 + retries attempts."""
        self.assertAttempts("GET", "/r2", 3)

    def test_idempotent_methods_retried(self):
        """HEAD, PUT, DELETE, OPTIONS without body are retried too."""
        for m in ("PUT", "DELETE", "OPTIONS"):
            with self.subTest(m):
                self.assertAttempts(m, "/r2", 3)
        k = key("head")
        r, _ = self.fetch("HEAD", "/r2/count?key=%s&close=1" % k)
        self.assertEqual(r.status, 502)
        self.assertEqual(self.up.hits(k), 3)

    def test_retries_zero(self):
        """retries: 0 (route override) means exactly one attempt."""
        self.assertAttempts("GET", "/r0", 1)

    def test_route_overrides_service_retries(self):
        """A route's retries overrides its service's."""
        self.assertAttempts("GET", "/r1", 2)

    def test_default_retries(self):
        """Without retries anywhere, Kong's default 5 applies (6 attempts)."""
        self.assertAttempts("GET", "/rdef", 6)

    def test_post_not_retried_after_send(self):
        """POST (with or without body) is never retried once sent."""
        self.assertAttempts("POST", "/r2", 1, body=b"x" * 100)
        self.assertAttempts("POST", "/r2", 1)
        self.assertAttempts("PATCH", "/r2", 1, body=b"y")

    def test_get_with_body_not_retried(self):
        """An idempotent request carrying a body is not retried after
        send."""
        self.assertAttempts("PUT", "/r2", 1, body=b"z" * 10)

    def test_retry_then_success(self):
        """Two failed attempts, then success: the client sees only the
        200 from the third."""
        k = key("ok3")
        r, _ = self.fetch("GET", "/r2/count?key=%s&close_first=2" % k)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["count"], 3)
        self.assertEqual(self.up.hits(k), 3)

    def test_linear_backoff(self):
        """retry_backoff linear base 200 ms: waits ~200 then ~400 ms."""
        k = key("backoff")
        r, elapsed = self.fetch("GET", "/backoff/count?key=%s&close=1" % k)
        self.assertJsonError(r, 502, BAD_GATEWAY)
        self.assertEqual(self.up.hits(k), 3)
        self.assertGreaterEqual(elapsed, 0.55)
        self.assertLess(elapsed, 3.0)

    def test_no_backoff_by_default(self):
        """Without retry_backoff, retries happen at once."""
        k = key("fast")
        r, elapsed = self.fetch("GET", "/r2/count?key=%s&close=1" % k)
        self.assertEqual(r.status, 502)
        self.assertLess(elapsed, 0.5)

    def test_access_log_client_gone_499(self):
        """A client that leaves before the response is logged with 499
        (nginx's code), once the request is freed."""
        rid = "gone-%s" % key("g")
        c = self.gw.connect(timeout=5)
        c.send(b"GET /slow/delay/1000 HTTP/1.1\r\nHost: t\r\n"
               b"X-Request-ID: " + rid.encode() + b"\r\n\r\n")
        time.sleep(0.1)
        # A reset, not a FIN: a half-closed client still gets its answer.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

        def entry():
            for e in self.gw.access_log():
                if e.get("request_id") == rid:
                    return e
            return None
        e = rgtest.wait_until(entry, 5, 0.05, "access log entry")
        self.assertEqual(e["status"], 499)
        self.assertEqual(e["route"], "slow")

    def test_access_log_counts_attempts(self):
        """The access log records status 502 and attempts = 3."""
        r = self.assertAttempts("GET", "/r2", 3)
        rid = r.header("x-request-id")

        def entry():
            for e in self.gw.access_log():
                if e.get("request_id") == rid:
                    return e
            return None
        e = rgtest.wait_until(entry, 3, 0.05, "access log entry")
        self.assertEqual(e["status"], 502)
        self.assertEqual(e["attempts"], 3)
        self.assertEqual(e["service"], "r2")
        self.assertEqual(e["route"], "r2")


if __name__ == "__main__":
    rgtest.main()
