#!/usr/bin/python3
"""Routing: prefix/exact/host/method matching, 404 JSON, strip_path and the
service path, preserve_host, and path normalisation that cannot be used to
reach a route the raw path does not name."""

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

NO_ROUTE = "no Route matched with those values"


class RoutingTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("echo", up.port, routes=[
                route("prefix", ["/api"], strip_path=False),
                route("v2", ["/api/v2"], strip_path=True),
                route("exact", ["=/exact"], strip_path=False),
                route("host", ["/hosted"], hosts=["example.test"],
                      strip_path=False),
                route("wild", ["/hosted"], hosts=["*.wild.test"],
                      strip_path=True),
                route("post", ["/postonly"], methods=["POST"],
                      strip_path=False),
                route("strip", ["/strip"], strip_path=True),
                route("preserve", ["/preserve"], strip_path=False,
                      preserve_host=True),
                route("multi", ["/m1", "/m2"], strip_path=False),
            ]),
            service("based", up.port, path="/base", routes=[
                route("svc", ["/svc"], strip_path=True),
                route("keep", ["/keep"], strip_path=False),
            ]),
        )

    def echo(self, path, method="GET", headers=None, body=None):
        """Send through the gateway; returns (response, upstream doc)."""
        with self.gw.connect() as c:
            c.send(rgtest.build_request(method, path, headers, body or b""))
            r = c.read_response(method)
        doc = r.json() if r.status == 200 else None
        return r, doc

    def upstream_path(self, path, **kw):
        r, doc = self.echo(path, **kw)
        self.assertEqual(r.status, 200, "%s -> %r" % (path, r))
        return doc["path"]

    def assertNoRoute(self, path, **kw):
        r, _ = self.echo(path, **kw)
        self.assertJsonError(r, 404, NO_ROUTE)

    # -- matching --------------------------------------------------------
    def test_prefix_route(self):
        """A prefix route matches itself and paths below it, query kept."""
        self.assertEqual(self.upstream_path("/api"), "/api")
        self.assertEqual(self.upstream_path("/api/"), "/api/")
        self.assertEqual(self.upstream_path("/api/x/y?q=1&r=%20"),
                         "/api/x/y?q=1&r=%20")

    def test_prefix_is_segment_aware(self):
        """"/api" does not match "/apix" or "/api-v1"."""
        self.assertNoRoute("/apix")
        self.assertNoRoute("/api-v1/x")

    def test_longest_prefix_wins(self):
        """"/api/v2/x" goes to the /api/v2 route (which strips), not /api."""
        self.assertEqual(self.upstream_path("/api/v2/users"), "/users")
        self.assertEqual(self.upstream_path("/api/v2x"), "/api/v2x")

    def test_exact_route(self):
        """"=/exact" matches only "/exact" (any query), not below it."""
        self.assertEqual(self.upstream_path("/exact"), "/exact")
        self.assertEqual(self.upstream_path("/exact?a=b"), "/exact?a=b")
        self.assertNoRoute("/exact/x")
        self.assertNoRoute("/exactly")

    def test_several_paths_one_route(self):
        """Every path of a route matches."""
        self.assertEqual(self.upstream_path("/m1/a"), "/m1/a")
        self.assertEqual(self.upstream_path("/m2/b"), "/m2/b")

    def test_host_route(self):
        """Host-restricted routes match their host (case-insensitive, port
        ignored) and no other."""
        self.assertEqual(self.upstream_path(
            "/hosted/x", headers=[("Host", "example.test")]), "/hosted/x")
        self.assertEqual(self.upstream_path(
            "/hosted/x", headers=[("Host", "EXAMPLE.Test:8000")]),
            "/hosted/x")
        self.assertNoRoute("/hosted/x", headers=[("Host", "other.test")])
        self.assertNoRoute("/hosted/x", headers=[("Host", "xexample.test")])

    def test_wildcard_host_route(self):
        """"*.wild.test" matches a.wild.test (that route strips)."""
        self.assertEqual(self.upstream_path(
            "/hosted/x", headers=[("Host", "a.wild.test")]), "/x")
        self.assertNoRoute("/hosted/x", headers=[("Host", "wild.test")])

    def test_method_route(self):
        """A methods: [POST] route does not match GET."""
        self.assertNoRoute("/postonly")
        r, doc = self.echo("/postonly", method="POST", body=b"abc")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["body_len"], 3)

    def test_404_json(self):
        """No match: 404, JSON message + request_id, Server: raftgate."""
        r, _ = self.echo("/nothing/here")
        doc = self.assertJsonError(r, 404, NO_ROUTE)
        self.assertEqual(r.header("server"), "raftgate")
        self.assertRegex(doc["request_id"], r"^[0-9a-fA-F]{32}$")

    # -- path rewriting --------------------------------------------------
    def test_strip_path(self):
        """strip_path removes the matched prefix; "/" when nothing is
        left; the query string is kept."""
        self.assertEqual(self.upstream_path("/strip/a/b?x=1"), "/a/b?x=1")
        self.assertEqual(self.upstream_path("/strip"), "/")
        self.assertEqual(self.upstream_path("/strip/"), "/")
        self.assertEqual(self.upstream_path("/strip?x=1"), "/?x=1")

    def test_service_path(self):
        """The service path is prepended (Kong: "/base" + "/x")."""
        self.assertEqual(self.upstream_path("/svc/x"), "/base/x")
        self.assertEqual(self.upstream_path("/svc/x/y?z=1"), "/base/x/y?z=1")
        self.assertEqual(self.upstream_path("/keep/x"), "/base/keep/x")
        # Nothing left after stripping: Kong gives "/base"; "/base/" is an
        # acceptable reading of "strip -> /, then prepend".
        self.assertIn(self.upstream_path("/svc"), ("/base", "/base/"))

    # -- Host ------------------------------------------------------------
    def test_host_to_upstream(self):
        """Without preserve_host the upstream gets the service host:port."""
        _, doc = self.echo("/api/h", headers=[("Host", "client.test")])
        self.assertEqual(doc["headers"]["Host"],
                         "127.0.0.1:%d" % self.up.port)

    def test_preserve_host(self):
        """preserve_host passes the client's Host through."""
        _, doc = self.echo("/preserve/h",
                           headers=[("Host", "client.test:1234")])
        self.assertEqual(doc["headers"]["Host"], "client.test:1234")

    # -- normalisation ---------------------------------------------------
    def test_normalised_path_forwarded(self):
        """Dot segments, duplicate slashes and encoded unreserved chars are
        normalised before routing and forwarding; the query is not."""
        cases = [
            ("/api/./x", "/api/x"),
            ("/api/x/../y", "/api/y"),
            ("//api//x", "/api/x"),
            ("/%61pi/x", "/api/x"),
            ("/api/%7euser", "/api/~user"),
            ("/api/a%20b", "/api/a%20b"),
            ("/api/a%2cb", "/api/a%2Cb"),
            ("/api/x?q=/../%2e%2e", "/api/x?q=/../%2e%2e"),
        ]
        for raw, want in cases:
            with self.subTest(raw):
                self.assertEqual(self.upstream_path(raw), want)

    def test_dot_segments_cannot_bypass_routes(self):
        """"/api/../admin" and its encoded forms route as "/admin" (no
        route here: 404), never as "/api" with a ".." path upstream."""
        for raw in ("/api/../admin", "/api/%2e%2e/admin",
                    "/api/%2E%2E/admin", "/api/.%2e/admin",
                    "/api/%2e./admin", "/api/x/../../admin"):
            with self.subTest(raw):
                r, doc = self.echo(raw)
                if r.status == 200:
                    self.assertNotIn("..", doc["path"])
                    self.assertNotIn("%2", doc["path"].lower())
                    self.fail("%s was proxied as %s" % (raw, doc["path"]))
                self.assertJsonError(r, 404, NO_ROUTE)

    def test_dot_segments_into_another_route(self):
        """"/api/../svc/x" is routed by its normalised form (the service
        with path /base), not by the raw "/api" prefix."""
        self.assertEqual(self.upstream_path("/api/../svc/x"), "/base/x")
        self.assertEqual(self.upstream_path("/api/%2e%2e/svc/x"), "/base/x")

    def test_above_root(self):
        """Dot segments above the root stay at the root."""
        r, _ = self.echo("/../../api/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["path"], "/api/x")

    def test_encoded_slash_and_nul_rejected(self):
        """%2F and %00 in the path -> 400 JSON."""
        for raw in ("/api/a%2Fb", "/api/a%2fb", "/api/%00", "/api/%zz"):
            with self.subTest(raw):
                r, _ = self.echo(raw)
                self.assertJsonError(r, 400)


if __name__ == "__main__":
    rgtest.main()
