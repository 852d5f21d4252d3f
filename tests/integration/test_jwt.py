#!/usr/bin/python3
"""jwt through the real binary: HS256/RS256/ES256 credentials (keys made
and tokens signed with the openssl command), the token from the
Authorization header, a query argument or a cookie, the key claim in the
claims or the header (the seed's `kid`), exp/nbf/maximum_expiration, and
the attack vectors of issue 9, each answered 401 (or 431) without reaching
the upstream."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, stdin=None):
    return subprocess.run(["openssl"] + list(args), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=True).stdout


def der_to_raw(der, half):
    """An ECDSA DER signature as JWS r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(half, b"\x00")
        i += 2 + n
    return out


class Keys:
    """RSA and EC key pairs in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rgjwt-")
        self.rsa = self.make("rsa", "-algorithm", "RSA",
                             "-pkeyopt", "rsa_keygen_bits:2048")
        self.rsa_other = self.make("rsa2", "-algorithm", "RSA",
                                   "-pkeyopt", "rsa_keygen_bits:2048")
        self.ec = self.make("ec", "-algorithm", "EC",
                            "-pkeyopt", "ec_paramgen_curve:P-256")
        self.k1 = self.make("k1", "-algorithm", "EC",
                            "-pkeyopt", "ec_paramgen_curve:secp256k1")

    def make(self, name, *opts):
        priv = os.path.join(self.dir, name + ".pem")
        openssl("genpkey", *opts, "-out", priv)
        pub = openssl("pkey", "-in", priv, "-pubout").decode()
        return priv, pub

    @staticmethod
    def sign(alg, signing_input, key):
        """@key: an HMAC secret (bytes) or a private key path."""
        if alg.startswith("HS"):
            md = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                  "HS512": hashlib.sha512}[alg]
            return hmac.new(key, signing_input, md).digest()
        sig = openssl("dgst", "-sha" + alg[2:], "-sign", key,
                      stdin=signing_input)
        return der_to_raw(sig, 32) if alg == "ES256" else sig


def token(keys, claims, key, alg="HS256", header=None, sig=None):
    h = {"alg": alg, "typ": "JWT"}
    h.update(header or {})
    si = (b64u(json.dumps(h).encode()) + "." +
          b64u(json.dumps(claims).encode()))
    if sig is None:
        sig = keys.sign(alg, si.encode(), key)
    return si + "." + (b64u(sig) if isinstance(sig, bytes) else sig)


def jwt(**config):
    return {"name": "jwt", "config": config}


class JwtTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        cls.keys = Keys()
        return gateway_doc(
            service("svc", up.port, routes=[
                route("jwt", ["/jwt"], strip_path=False,
                      plugins=[jwt(claims_to_verify=["exp", "nbf"])]),
                route("kid", ["/kid"], strip_path=False,
                      plugins=[jwt(key_claim_name="kid")]),
                route("maxexp", ["/maxexp"], strip_path=False,
                      plugins=[jwt(claims_to_verify=["exp"],
                                   maximum_expiration=60)]),
                route("b64", ["/b64"], strip_path=False,
                      plugins=[jwt(secret_is_base64=True)]),
                # Kong's "either" setup: each with anonymous.
                route("either", ["/either"], strip_path=False, plugins=[
                    jwt(anonymous="guest"),
                    {"name": "key-auth", "config": {"anonymous": "guest"}}]),
                route("cookie", ["/cookie"], strip_path=False,
                      plugins=[jwt(cookie_names=["tok"], header_names=[],
                                   uri_param_names=[])]),
            ]),
            consumers=[
                {"username": "alice", "jwt_secrets": [
                    {"key": "alice-iss", "algorithm": "HS256",
                     "secret": "s3cret"}]},
                {"username": "bob", "jwt_secrets": [
                    {"key": "bob-rs", "algorithm": "RS256",
                     "rsa_public_key": cls.keys.rsa[1]}],
                 "keyauth_credentials": [{"key": "bob-key"}]},
                {"username": "guest"},
                {"username": "carol", "jwt_secrets": [
                    {"key": "carol-es", "algorithm": "ES256",
                     "rsa_public_key": cls.keys.ec[1]}]},
                {"username": "dave", "jwt_secrets": [
                    {"key": "dave-kid", "algorithm": "HS512",
                     "secret": "kid-secret"}]},
                {"username": "eve", "jwt_secrets": [
                    {"key": "eve-b64",
                     "secret": base64.b64encode(b"\x00raw\xffbytes").decode()}]},
            ])

    def hs(self, claims, secret=b"s3cret", **kw):
        return token(self.keys, claims, secret, **kw)

    def good_claims(self, iss="alice-iss", **kw):
        now = int(time.time())
        c = {"iss": iss, "exp": now + 300, "nbf": now - 10}
        c.update(kw)
        return c

    def get(self, path, tok=None, headers=None):
        h = dict(headers or {})
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        return self.gw.get(path, headers=h)

    def assert_ok(self, path, tok, user, headers=None):
        r = self.get(path + "/echo", tok, headers)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["headers"].get("X-Consumer-Username"), user)

    def assert_refused(self, tok, body, path="/jwt", status=401,
                       headers=None):
        key = "refused-%d" % time.monotonic_ns()
        r = self.get(path + "/count?key=" + key, tok, headers)
        self.assertEqual(r.status, status, (tok[:200] if tok else tok, r))
        if body is not None:
            self.assertEqual(r.json(), body)
        self.assertEqual(self.up.hits(key), 0)

    # -- accepted --

    def test_hs256_rs256_es256_accepted(self):
        self.assert_ok("/jwt", self.hs(self.good_claims()), "alice")
        self.assert_ok("/jwt", token(self.keys, self.good_claims("bob-rs"),
                                     self.keys.rsa[0], alg="RS256"), "bob")
        self.assert_ok("/jwt", token(self.keys, self.good_claims("carol-es"),
                                     self.keys.ec[0], alg="ES256"), "carol")

    def test_seed_kid_in_header(self):
        tok = token(self.keys, {"sub": "u1"}, b"kid-secret", alg="HS512",
                    header={"kid": "dave-kid"})
        self.assert_ok("/kid", tok, "dave")

    def test_query_and_cookie(self):
        tok = self.hs(self.good_claims())
        r = self.gw.get("/jwt/echo?jwt=" + tok)
        self.assertEqual(r.status, 200, r)
        r = self.gw.get("/cookie/echo", headers={"Cookie": "a=b; tok=" + tok})
        self.assertEqual(r.status, 200, r)
        self.assert_refused(None, {"message": "Unauthorized"}, "/cookie",
                            headers={"Authorization": "Bearer " + tok})

    def test_base64_secret(self):
        tok = token(self.keys, {"iss": "eve-b64"}, b"\x00raw\xffbytes")
        self.assert_ok("/b64", tok, "eve")

    def test_either_plugin_one_identity(self):
        """The first plugin to find a credential decides; a later one with
        anonymous does nothing; anonymous only when neither finds one. The
        upstream sees one consumer's headers, never a mix."""
        def who(headers):
            r = self.gw.get("/either/echo", headers=headers)
            self.assertEqual(r.status, 200, r)
            h = r.json()["headers"]
            return (h.get("X-Consumer-Username"),
                    h.get("X-Anonymous-Consumer"))
        tok = self.hs(self.good_claims())
        self.assertEqual(who({"Authorization": "Bearer " + tok,
                              "apikey": "bob-key"}), ("alice", None))
        self.assertEqual(who({"Authorization": "Bearer " + tok}),
                         ("alice", None))
        self.assertEqual(who({"apikey": "bob-key"}), ("bob", None))
        self.assertEqual(who({}), ("guest", "true"))

    # -- refused, never reaching the upstream --

    def test_no_token_and_multiple_tokens(self):
        self.assert_refused(None, {"message": "Unauthorized"})
        self.assert_refused("", {"message": "Unauthorized"})
        a = self.hs(self.good_claims())
        b = self.hs(self.good_claims(sub="other"))
        key = "multi-%d" % time.monotonic_ns()
        r = self.get("/jwt/count?key=%s&jwt=%s" % (key, a), b)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json(), {"message": "Multiple tokens provided"})
        self.assertEqual(self.up.hits(key), 0)

    def test_alg_none_in_every_spelling(self):
        for alg in ("none", "None", "NONE", "nOnE"):
            tok = self.hs(self.good_claims(), alg=alg, sig="")
            self.assert_refused(tok, {"message": "Bad token; invalid alg"})
            tok = self.hs(self.good_claims(), alg=alg, sig=b"x")
            self.assert_refused(tok, {"message": "Bad token; invalid alg"})

    def test_empty_and_stripped_signatures(self):
        tok = self.hs(self.good_claims())
        head, claims, _ = tok.split(".")
        self.assert_refused(head + "." + claims + ".",
                            {"message": "Bad token; no signature"})
        self.assert_refused(head + "." + claims,
                            {"message": "Bad token; invalid token: not "
                                        "three parts"})
        self.assert_refused(tok + ".x", {"message": "Bad token; invalid "
                                                    "token: not three parts"})

    def test_hs256_signed_with_the_rsa_public_key(self):
        """Key confusion: bob's credential pins RS256."""
        tok = self.hs(self.good_claims("bob-rs"),
                      secret=self.keys.rsa[1].encode())
        self.assert_refused(tok, {"message": "Invalid algorithm"})

    def test_wrong_keys(self):
        self.assert_refused(self.hs(self.good_claims(), secret=b"guess"),
                            {"message": "Invalid signature"})
        tok = token(self.keys, self.good_claims("bob-rs"),
                    self.keys.rsa_other[0], alg="RS256")
        self.assert_refused(tok, {"message": "Invalid signature"})
        tok = token(self.keys, self.good_claims("carol-es"),
                    self.keys.ec[0], alg="ES256")
        head, claims, sig = tok.split(".")
        other = token(self.keys, self.good_claims("carol-es", sub="x"),
                      self.keys.ec[0], alg="ES256").split(".")[2]
        self.assert_refused(head + "." + claims + "." + other,
                            {"message": "Invalid signature"})

    def test_jku_in_header_is_ignored(self):
        tok = token(self.keys, self.good_claims("bob-rs"),
                    self.keys.rsa_other[0], alg="RS256",
                    header={"jku": "http://127.0.0.1:1/keys.json",
                            "x5u": "http://127.0.0.1:1/cert.pem"})
        self.assert_refused(tok, {"message": "Invalid signature"})

    def test_time_claims(self):
        now = int(time.time())
        self.assert_refused(self.hs(self.good_claims(exp=now - 1)),
                            {"exp": "token expired"})
        self.assert_refused(self.hs(self.good_claims(nbf=now + 600)),
                            {"nbf": "token not valid yet"})
        self.assert_refused(self.hs(self.good_claims(exp=str(now + 300))),
                            {"exp": "must be a number"})
        self.assert_refused(self.hs(self.good_claims(nbf="0")),
                            {"nbf": "must be a number"})
        c = self.good_claims()
        del c["exp"]
        self.assert_refused(self.hs(c), {"exp": "must be a number"})
        self.assert_refused(self.hs(self.good_claims(exp=now + 3600)),
                            {"exp": "exceeds maximum allowed expiration"},
                            path="/maxexp")
        self.assert_ok("/maxexp", self.hs(self.good_claims(exp=now + 30)),
                       "alice")

    def test_unknown_crit(self):
        tok = self.hs(self.good_claims(), header={"crit": ["exp"]})
        self.assert_refused(tok, {"message": "Bad token; unsupported "
                                             "critical header"})

    def test_kid_traversal_and_sql(self):
        none = "No credentials found for given 'kid'"
        for kid, msg in (("../../../../etc/passwd", none),
                         ("' OR '1'='1' --", none),
                         ("dave-kid\x00x", "Bad token; invalid JSON")):
            tok = token(self.keys, {"sub": "u"}, b"kid-secret", alg="HS512",
                        header={"kid": kid})
            self.assert_refused(tok, {"message": msg}, path="/kid")

    def test_claim_shapes(self):
        c = self.good_claims()
        del c["iss"]
        self.assert_refused(self.hs(c), {"message": "No mandatory 'iss' in "
                                                    "claims"})
        self.assert_refused(self.hs(self.good_claims(iss=5)),
                            {"message": "Invalid 'iss' in claims"})
        self.assert_refused(self.hs(self.good_claims(iss="nobody")),
                            {"message": "No credentials found for given "
                                        "'iss'"})

    def test_bad_base64_and_json(self):
        self.assert_refused("e30!.e30.c2ln",
                            {"message": "Bad token; invalid base64"})
        self.assert_refused(b64u(b"[1]") + ".e30.c2ln",
                            {"message": "Bad token; invalid JSON"})
        self.assert_refused(b64u(b'{"alg":"HS256"}') + "." + b64u(b"{bad") +
                            ".c2ln", {"message": "Bad token; invalid JSON"})

    def test_huge_token(self):
        tok = self.hs(self.good_claims(pad="a" * (1 << 20)))
        self.assert_refused(tok, None, status=431)
        tok = self.hs(self.good_claims(pad="a" * 20000))
        self.assert_refused(tok, {"message": "Bad token; invalid token"})


