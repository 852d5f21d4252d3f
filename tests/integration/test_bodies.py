#!/usr/bin/python3
"""Message bodies: chunked requests and responses, close-delimited upstream
responses re-framed, HEAD/204/304 without body, Expect: 100-continue."""

import hashlib
import time

import rgtest
from rgtest import (GatewayTestCase, build_request, chunked, gateway_doc,
                    pattern, pattern_ok, route, service)


class BodiesTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("echo", up.port, routes=[
            route("all", ["/echo", "/upload", "/bytes", "/chunked",
                          "/status"], strip_path=False)]))

    # -- request bodies --------------------------------------------------
    def test_chunked_request_body(self):
        """A chunked request body (with a trailer) reaches the upstream
        byte for byte."""
        data = pattern(0, 100000)
        body = chunked(data, 997, trailers=[("X-Sum", "1")])
        with self.gw.connect() as c:
            c.send(build_request("POST", "/upload",
                                 [("Transfer-Encoding", "chunked")], body))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["bytes"], len(data))
        self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())

    def test_chunked_request_then_keepalive(self):
        """After a chunked request the same connection serves the next."""
        with self.gw.connect() as c:
            c.send(build_request("POST", "/echo",
                                 [("Transfer-Encoding", "chunked")],
                                 chunked(b"hello world", 4)))
            r = c.read_response()
            self.assertEqual(r.json()["body_len"], 11)
            h = {k.lower() for k in r.json()["headers"]}
            self.assertFalse("content-length" in h and
                             "transfer-encoding" in h,
                             "upstream got both CL and TE")
            r = c.request("GET", "/echo")
            self.assertEqual(r.status, 200)

    def test_content_length_request_body(self):
        """A Content-Length body arrives intact, Content-Length kept."""
        data = pattern(7, 65537)
        with self.gw.connect() as c:
            r = c.request("POST", "/echo", body=data)
        doc = r.json()
        self.assertEqual(doc["body_len"], len(data))
        self.assertEqual(doc["body_sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(doc["headers"].get("Content-Length"),
                         str(len(data)))

    def test_empty_post(self):
        """POST with Content-Length: 0 is proxied with an empty body."""
        with self.gw.connect() as c:
            r = c.request("POST", "/echo",
                          headers=[("Content-Length", "0")])
        self.assertEqual(r.json()["body_len"], 0)

    # -- response bodies -------------------------------------------------
    def test_content_length_response_kept(self):
        """An upstream Content-Length response keeps its length."""
        with self.gw.connect() as c:
            r = c.request("GET", "/bytes/12345")
        self.assertEqual(r.header("content-length"), "12345")
        self.assertIsNone(r.header("transfer-encoding"))
        self.assertTrue(pattern_ok(0, r.body) and len(r.body) == 12345)

    def test_chunked_response(self):
        """A chunked upstream response reaches an HTTP/1.1 client chunked
        and intact."""
        with self.gw.connect() as c:
            r = c.request("GET", "/chunked/300000?size=7000")
            self.assertTrue(r.chunked, r)
            self.assertEqual(len(r.body), 300000)
            self.assertTrue(pattern_ok(0, r.body))
            self.assertEqual(c.request("GET", "/echo").status, 200)

    def test_chunked_response_with_trailer(self):
        """A chunked response with a trailer is delivered complete and the
        connection stays usable."""
        with self.gw.connect() as c:
            r = c.request("GET", "/chunked/5000?trailer=1")
            self.assertEqual(len(r.body), 5000)
            self.assertEqual(c.request("GET", "/echo").status, 200)

    def test_close_delimited_rechunked(self):
        """A close-delimited upstream body goes to an HTTP/1.1 client
        chunked, and the client connection stays open."""
        with self.gw.connect() as c:
            r = c.request("GET", "/bytes/50000?close=1")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.chunked, r)
            self.assertEqual(len(r.body), 50000)
            self.assertTrue(pattern_ok(0, r.body))
            self.assertEqual(c.request("GET", "/echo").status, 200)

    def test_http10_client_gets_close_delimited(self):
        """An HTTP/1.0 client gets chunked/close-delimited upstream bodies
        unchunked, ended by close."""
        for path in ("/chunked/20000", "/bytes/20000?close=1"):
            with self.subTest(path), self.gw.connect() as c:
                c.send(build_request("GET", path, version="1.0"))
                r = c.read_response()
                self.assertFalse(r.chunked, r)
                self.assertEqual(len(r.body), 20000)
                self.assertTrue(pattern_ok(0, r.body))
                self.assertTrue(c.wait_closed(3))

    def test_head_has_no_body(self):
        """HEAD gets headers only; the pipelined next response parses."""
        with self.gw.connect() as c:
            c.send(build_request("HEAD", "/bytes/1000") +
                   build_request("HEAD", "/chunked/1000") +
                   build_request("GET", "/echo?after=head"))
            r1 = c.read_response("HEAD")
            r2 = c.read_response("HEAD")
            r3 = c.read_response()
        self.assertEqual(r1.status, 200)
        self.assertEqual(r2.status, 200)
        self.assertEqual(r3.json()["path"], "/echo?after=head")

    def test_204_and_304_have_no_body(self):
        """204 and 304 responses carry no body; the next response on the
        connection parses."""
        with self.gw.connect() as c:
            c.send(build_request("GET", "/status/204") +
                   build_request("GET", "/status/304") +
                   build_request("GET", "/echo?after=304"))
            r1 = c.read_response()
            r2 = c.read_response()
            r3 = c.read_response()
        self.assertEqual(r1.status, 204)
        self.assertIsNone(r1.header("transfer-encoding"))
        self.assertEqual(r2.status, 304)
        self.assertIsNone(r2.header("transfer-encoding"))
        self.assertEqual(r3.json()["path"], "/echo?after=304")

    def test_error_statuses_pass_through(self):
        """Upstream 4xx/5xx statuses and bodies pass unchanged."""
        for code in (400, 404, 418, 500, 503):
            with self.subTest(code):
                r = self.gw.get("/status/%d" % code)
                self.assertEqual(r.status, code)
                self.assertEqual(r.json(), {"status": code})

    # -- Expect: 100-continue ---------------------------------------------
    def test_expect_100_continue(self):
        """The gateway answers 100 Continue before the body is sent, then
        proxies the body; Expect is not forwarded."""
        data = pattern(0, 5000)
        with self.gw.connect() as c:
            c.send(build_request("POST", "/echo?raw=1",
                                 [("Expect", "100-continue"),
                                  ("Content-Length", str(len(data)))]))
            interim = c.read_response(interim=True, timeout=5)
            self.assertEqual(interim.status, 100, interim)
            c.send(data)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["body_len"], len(data))
        self.assertNotIn("expect", [k.lower() for k, _ in doc["header_list"]])

    def test_expect_on_unrouted_path(self):
        """Expect: 100-continue to a path with no route gets the final 404
        without the client sending the body."""
        with self.gw.connect() as c:
            c.send("POST /nowhere HTTP/1.1\r\nHost: t\r\n"
                   "Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
            t0 = time.monotonic()
            r = c.read_response(timeout=5)
            self.assertJsonError(r, 404)
            self.assertLess(time.monotonic() - t0, 3)


if __name__ == "__main__":
    rgtest.main()
