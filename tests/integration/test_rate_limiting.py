#!/usr/bin/python3
"""rate-limiting (policy local) through the real binary: Kong's fixed
windows with their headers and 429, exact under concurrent load from many
connections on both workers (admitted = the limit, counted at the
upstream), limit_by consumer (with a consumer's own instance overriding
the route's), header, path and ip, one count per route for a global
instance, counts kept across a reload, hide_client_headers, error_code and
error_message, the seed's token-bucket tiers, and config errors naming
their paths."""

import os
import threading
import time
import unittest

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

FEATURES = rgtest.build_features()
FAILPOINTS = FEATURES is not None and "failpoints" in FEATURES
HOUR_GUARD = 20  # s before the hour's end a test waits for the next hour


def rl(**config):
    return {"name": "rate-limiting", "config": config}


def key_auth():
    return {"name": "key-auth", "config": {"key_names": ["apikey"]}}


def fresh_hour():
    """Wait out the end of the hour, so an hour window does not roll over
    in the middle of a test."""
    left = 3600 - time.time() % 3600
    if left < HOUR_GUARD:
        time.sleep(left + 0.5)


def fresh_second():
    """Start early in a second (for second windows)."""
    frac = time.time() % 1
    if frac > 0.5:
        time.sleep(1.02 - frac)


