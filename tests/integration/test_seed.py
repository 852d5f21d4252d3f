#!/usr/bin/python3
"""The seed's kong.yml (conf/examples/kong-seed.yml, verbatim from the
feature source) through the real binary: `raftgate -t` accepts it, a
single node starts on it and reloads it by SIGHUP, and a cluster takes it
by POST /config. Its enforced parts are proved: jwt on both services
(key_claim_name kid on user-service), cors on user-service (its headers
on answers to the allowed origin; as in Kong, a preflight is 404 since
the route's methods leave out OPTIONS), the user-service route's
methods, rate-limiting (the route's minute and hour windows, and a
consumer's own instance overriding them, once jwt secrets are added for
the seed's consumers), and order-service's transformers
(request-transformer's X-Service-Name reaches the upstream,
response-transformer's X-Gateway is on every answer, jwt's 401
included); no plugin of the seed is left "not enforced". The seed's host
names resolve through nss_wrapper to 127.0.0.2 and 127.0.0.3, where
upstreams listen on the seed's ports."""

import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
import unittest

import rgtest
from rgcluster import Cluster, scaled
from rgtest import Gateway, Upstream, gateway_doc
from test_dns_targets import nss_wrapper

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "conf", "examples", "kong-seed.yml")
ORIGIN = "https://app.example.com"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "Authorization"}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256_iss(iss, secret):
    si = (b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
          b64u(json.dumps({"iss": iss,
                           "exp": int(time.time()) + 60}).encode()))
    return si + "." + b64u(hmac.new(secret, si.encode(),
                                    hashlib.sha256).digest())


def hs256_kid(kid):
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    si = (b64u(json.dumps({"alg": "HS256", "kid": kid}).encode()) + "." +
          b64u(json.dumps({"exp": int(time.time()) + 60}).encode()))
    return si + "." + b64u(hmac.new(b"x", si.encode(),
                                    hashlib.sha256).digest())


class Seed:
    """Upstreams on the seed's addresses and the environment that makes
    the seed's names resolve to them."""

    def __init__(self):
        self.users = Upstream("127.0.0.2", 8080).start()
        self.orders = Upstream("127.0.0.3", 8081).start()
        self.tmp = tempfile.TemporaryDirectory()
        hosts = os.path.join(self.tmp.name, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.2 user-service\n127.0.0.3 order-service\n")
        # No RTLD_DEEPBIND dlopen of libc, which ASan refuses.
        self.env = {"LD_PRELOAD": nss_wrapper(), "NSS_WRAPPER_HOSTS": hosts,
                    "NSS_WRAPPER_DISABLE_DEEPBIND": "1",
                    "ASAN_OPTIONS": ":".join(
                        x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                    "verify_asan_link_order=0") if x)}
        with open(SEED) as f:
            self.text = f.read()

    def stop(self):
        self.users.stop()
        self.orders.stop()
        self.tmp.cleanup()


