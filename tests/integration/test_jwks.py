#!/usr/bin/python3
"""jwt credentials whose keys are a JWK set (jwks_uri, raftgate's): the
set fetched by the node from an http:// server of the test's and from a
file:// URL, the token's kid choosing the key; rotation (a cached token of
a key rotated out is verified again and refused), the last good set kept
through a 500, a body that is no key set and a dead server, a kid the set
lacks fetching early, and a jku in the token never followed."""

import http.server
import json
import os
import re
import threading
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service, wait_until
from test_jwt import Keys, b64u, jwt, openssl, token


def rsa_jwk(pub_pem, kid, alg="RS256"):
    out = openssl("rsa", "-pubin", "-noout", "-modulus",
                  stdin=pub_pem.encode()).decode()
    n = bytes.fromhex(out.strip().split("=", 1)[1])
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
            "n": b64u(n), "e": b64u((65537).to_bytes(3, "big"))}


def ec_jwk(pub_pem, kid):
    der = openssl("pkey", "-pubin", "-outform", "DER",
                  stdin=pub_pem.encode())
    pt = der[-65:]  # the uncompressed P-256 point ends the SPKI
    assert pt[0] == 4
    return {"kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64u(pt[1:33]), "y": b64u(pt[33:])}


class JwksServer:
    """Serves /jwks.json from .body with status .status; counts hits."""

    def __init__(self):
        self.body, self.status, self.hits = b"{}", 200, 0
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                me.hits += 1
                self.send_response(me.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(me.body)))
                self.end_headers()
                self.wfile.write(me.body)

            def log_message(self, *a):
                pass

        self.port = rgtest.free_port()
        self.srv = http.server.ThreadingHTTPServer((rgtest.HOST, self.port),
                                                   H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def serve(self, keys):
        self.body = json.dumps({"keys": keys}).encode()

    def url(self):
        return "http://%s:%d/jwks.json" % (rgtest.HOST, self.port)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class JwksTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        cls.keys = Keys()
        k = cls.keys
        cls.jk1 = rsa_jwk(k.rsa[1], "k1")
        cls.jk2 = rsa_jwk(k.rsa_other[1], "k2")
        cls.idp = JwksServer()
        cls.idp.serve([cls.jk1])
        cls.lazy = JwksServer()   # refreshed hourly: only a kid pokes it
        cls.lazy.serve([cls.jk1])
        cls.evil = JwksServer()   # what a jku in a token points at
        cls.evil.serve([rsa_jwk(k.rsa_other[1], "k1")])
        cls.file = os.path.join(k.dir, "es.json")
        with open(cls.file, "w") as f:
            json.dump({"keys": [{"kty": "oct", "k": "c2VjcmV0"},
                                ec_jwk(k.ec[1], "e1")]}, f)
        return gateway_doc(
            service("svc", up.port, routes=[
                route("jwt", ["/jwt"], strip_path=False,
                      plugins=[jwt(claims_to_verify=["exp"])])]),
            consumers=[
                {"username": "alice", "jwt_secrets": [
                    {"key": "https://idp.test/", "algorithm": "RS256",
                     "jwks_uri": cls.idp.url(),
                     "jwks_refresh_interval": 1}]},
                {"username": "carol", "jwt_secrets": [
                    {"key": "es-iss", "algorithm": "ES256",
                     "jwks_uri": "file://" + cls.file}]},
                {"username": "lazy", "jwt_secrets": [
                    {"key": "lazy-iss", "algorithm": "RS256",
                     "jwks_uri": cls.lazy.url(),
                     "jwks_refresh_interval": 3600}]},
            ])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for url in (cls.idp.url(), cls.lazy.url(), "file://" + cls.file):
            cls.gw.wait_log(r"jwks %s: \d+ keys" % re.escape(url))
        cls.started = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for s in (cls.idp, cls.lazy, cls.evil):
                s.stop()

    def tok(self, iss, kid, priv, alg="RS256", header=None):
        h = {"kid": kid} if kid is not None else {}
        h.update(header or {})
        return token(Keys, {"iss": iss, "exp": int(time.time()) + 300},
                     priv, alg=alg, header=h)

    def call(self, tok, n=1):
        """The (status, body) answers of @n requests, each on its own
        connection (both workers)."""
        out = set()
        for _ in range(n):
            r = self.gw.get("/jwt/echo",
                            headers={"Authorization": "Bearer " + tok})
            user = r.json().get("headers", {}).get("X-Consumer-Username") \
                if r.status == 200 else None
            out.add((r.status, user if r.status == 200 else
                     r.body.decode()))
        return out

    def ok(self, tok, user):
        self.assertEqual(self.call(tok, 6), {(200, user)})

    def refused(self, tok, message):
        self.assertEqual(self.call(tok, 4),
                         {(401, json.dumps({"message": message},
                                           separators=(",", ":")))})

    def test_keys_from_http_and_file(self):
        self.ok(self.tok("https://idp.test/", "k1", self.keys.rsa[0]),
                "alice")
        self.ok(self.tok("es-iss", "e1", self.keys.ec[0], alg="ES256"),
                "carol")

    def test_kid_must_name_a_key_of_the_set(self):
        self.refused(self.tok("https://idp.test/", "k9", self.keys.rsa[0]),
                     "No key found for given 'kid'")
        # The right kid, the wrong key: the signature decides.
        self.refused(self.tok("https://idp.test/", "k1",
                              self.keys.rsa_other[0]), "Invalid signature")
        self.refused(token(Keys, {"iss": "https://idp.test/"},
                           self.keys.rsa[0], alg="RS256",
                           header={"kid": 7}), "Invalid 'kid' in header")
        # An EC set's key never verifies RS256, whatever the kid says.
        self.refused(self.tok("es-iss", "e1", self.keys.rsa[0]),
                     "Invalid algorithm")

    def test_jku_and_jwk_in_the_token_are_not_followed(self):
        hits = self.evil.hits
        jwk = rsa_jwk(self.keys.rsa_other[1], "k1")
        tok = self.tok("https://idp.test/", "k1", self.keys.rsa_other[0],
                       header={"jku": self.evil.url(), "jwk": jwk})
        self.refused(tok, "Invalid signature")
        self.assertEqual(self.evil.hits, hits)

    def test_unknown_kid_fetches_early(self):
        wait_until(lambda: time.monotonic() - self.started > 10.5, 15)
        self.lazy.serve([self.jk1, self.jk2])
        tok = self.tok("lazy-iss", "k2", self.keys.rsa_other[0])
        self.assertEqual(self.call(tok), {(401, json.dumps(
            {"message": "No key found for given 'kid'"},
            separators=(",", ":")))})
        wait_until(lambda: self.call(tok) == {(200, "lazy")}, 10, 0.2,
                   "the set fetched again after a kid it lacked")

    def test_rotation_and_the_last_good_set(self):
        log = lambda: len(re.findall(re.escape("jwks %s: " % self.idp.url())
                                     + r"\d+ keys", self.gw.error_log()))
        t1 = self.tok("https://idp.test/", "k1", self.keys.rsa[0])
        t2 = self.tok("https://idp.test/", "k2", self.keys.rsa_other[0])
        self.ok(t1, "alice")  # now in both workers' caches
        down = False
        try:
            before = log()
            self.idp.serve([self.jk2])
            wait_until(lambda: log() > before, 10, 0.05, "the new set")
            self.refused(t1, "No key found for given 'kid'")
            self.ok(t2, "alice")
            for status, body, says in (
                    (500, self.idp.body, "fetch answered HTTP 500"),
                    (200, b"<html>", "not a JWK set"),
                    (200, b'{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}',
                     "no RSA \\(2048 bits or more\\)")):
                since = len(self.gw.error_log())
                self.idp.status, self.idp.body = status, body
                self.gw.wait_log(re.escape(self.idp.url()) + ": " + says +
                                 r".*keeping the last good set \(1 keys\)",
                                 since=since)
                self.ok(t2, "alice")
            self.idp.serve([self.jk2])
            self.idp.status = 200
            since = len(self.gw.error_log())
            self.idp.srv.shutdown()
            self.idp.srv.server_close()
            down = True
            self.gw.wait_log(re.escape(self.idp.url()) + ": fetch failed.*"
                             r"keeping the last good set", since=since)
            self.ok(t2, "alice")
        finally:
            if down:
                self.idp.srv = http.server.ThreadingHTTPServer(
                    (rgtest.HOST, self.idp.port),
                    self.idp.srv.RequestHandlerClass)
                threading.Thread(target=self.idp.srv.serve_forever,
                                 daemon=True).start()
            self.idp.status = 200
            self.idp.serve([self.jk1])


class JwksConfigErrorsTest(GatewayTestCase):
    """Bad jwks_uri settings are errors with their paths."""

    def test_check_names_the_path(self):
        def doc(cred):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[jwt()])]),
                consumers=[{"username": "u", "jwt_secrets": [cred]}])
        base = {"key": "k", "algorithm": "RS256"}
        p = "consumers[0].jwt_secrets[0]"
        for cred, want in (
                (dict(base, jwks_uri="ftp://x/keys"),
                 p + ".jwks_uri: must be an http://, https:// or file:///"),
                (dict(base, jwks_uri="https://"),
                 p + ".jwks_uri: must be an http://, https:// or file:///"),
                (dict(base, jwks_uri="http://a b/"),
                 p + ".jwks_uri: must not hold blanks"),
                (dict(base, jwks_uri="http://x/", jwks_refresh_interval=0),
                 p + ".jwks_refresh_interval"),
                (dict(base, jwks_uri="http://x/", rsa_public_key="x"),
                 p + ": rsa_public_key and jwks_uri: give one, not both"),
                ({"key": "k", "algorithm": "HS256", "secret": "s",
                  "jwks_uri": "http://x/"},
                 p + ": jwks_uri: needs an RS* or ES* algorithm"),
                ({"key": "k", "jwks_uri": "http://x/"},
                 p + ": jwks_uri: needs an RS* or ES* algorithm")):
            code, out = self.gw.check_config(doc(cred))
            self.assertNotEqual(code, 0, cred)
            self.assertIn(want, out, cred)


if __name__ == "__main__":
    rgtest.main()