def thread_cpu(pid):
    """{thread name: ns on a CPU} of the workers of @pid (schedstat:
    exact, where utime counts 10 ms ticks)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue
        if name.startswith("rg-worker-"):
            out[name] = out.get(name, 0) + ns  # with threads it started
    return out


def doc(port):
    return gateway_doc(
        service("svc", port, routes=[
            route("hour", ["/hour"], strip_path=False,
                  plugins=[rl(hour=5, limit_by="header",
                              header_name="X-Tenant", policy="redis",
                              redis_host="localhost", redis_port=6379)]),
            route("windows", ["/windows"], strip_path=False,
                  plugins=[rl(minute=3, hour=5, day=100,
                              limit_by="header", header_name="X-Tenant")]),
            route("second", ["/second"], strip_path=False,
                  plugins=[rl(second=2, limit_by="header",
                              header_name="X-Tenant")]),
            route("load", ["/load"], strip_path=False,
                  plugins=[rl(hour=300, limit_by="header",
                              header_name="X-Tenant")]),
            route("hidden", ["/hidden"], strip_path=False,
                  plugins=[rl(hour=1, limit_by="header",
                              header_name="X-Tenant",
                              hide_client_headers=True, error_code=503,
                              error_message='slow "down"')]),
            route("consumers", ["/consumers"], strip_path=False,
                  plugins=[key_auth(), rl(hour=2)]),
            route("path", ["/path"], strip_path=False,
                  plugins=[rl(hour=2, limit_by="path", path="/path/counted")]),
            route("buckets", ["/buckets"], strip_path=False,
                  plugins=[rl(token_buckets=[
                      {"name": "api_key", "limit_by": "header",
                       "header_name": "X-API-Key", "rate": 1, "burst": 4},
                      {"name": "user", "limit_by": "header",
                       "header_name": "X-User", "rate": 1, "burst": 2},
                  ])]),
            route("reload", ["/reload"], strip_path=False,
                  plugins=[rl(hour=3, limit_by="header",
                              header_name="X-Tenant")]),
        ]),
        service("other", port, routes=[
            route("ra", ["/ra"], strip_path=False),
            route("rb", ["/rb"], strip_path=False),
        ]),
        plugins=[{"name": "rate-limiting", "service": "other",
                  "config": {"hour": 2, "limit_by": "header",
                             "header_name": "X-Tenant"}}],
        consumers=[
            {"username": "alice", "keyauth_credentials": [{"key": "ak"}],
             "plugins": [rl(hour=4)]},
            {"username": "bob", "keyauth_credentials": [{"key": "bk"}]},
        ])


class RateLimitingTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}

    @classmethod
    def gateway_config(cls, up):
        return doc(up.port)

    def tenant(self):
        return "t-%d" % time.monotonic_ns()

    def get(self, path, **headers):
        return self.gw.get(path, headers=headers)

    def statuses(self, path, n, **headers):
        return [self.get(path, **headers).status for _ in range(n)]

    def test_window_headers_and_429(self):
        fresh_hour()
        t = self.tenant()
        for i in range(5):
            r = self.get("/hour/count?key=" + t, **{"X-Tenant": t})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-RateLimit-Limit-Hour"), "5")
            self.assertEqual(r.header("X-RateLimit-Remaining-Hour"),
                             str(4 - i))
            self.assertEqual(r.header("RateLimit-Limit"), "5")
            self.assertEqual(r.header("RateLimit-Remaining"), str(4 - i))
            reset = int(r.header("RateLimit-Reset"))
            self.assertTrue(0 < reset <= 3600, reset)
        r = self.get("/hour/count?key=" + t, **{"X-Tenant": t})
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json(), {"message": "API rate limit exceeded"})
        self.assertEqual(r.header("X-RateLimit-Remaining-Hour"), "0")
        self.assertEqual(r.header("X-RateLimit-Limit-Type"), "hour")
        after = int(r.header("Retry-After"))
        self.assertTrue(0 < after <= 3600, after)
        self.assertEqual(self.up.hits(t), 5)
        # another identifier has its own count
        self.assertEqual(self.get("/hour/echo", **{"X-Tenant": t + "x"})
                         .status, 200)

    def test_upstream_headers_replaced(self):
        """The upstream's own rate-limit headers are replaced, not
        doubled (Kong sets them in header_filter)."""
        fresh_hour()
        t = self.tenant()
        r = self.get("/hour/set-headers?X-RateLimit-Limit-Hour=1"
                     "&RateLimit-Remaining=999&X-Other=kept",
                     **{"X-Tenant": t})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header_all("X-RateLimit-Limit-Hour"), ["5"])
        self.assertEqual(r.header_all("RateLimit-Remaining"), ["4"])
        self.assertEqual(r.header("X-Other"), "kept")

    def test_several_windows_refusal_gives_back(self):
        """minute 3 refuses the fourth; the hour and day windows it took
        from are given back, and RateLimit-* name the tightest."""
        fresh_hour()
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)
        t = self.tenant()
        for i in range(3):
            r = self.get("/windows/echo", **{"X-Tenant": t})
            self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("RateLimit-Limit"), "3")
        self.assertEqual(r.header("RateLimit-Remaining"), "0")
        self.assertEqual(r.header("X-RateLimit-Remaining-Day"), "97")
        r = self.get("/windows/echo", **{"X-Tenant": t})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("X-RateLimit-Limit-Type"), "minute")
        self.assertTrue(0 < int(r.header("Retry-After")) <= 60)
        # 3 admitted: the refused one was given back by hour and day
        self.assertEqual(r.header("X-RateLimit-Remaining-Hour"), "2")
        self.assertEqual(r.header("X-RateLimit-Remaining-Day"), "97")

    def test_second_window_rolls_over(self):
        fresh_second()
        t = self.tenant()
        self.assertEqual(self.statuses("/second/echo", 3, **{"X-Tenant": t}),
                         [200, 200, 429])
        r = self.get("/second/echo", **{"X-Tenant": t})
        self.assertEqual(r.header("Retry-After"), "1")
        time.sleep(1.05 - time.time() % 1)
        self.assertEqual(self.get("/second/echo", **{"X-Tenant": t}).status,
                         200)

    def test_exact_under_concurrent_load_on_both_workers(self):
        """16 connections x 40 requests against hour: 300 on two
        workers: exactly 300 admitted and counted upstream, both workers
        served."""
        fresh_hour()
        t = self.tenant()
        results, lock = [], threading.Lock()
        before = thread_cpu(self.gw.pid)
        self.assertEqual(len(before), 2, before)

        def client():
            conn = self.gw.http()
            mine = []
            try:
                for _ in range(40):
                    r = rgtest.http_request(conn, "GET", "/load/count?key=" + t,
                                            {"X-Tenant": t})
                    mine.append(r.status)
            finally:
                conn.close()
            with lock:
                results.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        after = thread_cpu(self.gw.pid)
        self.assertEqual(len(results), 640)
        self.assertEqual(results.count(200), 300)
        self.assertEqual(results.count(429), 340)
        self.assertEqual(self.up.hits(t), 300)
        for name in before:
            self.assertGreater(after[name], before[name],
                               "worker %s served nothing" % name)

    def test_hide_client_headers_error_code_and_message(self):
        fresh_hour()
        t = self.tenant()
        r = self.get("/hidden/echo", **{"X-Tenant": t})
        self.assertEqual(r.status, 200)
        self.assertFalse(any(h.lower().startswith(("x-ratelimit", "ratelimit"))
                             for h, _ in r.headers), r.headers)
        r = self.get("/hidden/echo", **{"X-Tenant": t})
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json(), {"message": 'slow "down"'})
        # Kong sends no Retry-After when hiding, nor the limit's type
        self.assertIsNone(r.header("Retry-After"))
        self.assertIsNone(r.header("X-RateLimit-Limit-Type"))
        self.assertIsNone(r.header("X-RateLimit-Remaining-Hour"))

    def test_consumer_counts_and_consumer_override(self):
        """limit_by consumer (the default): each consumer its own count;
        alice's own instance (hour 4) overrides the route's (hour 2)."""
        fresh_hour()
        key = "/consumers/echo?n=%d" % time.monotonic_ns()
        bob = self.statuses(key, 3, apikey="bk")
        self.assertEqual(bob, [200, 200, 429])
        alice = [self.get(key, apikey="ak") for _ in range(5)]
        self.assertEqual([r.status for r in alice], [200] * 4 + [429])
        self.assertEqual(alice[0].header("X-RateLimit-Limit-Hour"), "4")
        # bob is still refused, alice's count did not touch his
        self.assertEqual(self.get(key, apikey="bk").status, 429)

    def test_limit_by_path(self):
        fresh_hour()
        self.assertEqual(self.statuses("/path/counted", 3), [200, 200, 429])
        # another path falls back to the client's address: its own count
        self.assertEqual(self.get("/path/other").status, 200)

    def test_global_instance_counts_each_route(self):
        """A service's instance counts each of its routes apart (Kong's
        local policy keys the count by route and service)."""
        fresh_hour()
        t = self.tenant()
        h = {"X-Tenant": t}
        self.assertEqual(self.statuses("/ra/echo", 3, **h), [200, 200, 429])
        self.assertEqual(self.statuses("/rb/echo", 3, **h), [200, 200, 429])

    def test_token_buckets(self):
        """The seed's tiers: each bucket refuses on its own and names
        itself; a request without the bucket's identifier skips it."""
        k, u = self.tenant(), self.tenant()
        # user: burst 2 (the api_key bucket has 4)
        st = self.statuses("/buckets/echo", 3, **{"X-API-Key": k, "X-User": u})
        self.assertEqual(st, [200, 200, 429])
        r = self.get("/buckets/echo", **{"X-API-Key": k, "X-User": u})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("X-RateLimit-Limit-Type"), "user")
        self.assertEqual(r.header("Retry-After"), "1")
        # the refusals by user gave back api_key's tokens: 2 left there
        st = self.statuses("/buckets/echo", 3, **{"X-API-Key": k})
        self.assertEqual(st, [200, 200, 429])
        r = self.get("/buckets/echo", **{"X-API-Key": k})
        self.assertEqual(r.header("X-RateLimit-Limit-Type"), "api_key")
        # neither identifier: no bucket applies
        self.assertEqual(self.statuses("/buckets/echo", 6), [200] * 6)
        # a second later one token is back
        time.sleep(1.1)
        self.assertEqual(self.statuses("/buckets/echo", 2, **{"X-API-Key": k}),
                         [200, 429])


