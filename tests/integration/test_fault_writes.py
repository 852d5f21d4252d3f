#!/usr/bin/python3
"""Write and allocation failures on the proxy path (issue 13: a request must
outlive its writes). On a failpoint build (configure --enable-failpoints;
CI's sanitizer build is one) the gateway runs with

    conn_write=every(N)    a write to a client fails
    up_write=every(N)      a write to an upstream fails
    worker_alloc=every(N)  an allocation on a worker thread fails

and serves a mix of requests (bodiless, Content-Length and chunked bodies,
pipelined, buffered by plugins both ways, local replies from a plugin,
errors) over several connections. Whatever fails, the process stays up,
never leaves an exchange hanging (each failure is answered or closes its
connection), answers again afterwards, exits 0 on SIGTERM (under ASan: no
use-after-free, no leak), and failures really happened (some exchanges
broke) while others succeeded.

Skipped on a build without failpoints, where the macros are constants."""

import threading
import unittest

import rgtest
from rgtest import GatewayTestCase, Incomplete, gateway_doc, route, service

rgtest.use_test_binary()

FEATURES = rgtest.build_features()
FAILPOINTS = FEATURES is not None and "failpoints" in FEATURES

ROUNDS = 100       # per client thread
CLIENTS = 4


def tp(**config):
    return {"name": "test-phases", "config": config}


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


# Raw requests, one or two (pipelined) each.
REQUESTS = [
    (b"GET /bare/echo HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"POST /bare/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"
     + b"x" * 5000),
    (b"POST /bare/upload HTTP/1.1\r\nHost: t\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"y" * 3000)),
    (b"GET /bare/bytes/70000 HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"GET /bare/chunked/20000 HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"POST /upper/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 300\r\n\r\n"
     + b"z" * 300),
    (b"POST /readbody/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n"
     b"\r\n" + b"w" * 200),
    (b"GET /deny HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"GET /bare/close HTTP/1.1\r\nHost: t\r\n\r\n"),
    (b"GET /bare/echo?a=1 HTTP/1.1\r\nHost: t\r\n\r\n"
     b"GET /bare/echo?a=2 HTTP/1.1\r\nHost: t\r\n\r\n"),
]


@unittest.skipUnless(FAILPOINTS, "not a failpoint build (configure "
                                  "--enable-failpoints)")
class FaultWritesTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}
    GATEWAY_ENV = {"RAFTGATE_FAILPOINTS":
                   "conn_write=every(7),up_write=every(5),"
                   "worker_alloc=every(61)"}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, retries=1, routes=[
            route("bare", ["/bare"]),
            route("upper", ["/upper"], plugins=[
                tp(body_upper=True, body_max=100000)]),
            route("readbody", ["/readbody"], plugins=[
                tp(read_body=True, body_max=1000)]),
            route("deny", ["/deny"], strip_path=False, plugins=[
                tp(respond_in="access", status=403,
                   respond_body='{"message":"denied"}')]),
        ]))

    def one_client(self, tally, lock):
        for i in range(ROUNDS):
            raw = REQUESTS[i % len(REQUESTS)]
            ok = broke = hung = 0
            try:
                with self.gw.connect(timeout=3) as c:
                    c.send(raw)
                    for _ in range(raw.count(b" HTTP/1.1\r\n")):
                        r = c.read_response()
                        if r.status < 500 or r.status == 502:
                            ok += 1
                        else:
                            broke += 1
            except TimeoutError:
                hung += 1
            except (Incomplete, ValueError, OSError):
                broke += 1
            with lock:
                tally["ok"] += ok
                tally["broke"] += broke
                tally["hung"] += hung

    def test_failures_do_not_take_the_process_down(self):
        tally = {"ok": 0, "broke": 0, "hung": 0}
        lock = threading.Lock()
        threads = [threading.Thread(target=self.one_client,
                                    args=(tally, lock))
                   for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads),
                         "client threads did not finish")
        self.assertTrue(self.gw.alive(), self.gw.log_tail(60))
        self.assertGreater(tally["broke"], 0,
                           "no exchange broke: the failpoints did not fire")
        self.assertGreater(tally["ok"], 0, "nothing succeeded: %r" % tally)
        # A failure is answered or closes the connection at once; an
        # exchange left waiting is a leak (or a worker that stopped
        # accepting).
        self.assertEqual(tally["hung"], 0, "exchanges hung: %r" % tally)
        # Still serving: some attempt in a few gets through.
        served = False
        for _ in range(20):
            try:
                if self.gw.get("/bare/echo", timeout=5).status == 200:
                    served = True
                    break
            except (OSError, ValueError, Incomplete):
                pass
        self.assertTrue(served, "the gateway no longer answers")


if __name__ == "__main__":
    unittest.main(verbosity=2)
