#!/usr/bin/python3
"""authorization (roles and permissions, the feature source's
AuthHandler.authorize) through the real binary: roles and permissions from
the claims jwt verified and from the consumer's ACL groups; the admin role
passes everything; 401 when nothing authenticated the request, 403 naming
the missing permission; neither reaches the upstream; config errors with
their paths."""

import base64
import hashlib
import hmac
import json
import os
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


def token(claims, secret=b"s"):
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    si = (b64u(json.dumps({"alg": "HS256"}).encode()) + "." +
          b64u(json.dumps(claims).encode()))
    return si + "." + b64u(hmac.new(secret, si.encode(),
                                    hashlib.sha256).digest())


def authz(**config):
    return {"name": "authorization", "config": config}


class AuthorizationTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        jwt = {"name": "jwt"}
        return gateway_doc(
            service("svc", up.port, routes=[
                route("read", ["/read"], strip_path=False,
                      plugins=[jwt, authz(permissions=["users:read"])]),
                route("write", ["/write"], strip_path=False,
                      plugins=[jwt, authz(permissions=["users:read",
                                                       "users:write"])]),
                route("ops", ["/ops"], strip_path=False,
                      plugins=[{"name": "key-auth"},
                               authz(roles=["ops", "sre"])]),
                route("bare", ["/bare"], strip_path=False,
                      plugins=[authz(roles=["ops"])]),
            ]),
            consumers=[
                {"username": "app", "jwt_secrets": [{"key": "app",
                                                     "secret": "s"}]},
                {"username": "oncall", "keyauth_credentials": [{"key": "ok"}],
                 "acls": [{"group": "sre"}]},
                {"username": "boss", "keyauth_credentials": [{"key": "bk"}],
                 "acls": [{"group": "admin"}]},
                {"username": "dev", "keyauth_credentials": [{"key": "dk"}]},
            ])

    def status(self, path, headers, want, body=None):
        key = "az-%d" % time.monotonic_ns()
        r = self.gw.get(path + "/count?key=" + key, headers=headers)
        self.assertEqual(r.status, want, r)
        if body is not None:
            self.assertEqual(r.json(), body)
        self.assertEqual(self.up.hits(key), 1 if want == 200 else 0)

    def bearer(self, claims):
        return {"Authorization": "Bearer " + token(dict(iss="app", **claims))}

    def test_permissions_from_claims(self):
        self.status("/read", self.bearer({"permissions": ["users:read"]}),
                    200)
        self.status("/write", self.bearer({"permissions": ["users:read"]}),
                    403, {"message": "Forbidden: missing permission "
                                     "users:write"})
        self.status("/write", self.bearer(
            {"permissions": ["users:read", "users:write"]}), 200)
        self.status("/read", self.bearer({"permissions": "users:read"}), 200)
        self.status("/read", self.bearer({}), 403)

    def test_admin_role_passes_everything(self):
        self.status("/write", self.bearer({"roles": ["admin"]}), 200)
        self.status("/ops", {"apikey": "bk"}, 200)  # the admin group

    def test_roles_from_consumer_groups(self):
        self.status("/ops", {"apikey": "ok"}, 200)
        self.status("/ops", {"apikey": "dk"}, 403,
                    {"message": "Forbidden: missing role"})

    def test_unauthenticated_is_401(self):
        self.status("/bare", {}, 401, {"message": "Unauthorized"})


class AuthorizationConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=[authz(roles=["a"])])]))

    def check(self, d):
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        def doc(**config):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[authz(**config)])]))
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (doc(), pre + ": needs permissions or roles"),
            (doc(roles=['a"b']), pre + ".roles[0]: must be printable"),
            (doc(permissions=[""]), pre + ".permissions[0]: must be 1 to"),
            (doc(roles=["a"], scope="x"), pre + ".scope: unknown key"),
        ]
        for d, msg in cases:
            rc, out = self.check(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)


if __name__ == "__main__":
    rgtest.main()
