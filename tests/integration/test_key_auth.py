#!/usr/bin/python3
"""key-auth through the real binary: consumers' keyauth_credentials (nested
and top-level) authenticate a request by header or query argument, with
Kong's 401 answers (which never reach the upstream), consumer headers
upstream that a client cannot forge, hide_credentials both ways, anonymous,
a ttl that runs out, and config errors with their paths at `raftgate -t`
and SIGHUP (the running config kept)."""

import os
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

ALICE_ID = "8a4c1b2e-5d6f-4a7b-9c8d-0e1f2a3b4c5d"
CRED_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"


def key_auth(**config):
    return {"name": "key-auth", "config": config}


def doc(up_port):
    now = int(time.time())
    return gateway_doc(
        service("svc", up_port, routes=[
            route("seed", ["/seed"], strip_path=False,
                  plugins=[key_auth(key_names=["X-API-Key"])]),
            route("hide", ["/hide"], strip_path=False,
                  plugins=[key_auth(key_names=["X-API-Key", "apikey"],
                                    hide_credentials=True)]),
            route("anon", ["/anon"], strip_path=False,
                  plugins=[key_auth(anonymous="guest")]),
            route("realm", ["/realm"], strip_path=False,
                  plugins=[key_auth(realm="shop", key_in_query=False)]),
            route("open", ["/open"], strip_path=False),
        ]),
        consumers=[
            {"username": "alice", "id": ALICE_ID, "custom_id": "a-1",
             "keyauth_credentials": [
                 {"key": "alice-key", "id": CRED_ID},
                 {"key": "a+b key", "tags": ["query"]}]},
            {"username": "bob"},
            {"username": "carol", "keyauth_credentials": [
                {"key": "carol-old", "ttl": 60,
                 "created_at": now - 3600},
                {"key": "carol-new", "ttl": 3600, "created_at": now}]},
            {"username": "guest"},
        ],
        keyauth_credentials=[{"key": "bob-key", "consumer": "bob"}])


class KeyAuthTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return doc(up.port)

    def echo(self, path, headers=None, status=200):
        r = self.gw.get(path, headers=headers or {})
        self.assertEqual(r.status, status, r)
        return r

    def upstream_headers(self, r):
        return {k.lower(): v for k, v in r.json()["headers"].items()}

    def assert_refused(self, path, headers, message, realm="kong"):
        """@path (an /echo path) answers 401 @message; the same request to
        the upstream's /count is never counted."""
        key = "refused-%d" % time.monotonic_ns()
        sep = "&" if "?" in path else "?"
        r = self.echo(path.replace("/echo", "/count") + sep + "key=" + key,
                      headers, 401)
        self.assertEqual(r.json(), {"message": message})
        self.assertEqual(r.header("WWW-Authenticate"),
                         'Key realm="%s"' % realm)
        self.assertEqual(self.up.hits(key), 0)

    def test_no_key_is_401_and_never_reaches_upstream(self):
        self.assert_refused("/seed/echo", {}, "No API key found in request")

    def test_wrong_key_is_401(self):
        self.assert_refused("/seed/echo", {"X-API-Key": "nope"},
                            "Invalid authentication credentials")
        self.assert_refused("/seed/echo", {"X-API-Key": ""},
                            "Invalid authentication credentials")

    def test_seed_header_authenticates_with_consumer_headers(self):
        r = self.echo("/seed/echo", {"X-API-Key": "alice-key"})
        h = self.upstream_headers(r)
        self.assertEqual(h["x-consumer-username"], "alice")
        self.assertEqual(h["x-consumer-id"], ALICE_ID)
        self.assertEqual(h["x-consumer-custom-id"], "a-1")
        self.assertEqual(h["x-credential-identifier"], CRED_ID)
        self.assertEqual(h["x-api-key"], "alice-key")  # not hidden here
        self.assertNotIn("x-anonymous-consumer", h)

    def test_top_level_credential_names_its_consumer(self):
        h = self.upstream_headers(self.echo("/seed/echo",
                                            {"X-API-Key": "bob-key"}))
        self.assertEqual(h["x-consumer-username"], "bob")
        self.assertNotIn("x-consumer-id", h)  # bob has no id in the file

    def test_forged_consumer_headers_are_dropped(self):
        h = self.upstream_headers(self.echo("/seed/echo", {
            "X-API-Key": "bob-key", "X-Consumer-Username": "admin",
            "X-Consumer-ID": "forged", "X-Anonymous-Consumer": "false"}))
        self.assertEqual(h["x-consumer-username"], "bob")
        self.assertNotIn("x-consumer-id", h)
        self.assertNotIn("x-anonymous-consumer", h)

    def test_key_in_query_is_decoded(self):
        h = self.upstream_headers(self.echo("/anon/echo?apikey=a%2Bb+key"))
        self.assertEqual(h["x-consumer-username"], "alice")

    def test_hide_credentials_header_and_query(self):
        r = self.echo("/hide/echo", {"X-API-Key": "alice-key"})
        self.assertNotIn("x-api-key", self.upstream_headers(r))
        r = self.echo("/hide/echo?a=1&apikey=alice-key&b=2")
        self.assertEqual(r.json()["path"], "/hide/echo?a=1&b=2")
        self.assertEqual(self.upstream_headers(r)["x-consumer-username"],
                         "alice")
        r = self.echo("/hide/echo?apikey=alice-key")
        self.assertEqual(r.json()["path"], "/hide/echo")

    def test_duplicate_query_key_even_encoded_is_401(self):
        """Argument names compare decoded: ap%69key is apikey."""
        self.assert_refused("/hide/echo?apikey=alice-key&ap%69key=bob-key",
                            {}, "Duplicate API key found")
        self.assert_refused("/hide/echo?apikey=alice-key&apikey=bob-key",
                            {}, "Duplicate API key found")

    def test_duplicate_key_is_401(self):
        with self.gw.connect() as c:
            c.send(rgtest.build_request("GET", "/seed/count?key=dup", [
                ("X-API-Key", "alice-key"), ("X-API-Key", "bob-key")]))
            r = c.read_response()
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json(), {"message": "Duplicate API key found"})
        self.assertEqual(self.up.hits("dup"), 0)

    def test_anonymous_consumer(self):
        h = self.upstream_headers(self.echo("/anon/echo"))
        self.assertEqual(h["x-consumer-username"], "guest")
        self.assertEqual(h["x-anonymous-consumer"], "true")
        h = self.upstream_headers(self.echo("/anon/echo",
                                            {"apikey": "alice-key"}))
        self.assertEqual(h["x-consumer-username"], "alice")

    def test_realm_and_query_off(self):
        self.assert_refused("/realm/echo?apikey=alice-key", {},
                            "No API key found in request", realm="shop")

    def test_expired_ttl_is_401(self):
        self.assert_refused("/seed/echo", {"X-API-Key": "carol-old"},
                            "Invalid authentication credentials")
        h = self.upstream_headers(self.echo("/seed/echo",
                                            {"X-API-Key": "carol-new"}))
        self.assertEqual(h["x-consumer-username"], "carol")

    def test_route_without_plugin_is_open(self):
        self.echo("/open/echo")