class SeedChecks:
    """What the seed enforces, asked of any node (port)."""

    def check_enforced(self, port):
        key = "seed-%d" % time.monotonic_ns()
        r = rgtest.request(port, "GET", "/api/v1/users/count?key=" + key)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json(), {"message": "Unauthorized"})
        r = rgtest.request(port, "GET", "/api/v1/users/count?key=" + key,
                           {"Authorization": "Bearer " + hs256_kid("k1")})
        self.assertEqual(r.json(), {"message": "No credentials found for "
                                               "given 'kid'"})
        r = rgtest.request(port, "GET", "/api/v1/orders/count?key=" + key)
        self.assertEqual(r.status, 401, r)
        # order-service's response-transformer, on jwt's 401 too.
        self.assertEqual(r.header("X-Gateway"), "Kong")
        self.assertEqual(self.seed.users.hits(key), 0)
        self.assertEqual(self.seed.orders.hits(key), 0)
        # As in Kong, a preflight does not reach the route: its methods
        # leave out OPTIONS, so the router answers 404 before cors runs.
        r = rgtest.request(port, "OPTIONS", "/api/v1/users/count?key=" + key,
                           PREFLIGHT)
        self.assertEqual(r.status, 404, r)
        # An actual request from the allowed origin gets the seed's CORS
        # headers, on jwt's 401 too; another origin gets none.
        r = rgtest.request(port, "GET", "/api/v1/users/count?key=" + key,
                           {"Origin": ORIGIN})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), ORIGIN)
        self.assertEqual(r.header("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(r.header("Access-Control-Expose-Headers"),
                         "X-Total-Count")
        self.assertEqual(r.header("Vary"), "Origin")
        r = rgtest.request(port, "GET", "/api/v1/users/count?key=" + key,
                           {"Origin": "https://evil.example.com"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertEqual(self.seed.users.hits(key), 0)
        r = rgtest.request(port, "PATCH", "/api/v1/users/x")
        self.assertEqual(r.status, 404, r)  # the route's methods
        self.assertIsNone(r.header("X-Gateway"))


class SeedSingleNodeTest(SeedChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.seed = Seed()

    @classmethod
    def tearDownClass(cls):
        cls.seed.stop()

    def node_conf(self, path):
        return {"gateway": {"declarative_config": path}}

    def test_check_start_reload(self):
        gw = Gateway(gateway_doc(),
                     {"gateway": {"declarative_config": "kong-seed.yml"}})
        try:
            path = os.path.join(gw.dir, "kong-seed.yml")
            with open(path, "w") as f:
                f.write(self.seed.text)  # verbatim
            npath = os.path.join(gw.dir, "seed-node.yml")
            rgtest.write_json(npath, self.node_conf(path))
            rc, out = rgtest.run_binary(["-t", "-c", npath],
                                        env=self.seed.env)
            self.assertEqual(rc, 0, out)
            self.assertNotIn("not enforced yet", out)
            gw.env = self.seed.env
            gw.start()
            self.check_enforced(gw.port)
            since = len(gw.error_log())
            before = gw.reloads_done()
            gw.send_signal(1)  # SIGHUP: the same file again
            rgtest.wait_until(lambda: gw.reloads_done() > before,
                              what="the reload")
            self.check_enforced(gw.port)
            self.assertNotIn("[error]", gw.error_log()[since:])
            self.assertEqual(gw.stop(), 0, gw.log_tail(40))
        finally:
            gw.cleanup()


    def test_rate_limits_enforced(self):
        """The seed with a jwt secret for two of its consumers (the seed
        has none, so nothing passes jwt): user-service's minute 100 and
        hour 10000 count per consumer, mobile-app's and web-app's own
        instances override them, and the 101st request of a minute is
        429."""
        secrets = "\njwt_secrets:\n" + "".join(
            "  - {consumer: %s, key: k-%s, secret: x}\n" % (c, c)
            for c in ("mobile-app", "web-app", "partner-api"))
        gw = Gateway(gateway_doc(),
                     {"gateway": {"declarative_config": "kong-seed.yml"}})
        try:
            path = os.path.join(gw.dir, "kong-seed.yml")
            with open(path, "w") as f:
                f.write(self.seed.text + secrets)
            gw.node["gateway"] = {"declarative_config": path}
            gw.env = self.seed.env
            gw.start()
            if time.time() % 60 > 45:  # one minute window for the test
                time.sleep(61 - time.time() % 60)
            users = "/api/v1/users/echo"

            def get(consumer):
                return rgtest.request(
                    gw.port, "GET", users,
                    {"Authorization": "Bearer " + hs256_kid("k-" + consumer)})
            r = get("mobile-app")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-RateLimit-Limit-Minute"), "1000")
            self.assertEqual(r.header("X-RateLimit-Limit-Hour"), "50000")
            self.assertEqual(r.header("X-RateLimit-Remaining-Minute"), "999")
            r = get("web-app")
            self.assertEqual(r.header("X-RateLimit-Limit-Minute"), "500")
            self.assertEqual(r.header("X-RateLimit-Remaining-Minute"), "499")
            # partner-api's 5000 a minute: the route's 100 is overridden
            # too, so the refusal comes from a consumer without its own
            # instance only; make one by removing partner-api's plugin
            self.assertEqual(get("partner-api")
                             .header("X-RateLimit-Limit-Minute"), "5000")
            text = self.seed.text.replace(
                "  - username: partner-api\n    plugins:\n"
                "      - name: rate-limiting\n        config:\n"
                "          minute: 5000\n          hour: 200000\n",
                "  - username: partner-api\n")
            self.assertNotEqual(text, self.seed.text)
            with open(path, "w") as f:
                f.write(text + secrets)
            gw.reload()
            statuses = [get("partner-api").status for _ in range(101)]
            self.assertEqual(statuses, [200] * 99 + [429] * 2)  # 1 before
            r = get("partner-api")
            self.assertEqual(r.header("X-RateLimit-Limit-Type"), "minute")
            self.assertEqual(r.json(), {"message": "API rate limit exceeded"})
            self.assertEqual(gw.stop(), 0, gw.log_tail(40))
        finally:
            gw.cleanup()

    def test_transformers_reach_the_upstream(self):
        # The seed has no credentials: one jwt secret is added to its
        # mobile-app consumer, the rest is verbatim.
        text = self.seed.text.replace(
            "  - username: mobile-app\n",
            "  - username: mobile-app\n    jwt_secrets:\n"
            "      - key: seed-iss\n        secret: seed-secret\n")
        self.assertNotEqual(text, self.seed.text)
        gw = Gateway(gateway_doc(),
                     {"gateway": {"declarative_config": "kong-seed.yml"}})
        try:
            with open(os.path.join(gw.dir, "kong-seed.yml"), "w") as f:
                f.write(text)
            gw.env = self.seed.env
            gw.start()
            tok = hs256_iss("seed-iss", b"seed-secret")
            r = gw.get("/api/v1/orders/echo",
                       {"Authorization": "Bearer " + tok,
                        "X-Service-Name": "client-set"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Gateway"), "Kong")
            # add: only when absent (Kong's), so the client's stays; and
            # when absent it is added.
            self.assertEqual(r.json()["headers"]["X-Service-Name"],
                             "client-set")
            r = gw.get("/api/v1/orders/echo",
                       {"Authorization": "Bearer " + tok})
            self.assertEqual(r.json()["headers"]["X-Service-Name"],
                             "order-service")
            self.assertEqual(gw.stop(), 0, gw.log_tail(40))
        finally:
            gw.cleanup()


class SeedClusterTest(SeedChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.seed = Seed()

    @classmethod
    def tearDownClass(cls):
        cls.seed.stop()

    def test_post_config_on_one_node_enforced_on_all(self):
        saved = {k: os.environ.get(k) for k in self.seed.env}
        os.environ.update(self.seed.env)  # the nodes inherit it
        try:
            c = Cluster(3, gateway_doc(), {})
            c.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        try:
            r = c.write("POST", "/config", self.seed.text,
                        headers={"Content-Type": "application/x-yaml"},
                        node=c.nodes[1])
            self.assertEqual(r.status, 201, r)
            for nd in c.alive():
                seen = []

                def serves():
                    seen.append(rgtest.request(nd.port, "GET",
                                               "/api/v1/users").status)
                    return seen[-1] == 401
                try:
                    # Twice the usual wait: it once timed out in CI on a
                    # loaded machine (the cause was not caught; the
                    # message below says more next time).
                    rgtest.wait_until(serves, scaled(20.0), 0.05,
                                      "the seed on node %d" % nd.id)
                except TimeoutError as e:
                    raise AssertionError(
                        "%s: last statuses %s; statuses %s; log:\n%s"
                        % (e, seen[-5:], c.statuses(), nd.log_tail(60)))
                self.check_enforced(nd.port)
            problems = c.stop()
            self.assertFalse(problems, problems)
        finally:
            c.cleanup()


if __name__ == "__main__":
    rgtest.main()
