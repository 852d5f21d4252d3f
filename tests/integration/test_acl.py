#!/usr/bin/python3
"""acl through the real binary, on consumers found by key-auth: allow and
deny lists of groups (consumers' acls, nested and top-level), Kong's 401
without a consumer and 403 for one kept out (neither reaching the
upstream), X-Consumer-Groups upstream (the client's own dropped) unless
hidden, and config errors with their paths."""

import os
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

DENIED = {"message": "You cannot consume this service"}


def plugins(acl=None, anonymous=None):
    ka = {"name": "key-auth", "config": {"key_names": ["X-API-Key"]}}
    if anonymous:
        ka["config"]["anonymous"] = anonymous
    out = [ka]
    if acl is not None:
        out.append({"name": "acl", "config": acl})
    return out


class AclTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("admins", ["/admins"], strip_path=False,
                      plugins=plugins({"allow": ["admin"]})),
                route("nobanned", ["/nobanned"], strip_path=False,
                      plugins=plugins({"deny": ["banned"],
                                       "hide_groups_header": True})),
                route("anon", ["/anon"], strip_path=False,
                      plugins=plugins({"allow": ["users"]}, anonymous="guest")),
                route("bare", ["/bare"], strip_path=False,
                      plugins=[{"name": "acl", "config": {"allow": ["x"]}}]),
            ]),
            consumers=[
                {"username": "root", "keyauth_credentials": [{"key": "rk"}],
                 "acls": [{"group": "admin"}, {"group": "users"}]},
                {"username": "joe", "keyauth_credentials": [{"key": "jk"}],
                 "acls": [{"group": "users"}]},
                {"username": "mallory", "keyauth_credentials": [{"key": "mk"}]},
                {"username": "guest"},
            ],
            acls=[{"group": "banned", "consumer": "mallory"}])

    def get(self, path, key=None, headers=None, status=200):
        h = dict(headers or {})
        if key:
            h["X-API-Key"] = key
        r = self.gw.get(path, headers=h)
        self.assertEqual(r.status, status, r)
        return r

    def refused(self, path, key, status):
        k = "acl-%d" % time.monotonic_ns()
        r = self.get(path + "/count?key=" + k, key, status=status)
        self.assertEqual(r.json(), DENIED)
        self.assertEqual(self.up.hits(k), 0)

    def test_allow(self):
        r = self.get("/admins/echo", "rk",
                     headers={"X-Consumer-Groups": "forged"})
        self.assertEqual(r.json()["headers"]["X-Consumer-Groups"],
                         "admin, users")
        self.refused("/admins", "jk", 403)

    def test_deny_and_hidden_header(self):
        r = self.get("/nobanned/echo", "jk",
                     headers={"X-Consumer-Groups": "admin"})
        self.assertNotIn("X-Consumer-Groups", r.json()["headers"])
        self.refused("/nobanned", "mk", 403)

    def test_anonymous_is_a_consumer_too(self):
        self.refused("/anon", None, 403)  # guest is in no group
        self.get("/anon/echo", "jk")

    def test_no_consumer_is_401(self):
        self.refused("/bare", "rk", 401)


class AclConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=plugins({"allow": ["a"]}))]))

    def check(self, d):
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        def doc(acl=None, consumers=None, **kw):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=plugins(acl or {"allow": ["a"]}))]),
                consumers=consumers or [{"username": "u"}], **kw)
        cases = [
            (doc({"allow": ["a"], "deny": ["b"]}),
             "plugins[1].config.deny: allow and deny cannot both be set"),
            (doc({"hide_groups_header": True}),
             "plugins[1].config: needs allow or deny"),
            (doc(consumers=[{"username": "u", "acls": [
                {"group": "a"}, {"group": "a"}]}]),
             "consumers[0].acls[1]: the consumer is already in group \"a\""),
            (doc(consumers=[{"username": "u", "acls": [{"group": "a"}]}],
                 acls=[{"group": "a", "consumer": "u"}]),
             "acls[0]: the consumer is already in group \"a\""),
            (doc(consumers=[{"username": "u", "acls": [{}]}]),
             "consumers[0].acls[0]: needs a group"),
        ]
        for d, msg in cases:
            rc, out = self.check(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        rc, out = self.check(doc(consumers=[
            {"username": "u", "acls": [{"group": "a"}]},
            {"username": "v", "acls": [{"group": "a"}]}]))
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    rgtest.main()
