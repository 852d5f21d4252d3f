#!/usr/bin/python3
"""cors through the real binary: preflights answered at the gateway (never
reaching the upstream, and before authentication), CORS headers on
responses to allowed origins (exact, regex, "*", credentials), local
replies included, no CORS header for a disallowed origin, Vary: Origin,
and config errors with their paths."""

import os
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


def cors(**config):
    return {"name": "cors", "config": config}


PREFLIGHT = {"Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "X-Custom, Content-Type"}


class CorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("app", ["/app"], strip_path=False, plugins=[
                    cors(origins=["https://app.example.com",
                                  "https://.*\\.trusted\\.test"],
                         methods=["GET", "PUT"], exposed_headers=["X-Total"],
                         credentials=True, max_age=600),
                    {"name": "key-auth"}]),
                route("open", ["/open"], strip_path=False,
                      plugins=[cors()]),
                route("cred", ["/cred"], strip_path=False,
                      plugins=[cors(credentials=True,
                                    headers=["X-Only"])]),
                route("cont", ["/cont"], strip_path=False,
                      plugins=[cors(preflight_continue=True)]),
            ]),
            consumers=[{"username": "u",
                        "keyauth_credentials": [{"key": "k"}]}])

    def req(self, path, origin=None, method="GET", headers=None):
        h = dict(headers or {})
        if origin:
            h["Origin"] = origin
        return self.gw.request(method, path, headers=h)

    def preflight(self, path, origin, status=200):
        key = "cors-%d" % time.monotonic_ns()
        r = self.req(path + "/count?key=" + key, origin, "OPTIONS", PREFLIGHT)
        self.assertEqual(r.status, status, r)
        self.assertEqual(self.up.hits(key), 0)
        return r

    def test_preflight_answered_before_auth(self):
        r = self.preflight("/app", "https://app.example.com")
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example.com")
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET, PUT")
        self.assertEqual(r.header("Access-Control-Allow-Headers"),
                         "X-Custom, Content-Type")
        self.assertEqual(r.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")
        self.assertEqual(r.header("Vary"), "Origin")

    def test_regex_origin(self):
        r = self.preflight("/app", "https://shop.trusted.test")
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://shop.trusted.test")
        r = self.preflight("/app", "https://shop.trusted.test.evil.com")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_disallowed_origin_gets_no_cors_headers(self):
        r = self.preflight("/app", "https://evil.example.com")
        for h in ("Access-Control-Allow-Origin",
                  "Access-Control-Allow-Methods",
                  "Access-Control-Allow-Headers",
                  "Access-Control-Allow-Credentials"):
            self.assertIsNone(r.header(h), h)
        r = self.req("/app/echo", "https://evil.example.com",
                     headers={"apikey": "k"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertEqual(r.header("Vary"), "Origin")

    def test_actual_request_and_local_reply(self):
        r = self.req("/app/echo", "https://app.example.com",
                     headers={"apikey": "k"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example.com")
        self.assertEqual(r.header("Access-Control-Expose-Headers"), "X-Total")
        r = self.req("/app/echo", "https://app.example.com")
        self.assertEqual(r.status, 401, r)  # key-auth's, with CORS headers
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example.com")

    def test_star(self):
        r = self.req("/open/echo", "https://anyone.test")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertIsNone(r.header("Vary"))
        r = self.preflight("/open", "https://anyone.test")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_star_with_credentials_echoes(self):
        r = self.preflight("/cred", "https://anyone.test")
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://anyone.test")
        self.assertEqual(r.header("Access-Control-Allow-Headers"), "X-Only")

    def test_preflight_continue_goes_upstream(self):
        key = "cont-%d" % time.monotonic_ns()
        r = self.req("/cont/count?key=" + key, "https://a.test", "OPTIONS",
                     PREFLIGHT)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.hits(key), 1)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")


class CorsConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=[cors()])]))

    def check(self, d):
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        def doc(**config):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[cors(**config)])]))
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (doc(origins=["https://(unclosed"]),
             pre + ".origins[0]: is not a valid regex"),
            (doc(methods=["get"]), pre + ".methods[0]: is not a method name"),
            (doc(methods=[]), pre + ".methods: needs at least one method"),
            (doc(headers=["X Bad"]), pre + ".headers[0]: is not a header "
                                           "name"),
            (doc(max_age=-1), pre + ".max_age: must be an integer"),
        ]
        for d, msg in cases:
            rc, out = self.check(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)


if __name__ == "__main__":
    rgtest.main()