class RateLimitingReloadTest(GatewayTestCase):
    """Counts survive a reload (they are keyed by route and identifier,
    not by the config generation)."""

    @classmethod
    def gateway_config(cls, up):
        return doc(up.port)

    def test_counts_survive_reload(self):
        fresh_hour()
        t = "reload-%d" % time.monotonic_ns()
        h = {"X-Tenant": t}
        for _ in range(2):
            self.assertEqual(self.gw.get("/reload/echo", headers=h).status,
                             200)
        d = doc(self.up.port)
        d["services"][1]["routes"].append(route("rc", ["/rc"]))
        self.gw.reload(d)
        self.assertEqual(self.gw.get("/rc/echo").status, 200)  # reloaded
        r = self.gw.get("/reload/echo", headers=h)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-RateLimit-Remaining-Hour"), "0")
        self.assertEqual(self.gw.get("/reload/echo", headers=h).status, 429)


@unittest.skipUnless(FAILPOINTS, "not a failpoint build (configure "
                                  "--enable-failpoints)")
class RateLimitingFaultTolerantTest(GatewayTestCase):
    """A counter table that cannot count (the ratelimit_busy failpoint):
    fault_tolerant (the default) proxies without headers, as Kong with its
    store down; fault_tolerant false answers 500."""
    GATEWAY_ENV = {"RAFTGATE_FAILPOINTS": "ratelimit_busy=error"}

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("tolerant", ["/tolerant"], plugins=[rl(second=1)]),
            route("strict", ["/strict"], plugins=[
                rl(second=1, fault_tolerant=False)]),
            route("bucket", ["/bucket"], plugins=[rl(token_buckets=[
                {"name": "ip", "limit_by": "ip", "rate": 1, "burst": 1}],
                fault_tolerant=False)]),
        ]))

    def test_fault_tolerant(self):
        for _ in range(3):
            r = self.gw.get("/tolerant/echo")
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.header("X-RateLimit-Limit-Second"))
        self.assertEqual(self.gw.get("/strict/echo").status, 500)
        self.assertEqual(self.gw.get("/bucket/echo").status, 500)


