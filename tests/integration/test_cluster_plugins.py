#!/usr/bin/python3
"""Plugins through the admin API of a three-node cluster (the test binary,
with the test-phases plugins): a plugin written on one node is enforced by
every node's proxy; its config is checked by the plugin's schema on the way
in, so a bad config or an unknown plugin name is a 400 naming the path and
nothing is stored; PATCH and DELETE change what every node enforces; and
consumers' key-auth and jwt credentials written on one node authenticate
on every node."""

import base64
import hashlib
import hmac
import json
import uuid

import rgtest
from rgcluster import REV, ClusterTestCase, revision_of, scaled

rgtest.use_test_binary()


def hs256(claims, secret):
    """A compact JWS signed with HMAC-SHA256."""
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    si = (b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
          b64u(json.dumps(claims).encode()))
    return si + "." + b64u(hmac.new(secret, si.encode(),
                                    hashlib.sha256).digest())


class ClusterPluginsTest(ClusterTestCase):
    SHARED = True

    def tags_everywhere(self, want, timeout=None):
        """Wait until every node's /seed/echo carries X-Test-Phases @want
        (None: no such header)."""
        seen = {}

        def pred():
            for nd in self.cluster.alive():
                r = nd.proxy("/seed/echo")
                seen[nd.id] = (r.status, r.header("X-Test-Phases"))
                if r.status != 200 or r.header("X-Test-Phases") != want:
                    return False
            return True
        try:
            rgtest.wait_until(pred, timeout or scaled(5.0), 0.05,
                              "X-Test-Phases %r on every node" % want)
        except TimeoutError as e:
            self.fail("%s: %s" % (e, seen))

    def test_plugin_written_on_one_node_enforced_on_all(self):
        c = self.cluster
        r = c.write("POST", "/routes/seed/plugins",
                    {"name": "test-phases", "config": {"tag": "one"}},
                    node=c.nodes[1])
        self.assertEqual(r.status, 201, r)
        self.assertIsNotNone(revision_of(r), "no %s" % REV)
        pid = r.json()["id"]
        self.tags_everywhere("one")
        r = c.write("PATCH", "/plugins/" + pid,
                    {"config": {"tag": "two"}}, node=c.nodes[2])
        self.assertEqual(r.status, 200, r)
        self.tags_everywhere("two")
        r = c.write("DELETE", "/plugins/" + pid, node=c.nodes[0])
        self.assertEqual(r.status, 204, r)
        self.tags_everywhere(None)

    def test_bad_plugin_refused_nothing_stored(self):
        c = self.cluster
        before = c.nodes[0].admin("GET", "/plugins").json()["data"]
        cases = [
            ({"name": "no-such-plugin"}, "unknown plugin \"no-such-plugin\""),
            ({"name": "test-phases", "config": {"status": 700}},
             "config.status: must be an integer in 100..599"),
            ({"name": "test-phases", "config": {"colour": "red"}},
             "config.colour: unknown key"),
            ({"name": "test-phases", "protocols": ["tcp"]},
             "protocols[0]: must be one of http, https, grpc, grpcs"),
        ]
        for body, msg in cases:
            for nd in c.nodes:
                r = c.write("POST", "/routes/seed/plugins", body, node=nd)
                self.assertEqual(r.status, 400, (body, r))
                self.assertIn(msg, r.json().get("message", ""), (body, r))
        after = c.nodes[2].admin("GET", "/plugins").json()["data"]
        self.assertEqual(before, after)
        self.tags_everywhere(None)

    def test_one_instance_per_scope(self):
        """Kong's rule: a second instance of a type on the same route is
        refused (400); the first keeps working."""
        c = self.cluster
        r = c.write("POST", "/routes/seed/plugins",
                    {"name": "test-phases-b", "config": {"tag": "b1"}})
        self.assertEqual(r.status, 201, r)
        pid = r.json()["id"]
        try:
            r = c.write("POST", "/routes/seed/plugins",
                        {"name": "test-phases-b", "config": {"tag": "b2"}})
            self.assertEqual(r.status, 400, r)
            self.assertIn("already configured", r.json()["message"])
            self.tags_everywhere("b1")
        finally:
            c.write("DELETE", "/plugins/" + pid)
        self.tags_everywhere(None)

    def keyed_everywhere(self, key, want, timeout=None):
        """Wait until every node's /keyed/echo with X-API-Key @key (None:
        none) answers @want: a status, or a consumer username (200)."""
        seen = {}

        def pred():
            for nd in self.cluster.alive():
                r = nd.proxy("/keyed/echo",
                             headers={"X-API-Key": key} if key else {})
                got = r.status
                if r.status == 200:
                    got = r.json()["headers"].get("X-Consumer-Username")
                seen[nd.id] = got
                if got != want:
                    return False
            return True
        try:
            rgtest.wait_until(pred, timeout or scaled(5.0), 0.05,
                              "%r -> %r on every node" % (key, want))
        except TimeoutError as e:
            self.fail("%s: %s" % (e, seen))

    def test_credentials_written_on_one_node_authenticate_on_all(self):
        """POST /config on one node with consumers, a nested and a
        top-level key-auth credential, a top-level jwt credential and
        key-auth and jwt routes: every node
        refuses a missing or wrong key and lets each key in as its
        consumer; a consumer written later with its credential (PUT
        /consumers/{name}) works everywhere too."""
        c = self.cluster
        doc = self.seed(self.up)
        doc["services"][0]["routes"].append({
            "name": "keyed", "paths": ["/keyed"], "strip_path": False,
            "plugins": [{"name": "key-auth",
                         "config": {"key_names": ["X-API-Key"]}}]})
        doc["consumers"] = [
            {"username": "alice",
             "keyauth_credentials": [{"key": "alice-key"}]},
            {"username": "bob"}]
        doc["keyauth_credentials"] = [{"key": "bob-key", "consumer": "bob"}]
        doc["services"][0]["routes"].append({
            "name": "signed", "paths": ["/signed"], "strip_path": False,
            "plugins": [{"name": "jwt"}]})
        doc["jwt_secrets"] = [{"key": "bob-iss", "secret": "b0b",
                               "consumer": {"username": "bob"}}]
        r = c.write("POST", "/config", doc, node=c.nodes[1])
        self.assertEqual(r.status, 201, r)
        tok = hs256({"iss": "bob-iss"}, b"b0b")
        for nd in self.cluster.alive():
            rgtest.wait_until(lambda: nd.proxy(
                "/signed/echo", headers={"Authorization": "Bearer " + tok}
            ).status == 200, scaled(5.0), 0.05, "jwt on node %d" % nd.id)
            r = nd.proxy("/signed/echo",
                         headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.json()["headers"]["X-Consumer-Username"],
                             "bob")
            self.assertEqual(nd.proxy("/signed/echo").status, 401)
        self.keyed_everywhere("alice-key", "alice")
        self.keyed_everywhere("bob-key", "bob")
        # Every credential got an id, and not one an API key can be
        # guessed from (a hash of the key would be).
        r = c.nodes[0].proxy("/keyed/echo", headers={"X-API-Key": "alice-key"})
        cid = r.json()["headers"].get("X-Credential-Identifier")
        self.assertIsNotNone(cid, r)
        guess = hashlib.sha1(b"raftgate:keyauth_credentials:alice-key")
        self.assertNotEqual(cid, str(uuid.UUID(bytes=guess.digest()[:16],
                                               version=5)))
        self.keyed_everywhere(None, 401)
        self.keyed_everywhere("nope", 401)
        r = c.write("PUT", "/consumers/carol",
                    {"keyauth_credentials": [{"key": "carol-key"}]},
                    node=c.nodes[2])
        self.assertIn(r.status, (200, 201), r)
        self.keyed_everywhere("carol-key", "carol")
        r = c.write("PUT", "/consumers/dave",
                    {"keyauth_credentials": [{"key": "alice-key"}]},
                    node=c.nodes[0])
        self.assertEqual(r.status, 400, r)
        self.assertIn("duplicate key-auth key", r.json().get("message", ""))
        self.keyed_everywhere("alice-key", "alice")
        r = c.write("POST", "/config", self.seed(self.up), node=c.nodes[0])
        self.assertEqual(r.status, 201, r)
        self.keyed_everywhere("alice-key", 404)


if __name__ == "__main__":
    import unittest
    unittest.main()
