#!/usr/bin/python3
"""The plugin phase chain through the real binary, with the test-phases
plugins (src/plugins/test_phases.c) that tests/raftgate-test carries:
priority order, Kong's scope precedence (global, service, route, consumer),
local replies from rewrite and access, headers added both ways, a paused
access phase (and a client that leaves while it waits), plugin errors, the
log phase on every exit, protocols, and config errors with their paths."""

import os
import socket
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

rgtest.use_test_binary()


def reset(s):
    """Close @s with a RST: the client is gone, not just done sending."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def tp(name="test-phases", **config):
    return {"name": name, "config": config}


class PhaseChainTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("bare", ["/bare"], strip_path=False),
                # Listed out of priority order: the chain sorts them.
                route("three", ["/three"], strip_path=False, plugins=[
                    tp("test-phases-c", tag="c"),
                    tp("test-phases", tag="a",
                       request_headers={"X-Added-A": "1"},
                       response_headers={"X-Resp-A": "yes"}),
                    tp("test-phases-b", tag="b",
                       request_headers={"X-Added-B": "2"}),
                ]),
                route("deny", ["/deny"], strip_path=False, plugins=[
                    tp(respond_in="access", status=403,
                       respond_body='{"message":"denied"}', tag="d")]),
                route("wait", ["/wait"], strip_path=False, plugins=[
                    tp(pause_ms=300, tag="w")]),
                route("waitdeny", ["/waitdeny"], strip_path=False, plugins=[
                    tp(pause_ms=200, respond_in="access", status=429)]),
                route("failaccess", ["/failaccess"], strip_path=False,
                      plugins=[tp(fail_in="access")]),
                route("failheader", ["/failheader"], strip_path=False,
                      plugins=[tp(fail_in="header")]),
                route("nomemaccess", ["/nomemaccess"], strip_path=False,
                      plugins=[tp(fail_in="access", fail_nomem=True)]),
                route("nomemheader", ["/nomemheader"], strip_path=False,
                      plugins=[tp(fail_in="header", fail_nomem=True)]),
                route("who", ["/who"], strip_path=False, plugins=[
                    tp(set_consumer="alice")]),
                route("https-only", ["/https-only"], strip_path=False,
                      plugins=[dict(tp(tag="never"),
                                    protocols=["https"])]),
                route("svc-override", ["/override"], strip_path=False,
                      plugins=[tp("test-phases-c", tag="route-c")]),
                route("logged", ["/logged"], strip_path=False, plugins=[
                    tp(tag="L", log=True)]),
                route("waitlog", ["/waitlog"], strip_path=False, plugins=[
                    tp(pause_ms=300, tag="WL", log=True)]),
                route("smuggle", ["/smuggle"], strip_path=False, plugins=[
                    tp(request_headers={"Transfer-Encoding": "chunked"})]),
                route("readbody", ["/readbody"], strip_path=False, plugins=[
                    tp(read_body=True, body_max=1000)]),
                route("upper", ["/upper"], strip_path=False, plugins=[
                    tp(body_upper=True, body_max=100000)]),
            ], plugins=[tp("test-phases-c", tag="service-c")]),
            consumers=[{"username": "alice", "plugins": [
                tp("test-phases-b", tag="alice-b")]}],
            plugins=[
                # Global: its tag shows on every response, 404s included.
                dict(tp("test-phases-b", tag="global-b"),
                     instance_name="global-b"),
                {"name": "test-phases", "config": {"tag": "rw"},
                 "route": "bare", "enabled": False},
            ])

    def hits(self, key):
        return self.up.hits(key)

    def tags(self, r):
        return ", ".join(r.header_all("X-Test-Phases"))

    def test_bare_route_has_only_global_and_service(self):
        """A route without plugins gets the global and service instances
        (a disabled route instance is left out)."""
        r = self.gw.get("/bare/echo")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.tags(r), "global-b, service-c")

    def test_priority_order_and_headers_both_ways(self):
        """Three plugins run in priority order (test-phases 500, -b 499,
        -c 498) whatever the file order; each adds its request header
        upstream and its response header; the route's -b and -c replace
        the global and service ones."""
        r = self.gw.get("/three/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.tags(r), "a, b, c")
        self.assertEqual(r.header("X-Resp-A"), "yes")
        h = {k.lower(): v for k, v in r.json()["headers"].items()}
        self.assertEqual(h.get("x-added-a"), "1")
        self.assertEqual(h.get("x-added-b"), "2")

    def test_access_answers_locally(self):
        """A plugin's reply in ACCESS: its status and body, the upstream
        never sees the request, and HEADER still runs on the reply."""
        r = self.gw.get("/deny/count?key=deny1")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json(), {"message": "denied"})
        self.assertEqual(r.header("Content-Type"),
                         "application/json; charset=utf-8")
        self.assertTrue(r.header("X-Request-ID"))
        self.assertEqual(self.tags(r), "d, global-b, service-c")
        self.assertEqual(self.hits("deny1"), 0)
        # The connection stays usable after a local reply.
        c = self.gw.http()
        try:
            for _ in range(3):
                r = rgtest.http_request(c, "GET", "/deny/x")
                self.assertEqual(r.status, 403)
            r = rgtest.http_request(c, "GET", "/bare/echo")
            self.assertEqual(r.status, 200)
        finally:
            c.close()

    def test_404_gets_global_header_filter(self):
        """A 404 from the router still gets the global header_filter."""
        r = self.gw.get("/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(self.tags(r), "global-b")

    def test_paused_access(self):
        """ACCESS pauses on a timer and goes on: the request reaches the
        upstream after the pause; other requests are not held up."""
        t0 = time.monotonic()
        r = self.gw.get("/wait/count?key=wait1")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(took, 0.29)
        self.assertEqual(self.hits("wait1"), 1)
        self.assertEqual(self.tags(r), "w, global-b, service-c")

    def test_paused_then_respond(self):
        """A paused plugin resumes with a local reply."""
        t0 = time.monotonic()
        r = self.gw.get("/waitdeny/count?key=wd1")
        self.assertGreaterEqual(time.monotonic() - t0, 0.19)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json(), {"message": "test-phases"})
        self.assertEqual(self.hits("wd1"), 0)

    def test_client_leaves_while_paused(self):
        """The client closes during the pause: the plugin is detached (its
        timer never resumes a freed request), the upstream is not called,
        and the gateway goes on serving."""
        for i in range(5):
            s = socket.create_connection((rgtest.HOST, self.gw.port))
            s.sendall(b"GET /wait/count?key=gone%d HTTP/1.1\r\n"
                      b"Host: x\r\n\r\n" % i)
            time.sleep(0.05)
            reset(s)
        time.sleep(0.4)
        for i in range(5):
            self.assertEqual(self.hits("gone%d" % i), 0)
        self.assertEqual(self.gw.get("/bare/echo").status, 200)

    def test_log_runs_after_detach(self):
        """A client that leaves while ACCESS is paused still gets its LOG
        phase, from the first plugin."""
        since = len(self.gw.error_log())
        s = socket.create_connection((rgtest.HOST, self.gw.port))
        s.sendall(b"GET /waitlog/echo HTTP/1.1\r\nHost: x\r\n"
                  b"X-Request-ID: detached-1\r\n\r\n")
        time.sleep(0.1)
        reset(s)
        self.gw.wait_log(r"test-phases: log WL detached-1 ", since=since)

    def test_framing_headers_refused(self):
        """A plugin may not add a framing header (request smuggling): the
        add fails, the plugin errors, 500, nothing sent upstream."""
        r = self.gw.get("/smuggle/count?key=smug")
        self.assertJsonError(r, 500)
        self.assertEqual(self.hits("smug"), 0)

    def test_plugin_errors_are_500(self):
        """An ACCESS error is a 500 JSON reply and no upstream call; a
        header_filter error replaces the upstream's response with a 500
        before anything was sent."""
        r = self.gw.get("/failaccess/count?key=fa")
        self.assertJsonError(r, 500)
        self.assertEqual(self.hits("fa"), 0)
        r = self.gw.get("/failheader/count?key=fh")
        self.assertJsonError(r, 500)
        self.assertEqual(self.hits("fh"), 1)
        self.assertEqual(self.gw.get("/bare/echo").status, 200)

    def test_plugin_out_of_memory_is_503(self):
        """A plugin that fails for lack of memory and says so
        (rg_req_fail) gets a 503, in ACCESS and in header_filter."""
        r = self.gw.get("/nomemaccess/count?key=na")
        self.assertJsonError(r, 503)
        self.assertEqual(self.hits("na"), 0)
        r = self.gw.get("/nomemheader/count?key=nh")
        self.assertJsonError(r, 503)
        self.assertEqual(self.hits("nh"), 1)

    def test_consumer_scoped_instance(self):
        """Once ACCESS identifies consumer alice, her own -b instance
        replaces the global one (consumer > global)."""
        r = self.gw.get("/who/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.tags(r), "alice-b, service-c")

    def test_protocols(self):
        """An instance for https only does not run on plain http."""
        r = self.gw.get("/https-only/echo")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.tags(r), "global-b, service-c")

    def test_route_beats_service(self):
        r = self.gw.get("/override/echo")
        self.assertEqual(self.tags(r), "global-b, route-c")

    def test_log_phase_runs_once(self):
        """LOG runs once per request, after the response, with its status;
        also when the client leaves before the response."""
        since = len(self.gw.error_log())
        r = self.gw.get("/logged/status/201")
        self.assertEqual(r.status, 201)
        m = self.gw.wait_log(r"test-phases: log L %s 201"
                             % r.header("X-Request-ID"), since=since)
        self.assertTrue(m)
        s = socket.create_connection((rgtest.HOST, self.gw.port))
        s.sendall(b"GET /logged/delay/300 HTTP/1.1\r\nHost: x\r\n"
                  b"X-Request-ID: leaver-1\r\n\r\n")
        time.sleep(0.1)
        reset(s)
        self.gw.wait_log(r"test-phases: log L leaver-1 \d+", since=since)
        log = self.gw.error_log()[since:]
        self.assertEqual(log.count("log L %s " % r.header("X-Request-ID")), 1)
        self.assertEqual(log.count("log L leaver-1 "), 1)


class BodyPhasesTest(GatewayTestCase):
    """Plugins that read whole bodies: the request body is read before
    ACCESS (chunked or not, after a 100 Continue) and sent upstream with a
    Content-Length; the response body goes through body_filter and out
    with its new length; both are capped. (PhaseChainTest's config.)"""

    gateway_config = classmethod(PhaseChainTest.gateway_config.__func__)

    def test_request_body_read_before_access(self):
        body = b"x" * 500
        r = self.gw.request("POST", "/readbody/echo", body=body)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        h = {k.lower(): v for k, v in doc["headers"].items()}
        self.assertEqual(h["x-test-request-body-bytes"], "500")
        self.assertEqual(doc["body_len"], 500)
        self.assertEqual(h["content-length"], "500")

    def test_chunked_request_body_gets_a_length(self):
        with self.gw.connect() as c:
            c.send(b"POST /readbody/echo HTTP/1.1\r\nHost: t\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            r = c.read_response("POST")
        self.assertEqual(r.status, 200, r)
        h = {k.lower(): v for k, v in r.json()["headers"].items()}
        self.assertEqual(h["x-test-request-body-bytes"], "11")
        self.assertEqual(h["content-length"], "11")
        self.assertNotIn("transfer-encoding", h)

    def test_expect_continue(self):
        with self.gw.connect() as c:
            c.send(b"POST /readbody/echo HTTP/1.1\r\nHost: t\r\n"
                   b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            r = c.read_response("POST", interim=True)
            self.assertEqual(r.status, 100)
            c.send(b"abc")
            r = c.read_response("POST")
        self.assertEqual(r.status, 200, r)
        h = {k.lower(): v for k, v in r.json()["headers"].items()}
        self.assertEqual(h["x-test-request-body-bytes"], "3")

    def test_request_body_cap(self):
        r = self.gw.request("POST", "/readbody/count?key=big1",
                            body=b"y" * 1001)
        self.assertJsonError(r, 413)
        self.assertEqual(self.up.hits("big1"), 0)
        r = self.gw.request("POST", "/readbody/echo", body=b"y" * 1000)
        self.assertEqual(r.status, 200)

    def test_response_body_filter(self):
        r = self.gw.get("/upper/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, r.body.upper())
        self.assertIn(b'"METHOD": "GET"', r.body)
        self.assertEqual(int(r.header("X-Test-Body-Bytes")), len(r.body))
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_chunked_and_close_delimited_responses_get_a_length(self):
        for path in ("/upper/chunked/5000", "/upper/bytes/3000?close=1"):
            r = self.gw.get(path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.header("Content-Length"), str(len(r.body)))
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertEqual(r.header("X-Test-Body-Bytes"), str(len(r.body)))

    def test_response_body_cap(self):
        r = self.gw.get("/upper/bytes/100001")
        self.assertJsonError(r, 502)
        r = self.gw.get("/upper/bytes/100000")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), 100000)

    def test_head_is_not_buffered(self):
        r = self.gw.request("HEAD", "/upper/bytes/10")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), "10")


