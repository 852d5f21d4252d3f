#!/usr/bin/python3
"""Connection handling: client keep-alive, pipelining, HTTP/1.0, and reuse of
upstream connections from the worker's keep-alive pool."""

import rgtest
from rgtest import GatewayTestCase, build_request, gateway_doc, route, service


class KeepAliveTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("echo", up.port, routes=[
                route("all", ["/"], strip_path=False)]),
            service("strict", up.port, retries=0, routes=[
                route("strict", ["/strict"], strip_path=False)]))

    def test_client_keepalive(self):
        """Several requests on one client connection are all answered and
        the connection stays open."""
        with self.gw.connect() as c:
            for i in range(5):
                r = c.request("GET", "/echo?i=%d" % i)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["path"], "/echo?i=%d" % i)
            self.assertFalse(c.wait_closed(0.2))

    def test_upstream_connection_reused_same_client_conn(self):
        """Sequential requests on one client connection reuse one upstream
        connection (same conn_id, request_no counting up)."""
        with self.gw.connect() as c:
            docs = [c.request("GET", "/echo").json() for _ in range(5)]
        ids = {d["conn_id"] for d in docs}
        self.assertEqual(len(ids), 1, docs)
        nos = [d["request_no"] for d in docs]
        self.assertEqual(nos, list(range(nos[0], nos[0] + 5)))

    def test_upstream_connection_reused_across_client_conns(self):
        """Sequential requests on separate client connections still reuse
        the pooled upstream connection."""
        ids = []
        for _ in range(4):
            r = self.gw.get("/echo")
            self.assertEqual(r.status, 200, r)
            ids.append(r.json()["conn_id"])
        self.assertEqual(len(set(ids)), 1, ids)

    def test_pipelining_in_order(self):
        """Three requests in one write are answered in order, even when the
        first one is the slowest."""
        reqs = (build_request("GET", "/delay/300?n=1") +
                build_request("POST", "/echo?n=2", body=b"x" * 1000) +
                build_request("GET", "/status/201?n=3") +
                build_request("GET", "/echo?n=4"))
        with self.gw.connect() as c:
            c.send(reqs)
            r1 = c.read_response()
            r2 = c.read_response()
            r3 = c.read_response()
            r4 = c.read_response()
        self.assertEqual(r1.status, 200)
        self.assertEqual(r1.json()["path"], "/delay/300?n=1")
        self.assertEqual(r2.json()["path"], "/echo?n=2")
        self.assertEqual(r2.json()["body_len"], 1000)
        self.assertEqual(r3.status, 201)
        self.assertEqual(r4.json()["path"], "/echo?n=4")

    def test_pipelining_many(self):
        """Twenty pipelined requests, twenty ordered responses."""
        n = 20
        with self.gw.connect() as c:
            c.send(b"".join(build_request("GET", "/echo?n=%d" % i)
                            for i in range(n)))
            for i in range(n):
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["path"], "/echo?n=%d" % i)

    def test_pipelining_byte_by_byte(self):
        """Requests split at every byte boundary are still parsed."""
        raw = build_request("GET", "/echo?a=1") + build_request(
            "POST", "/echo?a=2", body=b"hello")
        with self.gw.connect() as c:
            for i in range(len(raw)):
                c.send(raw[i:i + 1])
            self.assertEqual(c.read_response().json()["path"], "/echo?a=1")
            self.assertEqual(c.read_response().json()["body_len"], 5)

    def test_http10_closes(self):
        """An HTTP/1.0 request without keep-alive is answered and the
        connection closed."""
        with self.gw.connect() as c:
            c.send(build_request("GET", "/echo", version="1.0"))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["path"], "/echo")
            self.assertTrue(c.wait_closed(3))

    def test_http10_keepalive(self):
        """HTTP/1.0 with Connection: keep-alive keeps the connection."""
        with self.gw.connect() as c:
            for i in range(2):
                c.send(build_request("GET", "/echo?i=%d" % i,
                                     [("Connection", "keep-alive")],
                                     version="1.0"))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertIsNotNone(r.header("content-length"))
                self.assertEqual(r.json()["path"], "/echo?i=%d" % i)

    def test_connection_close_honoured(self):
        """Connection: close from an HTTP/1.1 client: answer, then close;
        the upstream connection is still pooled and reused."""
        before = self.gw.get("/echo").json()["conn_id"]
        with self.gw.connect() as c:
            c.send(build_request("GET", "/echo", [("Connection", "close")]))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertTrue(c.wait_closed(3))
        self.assertEqual(r.json()["conn_id"], before)

    def test_upstream_close_not_reused(self):
        """After the upstream answers with Connection: close, the next
        request uses a new upstream connection and succeeds."""
        with self.gw.connect() as c:
            r = c.request("GET", "/bytes/100?close=1")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.body), 100)
            r = c.request("GET", "/echo")
            self.assertEqual(r.status, 200, r)

    def test_stale_pooled_connection_not_used(self):
        """An idle pooled connection the upstream has closed is not used
        for the next request, even a non-retryable POST."""
        r = self.gw.get("/strict/echo")
        self.assertEqual(r.status, 200, r)
        old = r.json()["conn_id"]
        self.assertGreater(self.up.drop_connections(), 0)
        self.up.wait_for(lambda: old not in self.up.conns, 5)
        # Give the gateway's event loop a moment to see the FIN (poll on a
        # condition that is true at once: what matters is the round trip).
        for _ in range(3):
            self.gw.get("/nothing-routed-here")
        r = self.gw.request("POST", "/strict/echo", body=b"abc")
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json()["conn_id"], old)

    def test_concurrent_connections(self):
        """Many concurrent client connections are served."""
        conns = [self.gw.connect() for _ in range(50)]
        try:
            for c in conns:
                c.send(build_request("GET", "/echo"))
            for c in conns:
                self.assertEqual(c.read_response().status, 200)
        finally:
            for c in conns:
                c.close()