class JwtCacheTest(GatewayTestCase):
    """The workers' verified-token cache (plugins/jwt_cache.h) never
    admits what a fresh verify would refuse: a token past its exp, or one
    whose credential a reload removed or changed."""

    @classmethod
    def gateway_config(cls, up):
        return cls.doc(up, "s3cret")

    @staticmethod
    def doc(up, secret):
        return gateway_doc(
            service("svc", up.port, routes=[
                route("jwt", ["/jwt"], strip_path=False,
                      plugins=[jwt(claims_to_verify=["exp"])]),
                route("noexp", ["/noexp"], strip_path=False,
                      plugins=[jwt()])]),
            consumers=[{"username": "alice", "jwt_secrets": [
                {"key": "alice-iss", "algorithm": "HS256",
                 "secret": secret}]}])

    def status(self, path, tok, n=8):
        """Statuses of @n requests, each on its own connection (so both
        workers see the token)."""
        return {self.gw.get(path, headers={"Authorization": "Bearer " + tok})
                .status for _ in range(n)}

    def test_cached_token_expires_with_its_exp(self):
        exp = int(time.time()) + 2
        tok = token(Keys, {"iss": "alice-iss", "exp": exp}, b"s3cret")
        self.assertEqual(self.status("/jwt/echo", tok), {200})
        self.assertEqual(self.status("/noexp/echo", tok), {200})
        while time.time() < exp + 0.2:
            time.sleep(0.1)
        r = self.gw.get("/jwt/echo", headers={"Authorization": "Bearer " + tok})
        self.assertEqual((r.status, r.json()), (401, {"exp": "token expired"}))
        self.assertEqual(self.status("/jwt/echo", tok), {401})
        # Without exp verified, the token still passes after its exp.
        self.assertEqual(self.status("/noexp/echo", tok), {200})

    def test_reload_revokes_cached_tokens(self):
        tok = token(Keys, {"iss": "alice-iss",
                           "exp": int(time.time()) + 300}, b"s3cret")
        self.assertEqual(self.status("/jwt/echo", tok), {200})
        try:
            self.gw.reload(gateway=self.doc(self.up, "rotated"))
            self.assertEqual(self.status("/jwt/echo", tok), {401})
            new = token(Keys, {"iss": "alice-iss",
                               "exp": int(time.time()) + 300}, b"rotated")
            self.assertEqual(self.status("/jwt/echo", new), {200})
        finally:
            self.gw.reload(gateway=self.doc(self.up, "s3cret"))
        self.assertEqual(self.status("/jwt/echo", tok), {200})


