#!/usr/bin/python3
"""Streaming: 1 GiB up and down through the gateway with bounded memory,
including a stalled reader on the far side (backpressure, not buffering)."""

import hashlib
import threading
import time

import rgtest
from rgtest import (GatewayTestCase, RssSampler, gateway_doc, pattern_ok,
                    route, service)
from upstream import _BLOCK

GiB = 1 << 30
MiB = 1 << 20
# ASan's shadow memory and quarantine make RSS meaningless: no limit there.
RSS_LIMIT = 64 * MiB if not rgtest.sanitized_binary() else 1 << 62
TIME_LIMIT = 60.0  # seconds per transfer; ~10 s expected on 2 cores

_expected = {}


def expected_sha(n):
    """sha256 of the first n pattern bytes (n a multiple of 1 MiB)."""
    if n not in _expected:
        h = hashlib.sha256()
        for _ in range(n // len(_BLOCK)):
            h.update(_BLOCK)
        _expected[n] = h.hexdigest()
    return _expected[n]


class StreamingTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, read_timeout=20000,
                                   write_timeout=20000, routes=[
                                       route("all", ["/"],
                                             strip_path=False)]))

    def report(self, what, n, elapsed, rss):
        print("\n  %s: %d MiB in %.1fs (%.0f MiB/s), gateway max RSS %.1f "
              "MiB" % (what, n // MiB, elapsed, n / MiB / max(elapsed, 1e-9),
                       rss / MiB), end=" ")

    def test_download_1gib(self):
        """1 GiB download with the client pausing 1.5 s midway: bytes
        intact, gateway RSS stays under 64 MiB."""
        n = GiB
        got = [0]
        ok = [True]
        paused = [False]

        def sink(mv):
            if ok[0] and not pattern_ok(got[0], mv):
                ok[0] = False
            got[0] += len(mv)
            if not paused[0] and got[0] >= 256 * MiB:
                paused[0] = True
                # stop reading: the gateway must stop reading upstream
                threading.Event().wait(1.5)

        with RssSampler(self.gw.pid) as rss, \
                self.gw.connect(timeout=TIME_LIMIT) as c:
            t0 = time.monotonic()
            c.send(rgtest.build_request("GET", "/bytes/%d" % n))
            r = c.read_response(timeout=TIME_LIMIT, sink=sink)
            elapsed = time.monotonic() - t0
        self.report("download", n, elapsed, rss.max)
        self.assertEqual(r.status, 200)
        self.assertEqual(got[0], n)
        self.assertTrue(ok[0], "body bytes differ from the pattern")
        self.assertLess(rss.max, RSS_LIMIT)
        self.assertLess(elapsed, TIME_LIMIT)

    def _upload(self, n, chunked_body, stall=True):
        """Upload n pattern bytes; the upstream stops reading for 1.5 s
        after 256 MiB. Returns (response, elapsed, max rss)."""
        sha = [None]
        t = threading.Thread(target=lambda: sha.__setitem__(
            0, expected_sha(n)))
        t.start()
        path = "/upload"
        if stall:
            path += "?stall_at=%d&stall_ms=1500" % min(256 * MiB, n // 2)
        hdrs = ([("Transfer-Encoding", "chunked")] if chunked_body
                else [("Content-Length", str(n))])
        blk = memoryview(_BLOCK)
        with RssSampler(self.gw.pid) as rss, \
                self.gw.connect(timeout=TIME_LIMIT) as c:
            t0 = time.monotonic()
            c.send(rgtest.build_request("POST", path, hdrs))
            left = n
            while left:
                take = min(left, len(blk))
                if chunked_body:
                    c.sock.sendall(b"%x\r\n" % take)
                    c.sock.sendall(blk[:take])
                    c.sock.sendall(b"\r\n")
                else:
                    c.sock.sendall(blk[:take])
                left -= take
            if chunked_body:
                c.sock.sendall(b"0\r\n\r\n")
            r = c.read_response(timeout=TIME_LIMIT)
            elapsed = time.monotonic() - t0
        t.join(60)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["bytes"], n)
        self.assertEqual(doc["sha256"], sha[0])
        return r, elapsed, rss.max

    def test_upload_1gib(self):
        """1 GiB Content-Length upload with the upstream pausing 1.5 s:
        bytes intact, gateway RSS stays under 64 MiB."""
        _, elapsed, rss = self._upload(GiB, chunked_body=False)
        self.report("upload", GiB, elapsed, rss)
        self.assertLess(rss, RSS_LIMIT)
        self.assertLess(elapsed, TIME_LIMIT)

    def test_upload_chunked_256mib(self):
        """256 MiB chunked upload: streamed, RSS under 64 MiB."""
        n = 256 * MiB
        _, elapsed, rss = self._upload(n, chunked_body=True)
        self.report("chunked upload", n, elapsed, rss)
        self.assertLess(rss, RSS_LIMIT)

    def test_download_chunked_256mib(self):
        """256 MiB chunked download: intact, RSS under 64 MiB."""
        n = 256 * MiB
        got = [0]
        ok = [True]

        def sink(mv):
            if ok[0] and not pattern_ok(got[0], mv):
                ok[0] = False
            got[0] += len(mv)

        with RssSampler(self.gw.pid) as rss, \
                self.gw.connect(timeout=TIME_LIMIT) as c:
            t0 = time.monotonic()
            c.send(rgtest.build_request("GET", "/chunked/%d?size=65536" % n))
            r = c.read_response(timeout=TIME_LIMIT, sink=sink)
            elapsed = time.monotonic() - t0
        self.report("chunked download", n, elapsed, rss.max)
        self.assertTrue(r.chunked)
        self.assertEqual(got[0], n)
        self.assertTrue(ok[0])
        self.assertLess(rss.max, RSS_LIMIT)


if __name__ == "__main__":
    rgtest.main()
