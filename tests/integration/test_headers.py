#!/usr/bin/python3
"""Header handling: X-Forwarded-*, X-Real-IP, X-Request-ID, Via, and removal
of hop-by-hop headers in both directions."""

import time
import urllib.parse

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

HOP_REQUEST = ["Keep-Alive", "Proxy-Connection", "TE", "Trailer",
               "Upgrade", "X-Secret-Hop", "X-Other-Hop"]


def lower_keys(d):
    return {k.lower(): v for k, v in d.items()}


def connection_tokens(value):
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


class HeadersTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/"], strip_path=False)]))

    def send(self, path, headers=(), method="GET", body=b"", host="front.test"):
        """Returns (response, upstream echo doc with lower-case keys)."""
        with self.gw.connect() as c:
            c.send(rgtest.build_request(method, path, list(headers), body,
                                        host=host))
            r = c.read_response(method)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        doc["h"] = lower_keys(doc["headers"])
        return r, doc

    def test_forwarded_headers_added(self):
        """X-Forwarded-For/Proto/Host/Port and X-Real-IP are set."""
        _, doc = self.send("/echo")
        h = doc["h"]
        self.assertEqual(h.get("x-forwarded-for"), "127.0.0.1")
        self.assertEqual(h.get("x-forwarded-proto"), "http")
        self.assertEqual(h.get("x-forwarded-host"), "front.test")
        self.assertEqual(h.get("x-forwarded-port"), str(self.gw.port))
        self.assertEqual(h.get("x-real-ip"), "127.0.0.1")

    def test_forwarded_for_appended(self):
        """The client's X-Forwarded-For list (one or several headers) is
        kept and the client address appended."""
        _, doc = self.send("/echo", [("X-Forwarded-For", "203.0.113.7")])
        self.assertEqual(doc["h"]["x-forwarded-for"],
                         "203.0.113.7, 127.0.0.1")
        _, doc = self.send("/echo?raw=1",
                           [("X-Forwarded-For", "203.0.113.7"),
                            ("X-Forwarded-For", "198.51.100.1")])
        values = [v for k, v in doc["header_list"]
                  if k.lower() == "x-forwarded-for"]
        joined = ", ".join(values)
        self.assertEqual(joined, "203.0.113.7, 198.51.100.1, 127.0.0.1")

    def test_spoofed_forwarding_headers_replaced(self):
        """A client cannot spoof X-Real-IP or X-Forwarded-Proto/Port: the
        upstream sees exactly one value, the gateway's."""
        _, doc = self.send("/echo?raw=1", [("X-Real-IP", "6.6.6.6"),
                                            ("X-Forwarded-Proto", "https"),
                                            ("X-Forwarded-Port", "443")])
        hl = [(k.lower(), v) for k, v in doc["header_list"]]
        self.assertEqual([v for k, v in hl if k == "x-real-ip"],
                         ["127.0.0.1"])
        self.assertEqual([v for k, v in hl if k == "x-forwarded-proto"],
                         ["http"])
        self.assertEqual([v for k, v in hl if k == "x-forwarded-port"],
                         [str(self.gw.port)])

    def test_request_id_generated(self):
        """Without X-Request-ID the gateway generates 32 hex chars, sends it
        upstream and echoes it to the client; ids are unique."""
        r1, doc1 = self.send("/echo")
        r2, doc2 = self.send("/echo")
        rid = doc1["h"].get("x-request-id")
        self.assertRegex(rid or "", r"^[0-9a-fA-F]{32}$")
        self.assertEqual(r1.header("x-request-id"), rid)
        self.assertNotEqual(rid, doc2["h"].get("x-request-id"))
        self.assertEqual(r2.header("x-request-id"),
                         doc2["h"].get("x-request-id"))

    def test_request_id_kept(self):
        """A valid client X-Request-ID (1..200 visible chars) is kept."""
        for rid in ("abc-123_XYZ", "x", "a" * 200, "!~{}[]#$%&'*+.^`|"):
            with self.subTest(rid=rid[:20]):
                r, doc = self.send("/echo", [("X-Request-ID", rid)])
                self.assertEqual(doc["h"].get("x-request-id"), rid)
                self.assertEqual(r.header("x-request-id"), rid)

    def test_request_id_invalid_replaced(self):
        """An invalid client X-Request-ID (too long, spaces, empty) is
        replaced by a generated one, upstream and in the response."""
        for rid in ("a" * 201, "has space", ""):
            with self.subTest(rid=rid[:20]):
                r, doc = self.send("/echo?raw=1", [("X-Request-ID", rid)])
                got = [v for k, v in doc["header_list"]
                       if k.lower() == "x-request-id"]
                self.assertEqual(len(got), 1, got)
                self.assertRegex(got[0], r"^[0-9a-fA-F]{32}$")
                self.assertEqual(r.header("x-request-id"), got[0])

    def test_via_both_ways(self):
        """Via "1.1 raftgate" is added upstream (after any client Via) and
        on the response."""
        r, doc = self.send("/echo")
        self.assertEqual(doc["h"].get("via"), "1.1 raftgate")
        self.assertIn("1.1 raftgate", r.header("via") or "")
        _, doc = self.send("/echo", [("Via", "1.0 fred")])
        self.assertEqual(doc["h"].get("via"), "1.0 fred, 1.1 raftgate")

    def test_hop_by_hop_request_headers_removed(self):
        """Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade
        and headers named in Connection do not reach the upstream;
        Proxy-Authorization and ordinary headers do."""
        _, doc = self.send("/echo", [
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Connection", "X-Other-Hop"),
            ("X-Secret-Hop", "1"), ("X-Other-Hop", "2"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"), ("Trailer", "X-T"), ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("X-Normal", "yes")])
        h = doc["h"]
        for name in HOP_REQUEST:
            self.assertNotIn(name.lower(), h, "%s forwarded" % name)
        # The gateway may manage its own upstream connection header.
        self.assertLessEqual(connection_tokens(h.get("connection")),
                             {"keep-alive", "close"})
        self.assertEqual(h.get("proxy-authorization"), "Basic Zm9vOmJhcg==")
        self.assertEqual(h.get("x-normal"), "yes")

    def test_hop_by_hop_response_headers_removed(self):
        """Hop-by-hop headers of the upstream response (and those it names
        in Connection) do not reach the client; others do, plus Via and
        X-Request-ID."""
        q = urllib.parse.urlencode([
            ("Connection", "X-Up-Hop"), ("X-Up-Hop", "1"),
            ("Keep-Alive", "timeout=9"), ("Proxy-Connection", "keep-alive"),
            ("Trailer", "X-T"), ("Upgrade", "foo"), ("X-Up-Normal", "yes")])
        with self.gw.connect() as c:
            c.send(rgtest.build_request("GET", "/set-headers?" + q))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        for name in ("X-Up-Hop", "Keep-Alive", "Proxy-Connection", "Trailer",
                     "Upgrade"):
            self.assertIsNone(r.header(name), "%s passed to client" % name)
        self.assertLessEqual(connection_tokens(r.header("connection")),
                             {"keep-alive", "close"})
        self.assertEqual(r.header("x-up-normal"), "yes")
        self.assertIn("1.1 raftgate", r.header("via") or "")
        self.assertRegex(r.header("x-request-id") or "", r"^[0-9a-fA-F]{32}$")

    def test_end_to_end_headers_pass(self):
        """Ordinary request headers, repeated ones included, pass in
        order; the body arrives intact."""
        _, doc = self.send("/echo?raw=1", [("X-Multi", "1"), ("X-Multi", "2"),
                                            ("Authorization", "Bearer t"),
                                            ("Cookie", "a=b")],
                           method="POST", body=b"hello")
        hl = [(k.lower(), v) for k, v in doc["header_list"]]
        self.assertEqual([v for k, v in hl if k == "x-multi"], ["1", "2"])
        self.assertIn(("authorization", "Bearer t"), hl)
        self.assertIn(("cookie", "a=b"), hl)
        self.assertEqual(doc["body_len"], 5)

    def test_heads_cut_anywhere_by_reads(self):
        """A head is read into a 4 KiB chunk and its fields are slices of
        it; fields cut by reads, one running past the chunk (copied over
        from the next read) and a pipelined second head (copied from what
        waited) all arrive whole and in order."""
        first = rgtest.build_request("GET", "/echo?raw=1", [
            ("X-Small", "s" * 10), ("X-Across", "a" * 3000),
            ("X-After", "z" * 2000)])
        second = rgtest.build_request("GET", "/echo?raw=1&n=2",
                                      [("X-Second", "two")])
        cuts = [5, 40, 1500, 4090, 4100, len(first) - 3]
        with self.gw.connect() as c:
            last = 0
            for cut in cuts:
                c.send(first[last:cut])
                last = cut
                time.sleep(0.05)
            c.send(first[last:] + second)
            for want in (("x-across", "a" * 3000), ("x-second", "two")):
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                hl = [(k.lower(), v) for k, v in r.json()["header_list"]]
                self.assertIn(want, hl)
                if want[0] == "x-across":
                    self.assertIn(("x-small", "s" * 10), hl)
                    self.assertIn(("x-after", "z" * 2000), hl)

    def test_response_heads_cut_anywhere_by_reads(self):
        """An upstream response head is read into a 4 KiB chunk of the
        upstream connection's and its fields are slices of it; a head cut
        by reads, with X-After running past the chunk's end (copied over
        from the shared read buffer), and a final head after a 103 (read
        into a fresh chunk) reach the client whole, on one keep-alive
        connection each time."""
        cuts = "5,40,1500,4090,4100"
        with self.gw.connect() as c:
            for interim in ("0", "1", "0"):
                c.send(rgtest.build_request(
                    "GET", "/head-cut?cuts=%s&interim=%s" % (cuts, interim)))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, b"ok")
                self.assertEqual(r.header("x-small"), "s" * 10)
                self.assertEqual(r.header("x-across"), "a" * 3000)
                self.assertEqual(r.header("x-after"), "z" * 2000)
        self.assertEqual(self.gw.get("/echo").status, 200)


class TrustedProxyTest(GatewayTestCase):
    """A peer in proxy.trusted_ips (here loopback, the test client) may set
    X-Forwarded-Proto/-Host/-Port, as a TLS-terminating proxy in front of
    the gateway does; X-Real-IP stays the peer and X-Forwarded-For is
    still appended to. HeadersTest.test_spoofed_forwarding_headers_replaced
    is the untrusted side."""
    GATEWAY_NODE = {"proxy": {"trusted_ips": ["10.0.0.0/8", "127.0.0.0/8",
                                              "::1"]}}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/"], strip_path=False)]))

    def test_trusted_peer_keeps_forwarded_headers(self):
        with self.gw.connect() as c:
            c.send(rgtest.build_request("GET", "/echo?raw=1", [
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "api.example.com"),
                ("X-Forwarded-Port", "443"),
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Real-IP", "6.6.6.6")], b"", host="front.test"))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        hl = [(k.lower(), v) for k, v in r.json()["header_list"]]

        def values(name):
            return [v for k, v in hl if k == name]
        self.assertEqual(values("x-forwarded-proto"), ["https"])
        self.assertEqual(values("x-forwarded-host"), ["api.example.com"])
        self.assertEqual(values("x-forwarded-port"), ["443"])
        self.assertEqual(values("x-forwarded-for"), ["203.0.113.7, 127.0.0.1"])
        self.assertEqual(values("x-real-ip"), ["127.0.0.1"])

    def test_trusted_peer_without_headers_gets_this_hops(self):
        with self.gw.connect() as c:
            c.send(rgtest.build_request("GET", "/echo?raw=1", [], b"",
                                        host="front.test"))
            r = c.read_response()
        hl = [(k.lower(), v) for k, v in r.json()["header_list"]]
        self.assertIn(("x-forwarded-proto", "http"), hl)
        self.assertIn(("x-forwarded-host", "front.test"), hl)
        self.assertIn(("x-forwarded-port", str(self.gw.port)), hl)


class ViaOffTest(GatewayTestCase):
    """proxy.via "" turns Via off; proxy.server "" drops Server on local
    replies."""
    GATEWAY_NODE = {"proxy": {"via": "", "server": ""}}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/echo"], strip_path=False)]))

    def test_via_off(self):
        """No Via upstream or to the client when proxy.via is ""."""
        with self.gw.connect() as c:
            r = c.request("GET", "/echo")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("via", lower_keys(r.json()["headers"]))
        self.assertIsNone(r.header("via"))

    def test_server_off(self):
        """No Server header on a local error when proxy.server is ""."""
        with self.gw.connect() as c:
            r = c.request("GET", "/nothing")
        self.assertJsonError(r, 404)
        self.assertIsNone(r.header("server"))


if __name__ == "__main__":
    rgtest.main()