class KeyAuthConfigErrorsTest(GatewayTestCase):
    """Bad credentials and key-auth configs are errors with the path to the
    bad key, at `raftgate -t` and at SIGHUP, which keeps the running
    config."""

    @classmethod
    def gateway_config(cls, up):
        return doc(up.port)

    def check_file(self, d):
        return self.gw.check_config(d)

    def variant(self, **changes):
        d = doc(self.up.port)
        d.update(changes)
        return d

    def test_check_names_the_path(self):
        good = doc(self.up.port)
        dup = self.variant(keyauth_credentials=[
            {"key": "alice-key", "consumer": "bob"}])
        nobody = self.variant(keyauth_credentials=[
            {"key": "k9", "consumer": "nobody"}])
        nokey = self.variant(consumers=[
            {"username": "dave", "keyauth_credentials": [{"ttl": 5}]}])
        ttl = self.variant(consumers=[
            {"username": "dave", "keyauth_credentials": [
                {"key": "d", "ttl": 5}]}])
        nested_ref = self.variant(consumers=[
            {"username": "dave", "keyauth_credentials": [
                {"key": "d", "consumer": "dave"}]}])
        body = self.variant()
        body["services"][0]["routes"][0]["plugins"] = [
            key_auth(key_in_body=True)]
        names = self.variant()
        names["services"][0]["routes"][0]["plugins"] = [
            key_auth(key_names=[])]
        on_consumer = self.variant()
        on_consumer["consumers"][1]["plugins"] = [key_auth()]
        cases = [
            (dup, "keyauth_credentials[0].key: duplicate key-auth key"),
            (nobody, "keyauth_credentials[0].consumer: no consumer with "
                     "username or id \"nobody\""),
            (nokey, "consumers[0].keyauth_credentials[0]: needs a key"),
            (ttl, "consumers[0].keyauth_credentials[0]: ttl needs "
                  "created_at"),
            (nested_ref, "consumers[0].keyauth_credentials[0].consumer: is "
                         "given by the nesting"),
            (body, "services[0].routes[0].plugins[0].config.key_in_body: "
                   "true is not supported yet"),
            (names, "services[0].routes[0].plugins[0].config.key_names: "
                    "needs at least one name"),
            (on_consumer, "consumers[1].plugins[0]"),
        ]
        for d, msg in cases:
            rc, out = self.check_file(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        rc, out = self.check_file(good)
        self.assertEqual(rc, 0, out)

    def test_bad_reload_keeps_running_config(self):
        r = self.gw.get("/seed/echo", headers={"X-API-Key": "alice-key"})
        self.assertEqual(r.status, 200, r)
        since = len(self.gw.error_log())
        self.gw.reload(self.variant(keyauth_credentials=[
            {"key": "alice-key", "consumer": "bob"}]), wait=False)
        self.gw.wait_log(r"duplicate key-auth key", since=since)
        r = self.gw.get("/seed/echo", headers={"X-API-Key": "alice-key"})
        self.assertEqual(r.status, 200, r)
        r = self.gw.get("/seed/echo", headers={"X-API-Key": "bob-key"})
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    rgtest.main()