class RateLimitingConfigErrorsTest(GatewayTestCase):
    @classmethod
    def gateway_config(cls, up):
        return doc(up.port)

    def test_errors_name_the_path(self):
        def d(**config):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[rl(**config)])]))
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            (d(minute=0), pre + ".minute: must be an integer in 1.."),
            (d(minute="many"), pre + ".minute: must be an integer"),
            (d(minute=5, limit_by="bogus"), pre + ".limit_by: must be one of"),
            (d(minute=5, limit_by="consumer-group"),
             pre + ".limit_by: consumer-group: raftgate has no consumer "
                   "groups"),
            (d(minute=5, limit_by="header"),
             pre + ": limit_by header needs header_name"),
            (d(minute=5, limit_by="path", path="nope"),
             pre + ".path: must start with \"/\""),
            (d(minute=50, hour=10),
             pre + ": the limit for hour (10) cannot be lower than the "
                   "limit for minute (50)"),
            (d(policy="local"), pre + ": needs at least one of second"),
            (d(minute=5, error_code=200), pre + ".error_code: must be an "
                                                "integer in 400..599"),
            (d(minute=5, bogus=1), pre + ".bogus: unknown key"),
            (d(token_buckets=[{"name": "x"}]),
             pre + ".token_buckets[0]: a token bucket needs name and rate"),
            (d(token_buckets=[{"name": "x", "rate": 0}]),
             pre + ".token_buckets[0].rate: must be an integer in 1.."),
            (d(token_buckets=[{"name": "x", "rate": 1},
                              {"name": "x", "rate": 2}]),
             pre + ".token_buckets[1]: name x: duplicate"),
            (d(token_buckets=[{"name": "minute", "rate": 1}]),
             pre + ".token_buckets[0]: name minute: is a window's name"),
            (d(minute=5, redis_host=["a"]),
             pre + ".redis_host: must be a scalar"),
            (d(token_buckets=[{"name": "x", "rate": 1,
                               "limit_by": "header"}]),
             pre + ".token_buckets[0]: limit_by header needs header_name"),
        ]
        for doc_, msg in cases:
            rc, out = self.gw.check_config(doc_)
            self.assertNotEqual(rc, 0, msg)
            self.assertIn(msg, out)
        # a bad reload keeps the running config
        self.gw.reload(cases[0][0], wait=False)
        rgtest.wait_until(lambda: "minute: must be an integer" in
                          self.gw.error_log(), what="the reload's error")
        self.assertEqual(self.gw.get("/hour/echo",
                                     headers={"X-Tenant": "e"}).status, 200)


if __name__ == "__main__":
    rgtest.main()