class JwtConfigErrorsTest(GatewayTestCase):
    """Bad jwt credentials and configs are errors with their paths."""

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=[jwt()])]))

    def check(self, d):
        return self.gw.check_config(d)

    def test_check_names_the_path(self):
        keys = Keys()

        def with_cred(cred, plugin=None):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[plugin or jwt()])]),
                consumers=[{"username": "u", "jwt_secrets": [cred]}])
        cases = [
            (with_cred({"key": "k", "algorithm": "none", "secret": "s"}),
             "consumers[0].jwt_secrets[0].algorithm: must be one of"),
            (with_cred({"key": "k", "algorithm": "hs256", "secret": "s"}),
             "consumers[0].jwt_secrets[0].algorithm: must be one of"),
            (with_cred({"key": "k"}),
             "consumers[0].jwt_secrets[0]: needs a secret for HS256"),
            (with_cred({"key": "k", "algorithm": "RS256"}),
             "consumers[0].jwt_secrets[0]: needs an rsa_public_key"),
            (with_cred({"key": "k", "algorithm": "RS256",
                        "rsa_public_key": "not a key"}),
             "rsa_public_key: not a PEM public key"),
            (with_cred({"key": "k", "algorithm": "RS256",
                        "rsa_public_key": keys.ec[1]}),
             "rsa_public_key: not an RSA key of 2048 bits or more for RS256"),
            (with_cred({"key": "k", "algorithm": "ES384",
                        "rsa_public_key": keys.ec[1]}),
             "rsa_public_key: not a P-384 EC key for ES384"),
            (with_cred({"key": "k", "algorithm": "ES256",
                        "rsa_public_key": keys.k1[1]}),
             "rsa_public_key: not a P-256 EC key for ES256"),
            (with_cred({"key": "k", "secret": "s"},
                       jwt(key_claim_name='a"b')),
             "config.key_claim_name: must be 1 to 64 letters"),
            (with_cred({"key": "k", "secret": "s"},
                       jwt(claims_to_verify=["iat"])),
             "services[0].routes[0].plugins[0].config.claims_to_verify[0]: "
             "must be \"exp\" or \"nbf\""),
            (with_cred({"key": "k", "secret": "s"},
                       jwt(maximum_expiration=60)),
             "maximum_expiration needs \"exp\" in claims_to_verify"),
        ]
        for d, msg in cases:
            rc, out = self.check(d)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(msg, out)
        rc, out = self.check(with_cred({"key": "k", "algorithm": "ES256",
                                        "rsa_public_key": keys.ec[1]}))
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    rgtest.main()