def concurrent_conn_ids(gw, n, path="/delay/300"):
    """Send @n requests at once on @n client connections; the upstream
    connection ids that served them."""
    conns = [gw.connect() for _ in range(n)]
    try:
        for c in conns:
            c.send(build_request("GET", path))
        ids = set()
        for c in conns:
            r = c.read_response()
            assert r.status == 200, r
            ids.add(r.json()["conn_id"])
        return ids
    finally:
        for c in conns:
            c.close()


class DemandSizedPoolTest(GatewayTestCase):
    """The keep-alive pool follows demand: 40 concurrent clients keep about
    40 upstream connections although upstream_keepalive is 2."""

    GATEWAY_NODE = {"proxy": {"upstream_keepalive": 2}}

    def test_second_burst_reuses_first_bursts_connections(self):
        first = concurrent_conn_ids(self.gw, 40)
        self.assertGreaterEqual(len(first), 30, first)
        second = concurrent_conn_ids(self.gw, 40)
        self.assertLessEqual(len(second - first), 4,
                             "new upstream connections: %d of %d"
                             % (len(second - first), len(second)))


class BoundedPoolTest(GatewayTestCase):
    """upstream_keepalive_max bounds what demand may keep (the control for
    the test above: with a bound of 2 the second burst reconnects)."""

    GATEWAY_NODE = {"proxy": {"upstream_keepalive": 2,
                              "upstream_keepalive_max": 2}}

    def test_second_burst_reconnects_past_the_bound(self):
        first = concurrent_conn_ids(self.gw, 40)
        self.assertGreaterEqual(len(first), 30, first)
        second = concurrent_conn_ids(self.gw, 40)
        self.assertGreaterEqual(len(second - first), 30,
                                "new upstream connections: %d of %d"
                                % (len(second - first), len(second)))


if __name__ == "__main__":
    rgtest.main()
