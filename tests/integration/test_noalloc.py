#!/usr/bin/python3
"""The bare proxy path allocates nothing per request in steady state
(issue 8): on keep-alive client and upstream connections, after a warm-up,
a mix of requests (small and large bodiless GETs, a chunked response, a
POST with a Content-Length body, a pipelined pair) is proxied with the
access log on while the worker threads' allocation count (GET /debug/allocs
on the status listener, core/alloc.h rg_alloc_count_thread) stays where it
was. A request that allocates even once in a thousand fails the test.

What does allocate, and is outside "steady state": a new client
connection (its rg_conn), a new upstream connection, a head or body past
the sizes the kept buffers have grown to, and bytes a slow client leaves
queued (copied so the read buffer can be reused)."""

import json
import urllib.request

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

MIX = [
    b"GET /bytes/100 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /bytes/20000 HTTP/1.1\r\nHost: t\r\nX-Extra: 1\r\n\r\n",
    b"GET /chunked/5000 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n"
    + b"p" * 2000,
    b"GET /echo?a=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    b"GET /echo?a=2 HTTP/1.1\r\nHost: t\r\n\r\n",
]


class NoAllocTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/"])]))

    def allocs(self):
        url = "http://127.0.0.1:%d/debug/allocs" % self.gw.status_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["worker_allocations"]

    def run_mix(self, conns, rounds):
        n = 0
        for _ in range(rounds):
            for c in conns:
                for raw in MIX:
                    c.send(raw)
                    for _ in range(raw.count(b" HTTP/1.1\r\n")):
                        r = c.read_response()
                        self.assertEqual(r.status, 200, r)
                        n += 1
        return n

    def test_steady_state_allocates_nothing(self):
        conns = [self.gw.connect() for _ in range(3)]
        try:
            self.run_mix(conns, 40)           # warm-up: buffers, pool
            before = self.allocs()
            n = self.run_mix(conns, 70)
            after = self.allocs()
        finally:
            for c in conns:
                c.close()
        self.assertGreaterEqual(n, 1000)
        self.assertEqual(after - before, 0,
                         "%d allocations in %d requests" % (after - before, n))

    def test_counter_counts(self):
        """The control: a new connection allocates, and the counter sees
        it (so the zero above is not a counter that never moves)."""
        before = self.allocs()
        for _ in range(5):
            with self.gw.connect() as c:
                c.send(MIX[0])
                self.assertEqual(c.read_response().status, 200)
        self.assertGreater(self.allocs() - before, 0)


if __name__ == "__main__":
    rgtest.main()