class RewriteTest(GatewayTestCase):
    """A global plugin answering in REWRITE runs before routing: it
    answers paths no route matches, and the upstream sees nothing."""

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/r"], strip_path=False)]),
            plugins=[tp(respond_in="rewrite", tag="rw", log=True)])

    def test_rewrite_answers_before_routing(self):
        for path in ("/r/count?key=rw1", "/nowhere"):
            r = self.gw.get(path)
            self.assertEqual(r.status, 418, r)
            self.assertEqual(r.json(), {"message": "test-phases"})
            self.assertEqual(r.header_all("X-Test-Phases"), ["rw"])
        self.assertEqual(self.up.hits("rw1"), 0)
        self.gw.wait_log(r"test-phases: log rw \S+ 418")


class PluginConfigErrorsTest(GatewayTestCase):
    """Bad plugin configs are errors with the path to the bad key, at
    `raftgate -t` and at SIGHUP, and a bad reload keeps the running
    config."""

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], strip_path=False,
                  plugins=[tp(tag="ok")])]))

    def check_file(self, doc):
        return self.gw.check_config(doc)

    def bad_doc(self, plugin):
        return gateway_doc(service("svc", self.up.port, routes=[
            route("r", ["/"], plugins=[plugin])]))

    def test_check_names_the_path(self):
        cases = [
            (tp(status=99),
             "services[0].routes[0].plugins[0].config.status: must be an "
             "integer in 100..599"),
            ({"name": "no-such-plugin"},
             "services[0].routes[0].plugins[0].name: unknown plugin "
             "\"no-such-plugin\""),
            (tp(pause_ms="soon"),
             "services[0].routes[0].plugins[0].config.pause_ms: must be an "
             "integer"),
            (tp(colour="red"),
             "services[0].routes[0].plugins[0].config.colour: unknown key"),
        ]
        for plugin, msg in cases:
            rc, out = self.check_file(self.bad_doc(plugin))
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        rc, out = self.check_file(self.bad_doc(tp(tag="fine")))
        self.assertEqual(rc, 0, out)

    def test_bad_reload_keeps_running_config(self):
        self.assertEqual(self.tags_of("/echo"), "ok")
        good = self.gw.gateway
        since = len(self.gw.error_log())
        self.gw.reload(self.bad_doc(tp(respond_in="later")), wait=False)
        self.gw.wait_log(r"config\.respond_in: must be \"rewrite\" or "
                         r"\"access\"", since=since)
        self.assertEqual(self.tags_of("/echo"), "ok")
        self.gw.reload(good)

    def tags_of(self, path):
        r = self.gw.get(path)
        self.assertEqual(r.status, 200, r)
        return ", ".join(r.header_all("X-Test-Phases"))


if __name__ == "__main__":
    import unittest
    unittest.main()
