#!/usr/bin/python3
"""ip-restriction through the real binary: allow and deny lists (addresses
and CIDRs, compiled to prefix trees) on the TCP peer or, with `source:
forwarded`, on the address X-Forwarded-For names when the peer is a
trusted proxy (walked from the right past trusted hops, as nginx's
real_ip_recursive); refusals with the configured status and message never
reach the upstream; config errors name their paths."""

import os
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


def ipr(**config):
    return [{"name": "ip-restriction", "config": config}]


class IpRestrictionTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"trusted_ips": ["127.0.0.0/8"]}}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("local", ["/local"], strip_path=False,
                  plugins=ipr(allow=["127.0.0.1", "2001:db8::/32"])),
            route("tenonly", ["/tenonly"], strip_path=False,
                  plugins=ipr(allow=["10.0.0.0/8"])),
            route("nolocal", ["/nolocal"], strip_path=False,
                  plugins=ipr(deny=["127.0.0.0/8"], status=401,
                              message='go "away"')),
            route("fwd", ["/fwd"], strip_path=False,
                  plugins=ipr(deny=["203.0.113.0/24"], source="forwarded")),
            route("peer", ["/peer"], strip_path=False,
                  plugins=ipr(deny=["203.0.113.0/24"])),
        ]))

    def refused(self, path, status, message, headers=None):
        key = "ipr-%d" % time.monotonic_ns()
        r = self.gw.get(path + "/count?key=" + key, headers=headers or {})
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json(), {"message": message})
        self.assertEqual(self.up.hits(key), 0)

    def ok(self, path, headers=None):
        r = self.gw.get(path + "/echo", headers=headers or {})
        self.assertEqual(r.status, 200, r)

    def test_allow(self):
        self.ok("/local")
        self.refused("/tenonly", 403, "Your IP address is not allowed")

    def test_deny_with_status_and_message(self):
        self.refused("/nolocal", 401, 'go "away"')

    def test_forwarded_walks_past_trusted_hops(self):
        self.refused("/fwd", 403, "Your IP address is not allowed",
                     {"X-Forwarded-For": "203.0.113.7"})
        self.refused("/fwd", 403, "Your IP address is not allowed",
                     {"X-Forwarded-For": "203.0.113.7, 127.0.0.9"})
        self.ok("/fwd", {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
        self.ok("/fwd", {"X-Forwarded-For": "198.51.100.1"})
        self.ok("/fwd")
        # Not an address: the walk stops at the last good one (the peer).
        self.ok("/fwd", {"X-Forwarded-For": "203.0.113.7, bogus"})

    def test_peer_ignores_forwarded_headers(self):
        self.ok("/peer", {"X-Forwarded-For": "203.0.113.7"})


class UntrustedPeerTest(GatewayTestCase):
    """Without proxy.trusted_ips, X-Forwarded-For is the client's word and
    never counts."""

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("fwd", ["/fwd"], strip_path=False,
                  plugins=ipr(allow=["203.0.113.0/24"],
                              source="forwarded"))]))

    def test_spoofed_header_does_not_get_in(self):
        r = self.gw.get("/fwd/echo",
                        headers={"X-Forwarded-For": "203.0.113.7"})
        self.assertEqual(r.status, 403, r)


class IpRestrictionConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=ipr(allow=["127.0.0.1"]))]))

    def check(self, d):
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        def doc(**config):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=ipr(**config))]))
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (doc(allow=["10.0.0.1/8"]), pre + ".allow[0]: must be an IPv4 "
                                              "or IPv6 address or CIDR"),
            (doc(deny=["localhost"]), pre + ".deny[0]: must be"),
            (doc(status=302, allow=["::1"]), pre + ".status: must be an "
                                                   "integer in 400..599"),
            (doc(source="xff", allow=["::1"]), pre + ".source: must be "
                                                     "\"peer\" or "
                                                     "\"forwarded\""),
            (doc(allow=[]), pre + ": needs allow or deny"),
        ]
        for d, msg in cases:
            rc, out = self.check(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)


if __name__ == "__main__":
    rgtest.main()
