#!/usr/bin/python3
"""Kong's credential endpoints on a three-node cluster:
/consumers/{c}/key-auth, /consumers/{c}/jwt, /consumers/{c}/acls (list,
create, get, put, patch, delete) and the top-level /key-auths, /jwts,
/acls. A credential written through them on a follower or on the leader
authenticates on every node; a patch or a delete changes what every node
accepts; generated keys and secrets work; concurrent writes to one
consumer are all kept; bad input is a 4xx naming the field, and nothing
is applied."""

import base64
import hashlib
import hmac
import json
import threading
import uuid

import rgtest
from rgcluster import ClusterTestCase, revision_of, scaled
from rgtest import gateway_doc, route, service


def hs256(claims, secret):
    """A compact JWS signed with HMAC-SHA256 (RFC 7515 §3.1)."""
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    si = (b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
          b64u(json.dumps(claims).encode()))
    return si + "." + b64u(hmac.new(secret.encode(), si.encode(),
                                    hashlib.sha256).digest())


URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
              "0123456789-_")


class AdminCredsTest(ClusterTestCase):
    SHARED = True

    @classmethod
    def seed(cls, up):
        return gateway_doc(service("seed", up.port, routes=[
            route("seed", ["/seed"], strip_path=False),
            route("keyed", ["/keyed"], strip_path=False, plugins=[
                {"name": "key-auth",
                 "config": {"key_names": ["X-API-Key"]}}]),
            route("signed", ["/signed"], strip_path=False, plugins=[
                {"name": "jwt"}]),
            route("gold", ["/gold"], strip_path=False, plugins=[
                {"name": "key-auth",
                 "config": {"key_names": ["X-API-Key"]}},
                {"name": "acl", "config": {"allow": ["gold"]}}]),
        ]))

    # -- helpers ---------------------------------------------------------
    def leader(self):
        return self.cluster.wait_leader()

    def follower(self):
        return self.cluster.followers()[0]

    def consumer(self, name):
        r = self.cluster.write("PUT", "/consumers/" + name, {})
        self.cluster.wait_revision(
            self.assertWrite(r, (200, 201), "PUT /consumers/" + name))
        return r.json()["id"]

    def everywhere(self, path, headers, want):
        """Wait until every node's proxy answers @path with @headers as
        @want: a status, or a consumer username (200)."""
        seen = {}

        def pred():
            for nd in self.cluster.alive():
                r = nd.proxy(path, headers=headers)
                got = r.status
                if r.status == 200:
                    got = r.json()["headers"].get("X-Consumer-Username")
                seen[nd.id] = got
                if got != want:
                    return False
            return True
        try:
            rgtest.wait_until(pred, scaled(5.0), 0.05,
                              "%s %r -> %r on every node"
                              % (path, headers, want))
        except TimeoutError as e:
            self.fail("%s: %s" % (e, seen))

    def keyed(self, key, want, path="/keyed/echo"):
        self.everywhere(path, {"X-API-Key": key}, want)

    def signed(self, token, want):
        self.everywhere("/signed/echo",
                        {"Authorization": "Bearer " + token}, want)

    def config(self, nd):
        r = nd.admin("GET", "/config")
        self.assertEqual(r.status, 200, r)
        return r.json()

    # -- key-auth --------------------------------------------------------
    def test_keyauth_written_on_any_node_authenticates_on_all(self):
        """Key-auth credentials posted on a follower (a given key) and on
        the leader (a generated one) let their consumer in on every node,
        as the listings and gets show them; a patched key replaces the old
        one everywhere; a delete by key or by id revokes (401)."""
        c = self.cluster
        cid = self.consumer("alice")
        r = c.write("POST", "/consumers/alice/key-auth", {"key": "alice-k1"},
                    node=self.follower())
        self.assertWrite(r, 201, "POST key-auth on a follower")
        given = r.json()
        self.assertEqual(given["key"], "alice-k1")
        self.assertEqual(given["consumer"], {"id": cid})
        self.assertEqual(str(uuid.UUID(given["id"])), given["id"])
        self.assertIsNone(given["ttl"])
        r = c.write("POST", "/consumers/%s/key-auth" % cid, None,
                    node=self.leader())
        self.assertWrite(r, 201, "POST key-auth with no body on the leader")
        made = r.json()
        self.assertGreaterEqual(len(made["key"]), 32)
        self.assertTrue(set(made["key"]) <= URLSAFE, made["key"])
        self.assertNotEqual(made["id"], given["id"])
        self.keyed("alice-k1", "alice")
        self.keyed(made["key"], "alice")
        r = c.nodes[0].proxy("/keyed/echo", headers={"X-API-Key": "alice-k1"})
        self.assertEqual(r.json()["headers"]["X-Credential-Identifier"],
                         given["id"])

        for nd in c.nodes:  # every node authenticated both: applied both
            lst = nd.admin("GET", "/consumers/alice/key-auth").json()
            self.assertIsNone(lst["next"])
            self.assertEqual(sorted(k["id"] for k in lst["data"]),
                             sorted([given["id"], made["id"]]))
            top = nd.admin("GET", "/key-auths").json()["data"]
            self.assertIn(given, top)
            for path in ("/key-auths/alice-k1", "/key-auths/" + given["id"],
                         "/consumers/alice/key-auth/alice-k1",
                         "/consumers/%s/key-auth/%s" % (cid, given["id"])):
                r = nd.admin("GET", path)
                self.assertEqual((r.status, r.json()), (200, given), path)
            self.assertEqual(nd.admin("GET", "/key-auths/nope").status, 404)

        # Credentials are entities of their own, as in Kong: a PUT of
        # their consumer that does not name them leaves them alone.
        r = c.write("PUT", "/consumers/alice", {"custom_id": "a-1"},
                    node=self.follower())
        self.assertWrite(r, 200, "PUT /consumers/alice")
        self.assertEqual(len(c.nodes[0].admin(
            "GET", "/consumers/alice/key-auth?consistency=linearizable"
        ).json()["data"]), 2)
        self.keyed("alice-k1", "alice")

        r = c.write("PATCH", "/consumers/alice/key-auth/" + given["id"],
                    {"key": "alice-k2"}, node=self.follower())
        self.assertWrite(r, 200, "PATCH key-auth")
        self.assertEqual((r.json()["id"], r.json()["key"]),
                         (given["id"], "alice-k2"))
        self.keyed("alice-k2", "alice")
        self.keyed("alice-k1", 401)

        r = c.write("DELETE", "/key-auths/alice-k2", node=self.follower())
        self.assertWrite(r, 204, "DELETE /key-auths/{key}")
        self.keyed("alice-k2", 401)
        self.keyed(made["key"], "alice")
        r = c.write("DELETE", "/consumers/alice/key-auth/" + made["id"],
                    node=self.leader())
        self.assertWrite(r, 204, "DELETE /consumers/{c}/key-auth/{id}")
        self.keyed(made["key"], 401)
        r = c.write("DELETE", "/consumers/alice/key-auth/" + made["id"])
        self.assertEqual(r.status, 404, r)
        self.assertEqual(
            c.nodes[2].admin("GET", "/consumers/alice/key-auth").json(),
            {"data": [], "next": None})

    def test_keyauth_put_upserts_by_key(self):
        """PUT /consumers/{c}/key-auth/{key} creates the credential (201)
        with that key, then replaces it (200, same id); both work."""
        c = self.cluster
        self.consumer("putter")
        r = c.write("PUT", "/consumers/putter/key-auth/put-key", {},
                    node=self.follower())
        self.assertWrite(r, 201, "PUT creates")
        first = r.json()
        self.assertEqual(first["key"], "put-key")
        self.keyed("put-key", "putter")
        r = c.write("PUT", "/consumers/putter/key-auth/put-key",
                    {"tags": ["ops"]})
        self.assertWrite(r, 200, "PUT replaces")
        self.assertEqual(r.json()["id"], first["id"])
        self.assertEqual(r.json()["tags"], ["ops"])
        self.keyed("put-key", "putter")
        # Kong's admin API takes forms too.
        r = c.write("POST", "/consumers/putter/key-auth", "key=form-key",
                    headers={"Content-Type":
                             "application/x-www-form-urlencoded"})
        self.assertWrite(r, 201, "POST a form")
        self.keyed("form-key", "putter")

    # -- jwt -------------------------------------------------------------
    def test_jwt_generated_secret_signs_tokens_on_all_nodes(self):
        """POST /consumers/{c}/jwt with no body makes a key, HS256 and a
        secret; a token signed with them passes on every node; the secret
        is in GET answers (as Kong's); a patched secret refuses the old
        token; a delete revokes."""
        c = self.cluster
        cid = self.consumer("bob")
        r = c.write("POST", "/consumers/bob/jwt", {}, node=self.follower())
        self.assertWrite(r, 201, "POST jwt")
        j = r.json()
        self.assertEqual(j["algorithm"], "HS256")
        self.assertEqual(j["consumer"], {"id": cid})
        self.assertIsNone(j["rsa_public_key"])
        self.assertGreaterEqual(len(j["key"]), 32)
        self.assertGreaterEqual(len(j["secret"]), 32)
        tok = hs256({"iss": j["key"]}, j["secret"])
        self.signed(tok, "bob")
        for nd in c.nodes:
            r = nd.admin("GET", "/jwts/" + j["key"])
            self.assertEqual((r.status, r.json()), (200, j))
            self.assertIn(j, nd.admin("GET", "/jwts").json()["data"])
            self.assertIn(j, nd.admin("GET", "/consumers/bob/jwt").json()
                          ["data"])

        r = c.write("PATCH", "/jwts/" + j["id"], {"secret": "s3cr3t-2"},
                    node=self.leader())
        self.assertWrite(r, 200, "PATCH /jwts/{id}")
        self.signed(tok, 401)
        tok2 = hs256({"iss": j["key"]}, "s3cr3t-2")
        self.signed(tok2, "bob")

        r = c.write("POST", "/consumers/bob/jwt",
                    {"key": "bob-rs", "algorithm": "RS256"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("rsa_public_key", r.json()["message"])

        r = c.write("DELETE", "/consumers/bob/jwt/" + j["key"],
                    node=self.follower())
        self.assertWrite(r, 204, "DELETE jwt")
        self.signed(tok2, 401)

    # -- acls ------------------------------------------------------------
    def test_acl_group_written_on_follower_lets_in_everywhere(self):
        """A consumer kept out of the gold route (403) is let in on every
        node once its acl group is posted on a follower, and kept out
        again after the group is deleted by name; a group twice is 409."""
        c = self.cluster
        cid = self.consumer("carol")
        r = c.write("POST", "/consumers/carol/key-auth", {"key": "carol-k"})
        self.assertWrite(r, 201)
        self.keyed("carol-k", 403, "/gold/echo")
        r = c.write("POST", "/consumers/carol/acls", {"group": "gold"},
                    node=self.follower())
        self.assertWrite(r, 201, "POST acls")
        a = r.json()
        self.assertEqual((a["group"], a["consumer"]), ("gold", {"id": cid}))
        self.keyed("carol-k", "carol", "/gold/echo")
        for nd in c.nodes:
            self.assertIn(a, nd.admin("GET", "/acls").json()["data"])
            self.assertEqual(nd.admin("GET", "/acls/" + a["id"]).json(), a)
            self.assertEqual(
                nd.admin("GET", "/consumers/carol/acls/gold").json(), a)
            # Groups repeat across consumers: the top level takes ids only.
            self.assertEqual(nd.admin("GET", "/acls/gold").status, 404)
        r = c.write("POST", "/consumers/carol/acls", {"group": "gold"})
        self.assertEqual(r.status, 409, r)
        r = c.write("DELETE", "/consumers/carol/acls/gold",
                    node=self.follower())
        self.assertWrite(r, 204, "DELETE acls by group")
        self.keyed("carol-k", 403, "/gold/echo")

    # -- races -----------------------------------------------------------
    def test_concurrent_writes_to_one_consumer_all_kept(self):
        """Credentials posted at once to one consumer through every node
        are all kept: each write is a read-modify-write of the consumer on
        the revision it read, built again when another one committed
        first. (A PATCH of the consumer itself is unconditional again, so
        it is not among them.)"""
        c = self.cluster
        self.consumer("dave")
        out = {}

        def post(i):
            nd = c.nodes[i % len(c.nodes)]
            out[i] = c.write("POST", "/consumers/dave/key-auth",
                             {"key": "dave-%d" % i}, node=nd)
        threads = [threading.Thread(target=post, args=(i,))
                   for i in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, r in sorted(out.items()):
            self.assertWrite(r, 201, "concurrent POST %d" % i)
        keys = c.nodes[0].admin(
            "GET", "/consumers/dave/key-auth?consistency=linearizable"
        ).json()["data"]
        self.assertEqual(sorted(k["key"] for k in keys),
                         sorted("dave-%d" % i for i in range(9)))
        self.keyed("dave-4", "dave")

    # -- bad input -------------------------------------------------------
    def test_bad_input_refused_with_the_field_nothing_applied(self):
        """Unknown fields, wrong types, a missing group, an unknown
        algorithm, a duplicate key, a bad id and an unknown consumer are
        4xx naming the field, on a follower and on the leader; the config
        and its revision stay as they were on every node."""
        c = self.cluster
        self.consumer("erin")
        r = c.write("POST", "/consumers/erin/key-auth", {"key": "erin-k"})
        self.assertWrite(r, 201)
        eid = r.json()["id"]
        self.consumer("frank")
        lead = self.leader()
        before = {nd.id: self.config(nd) for nd in c.nodes}
        cases = [
            ("POST", "/consumers/frank/key-auth",
             {"key": "f", "colour": "red"}, 400, "colour"),
            ("POST", "/consumers/frank/key-auth", {"key": 5}, 400, "key"),
            ("POST", "/consumers/frank/key-auth", {"ttl": "soon"}, 400,
             "ttl"),
            ("POST", "/consumers/frank/key-auth", {"tags": "x"}, 400, "tags"),
            ("POST", "/consumers/frank/key-auth", {"ttl": -1}, 400, "ttl"),
            ("POST", "/consumers/frank/key-auth", {"key": "erin-k"}, 409,
             "key"),
            ("POST", "/consumers/frank/key-auth", {"id": eid}, 409, "id"),
            ("POST", "/consumers/frank/key-auth", {"id": "not-a-uuid"}, 400,
             "id"),
            ("POST", "/consumers/frank/key-auth", {"consumer": {"id": "x"}},
             400, "consumer"),
            ("POST", "/consumers/frank/acls", {}, 400, "group"),
            ("POST", "/consumers/frank/acls", {"group": ["a"]}, 400,
             "group"),
            ("POST", "/consumers/frank/jwt", {"algorithm": "HS999"}, 400,
             "algorithm"),
            ("POST", "/consumers/frank/jwt", {"key": "erin-j", "secret": 7},
             400, "secret"),
            ("PATCH", "/key-auths/erin-k", {"key": ""}, 400, "key"),
            ("PATCH", "/key-auths/erin-k", {"id": str(uuid.uuid4())}, 400,
             "id"),
            ("POST", "/consumers/nobody/key-auth", {"key": "n"}, 404, ""),
            ("POST", "/consumers/%s/acls" % uuid.uuid4(), {"group": "g"},
             404, ""),
            ("PATCH", "/consumers/frank/key-auth/erin-k", {"ttl": 5}, 404,
             ""),
            ("POST", "/key-auths", {"key": "t"}, 405, ""),
        ]
        for nd in (self.follower(), lead):
            for method, path, body, status, field in cases:
                r = c.write(method, path, body, node=nd)
                what = (nd.id, method, path, body)
                self.assertEqual(r.status, status, (what, r))
                if status == 400:
                    self.assertIn("schema violation", r.json()["message"],
                                  (what, r))
                    self.assertIn(field, r.json().get("fields", {}),
                                  (what, r))
                    self.assertIn(field, r.json()["message"], (what, r))
            r = nd.admin("POST", "/consumers/frank/key-auth", "{bad",
                         {"Content-Type": "application/json"})
            self.assertEqual(r.status, 400, r)
        for nd in c.nodes:
            self.assertEqual(self.config(nd), before[nd.id])
        self.keyed("erin-k", "erin")
        self.keyed("f", 401)


if __name__ == "__main__":
    import unittest
    unittest.main()
