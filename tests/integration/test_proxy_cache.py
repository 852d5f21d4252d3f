#!/usr/bin/python3
"""proxy-cache through the real binary (2 workers): miss then hit (the
upstream is not asked again), TTL expiry and Refresh, Cache-Control
no-store/private/max-age/Expires with cache_control, vary headers, query
parameters and consumer, non-GET and Authorization bypass, the admin
purge of one key and of all reaching both workers, stale on an upstream
that is down or times out, the fallback when nothing is cached, the
memory cap bound, and config errors naming their paths."""

import http.server
import json
import socket
import threading
import time
import urllib.parse
import urllib.request

import rgcluster
import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service


class CountingUpstream:
    """An HTTP/1.1 upstream counting requests per target. The query
    drives the answer: h_<Name>=v adds a header, ct= the Content-Type
    (application/json by default), status=, size= (a body padded to that
    many bytes), sleep= (ms before answering). The body is JSON
    {"target", "n"} (n: this target's count)."""

    def __init__(self):
        self.counts = {}
        self.conns = set()
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with outer.lock:
                    outer.conns.add(self.connection)

            def finish(self):
                with outer.lock:
                    outer.conns.discard(self.connection)
                super().finish()

            def do_GET(self):
                q = dict(urllib.parse.parse_qsl(
                    urllib.parse.urlsplit(self.path).query))
                with outer.lock:
                    n = outer.counts.get(self.path, 0) + 1
                    outer.counts[self.path] = n
                if "sleep" in q:
                    time.sleep(int(q["sleep"]) / 1000.0)
                body = json.dumps({"target": self.path, "n": n})
                if "size" in q:
                    body = body + " " * max(0, int(q["size"]) - len(body))
                body = body.encode()
                self.send_response(int(q.get("status", "200")))
                self.send_header("Content-Type",
                                 q.get("ct", "application/json"))
                for k, v in q.items():
                    if k.startswith("h_"):
                        self.send_header(k[2:], v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET
            do_HEAD = do_GET
            do_DELETE = do_GET

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    def hits(self, target):
        with self.lock:
            return self.counts.get(target, 0)

    def stop(self):
        """Stop listening and cut the kept-alive connections."""
        self.srv.shutdown()
        self.srv.server_close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def pc(**config):
    c = {"strategy": "memory"}
    c.update(config)
    return [{"name": "proxy-cache", "config": c}]


def uniq(prefix):
    return "%s-%d" % (prefix, time.monotonic_ns())


class ProxyCacheTest(GatewayTestCase):
    GATEWAY_NODE = {"proxy": {"workers": 2}}

    @classmethod
    def setUpClass(cls):
        cls.cu = CountingUpstream()
        cls.flaky = CountingUpstream()
        cls.dead = rgtest.DeadPort()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.cu.stop()
            if cls.flaky is not None:
                cls.flaky.stop()
            cls.dead.close()

    @classmethod
    def gateway_config(cls, up):
        p = cls.cu.port
        return gateway_doc(
            service("svc", p, routes=[
                route("c", ["/c"], strip_path=False,
                      plugins=pc(cache_ttl=2, vary_headers=["X-Lang"])),
                route("q", ["/q"], strip_path=False,
                      plugins=pc(vary_query_params=["a"])),
                route("cc", ["/cc"], strip_path=False,
                      plugins=pc(cache_control=True)),
                route("post", ["/post"], strip_path=False,
                      plugins=pc(request_method=["GET", "POST"])),
                route("auth", ["/auth"], strip_path=False,
                      plugins=pc() + [{"name": "key-auth"}]),
                route("noauth", ["/noauth"], strip_path=False,
                      plugins=pc()),
                route("mem", ["/mem"], strip_path=False,
                      plugins=pc(memory_cap=4096)),
                route("xf", ["/xf"], strip_path=False,
                      plugins=pc() + [{"name": "response-transformer",
                                       "config": {"remove": {
                                           "headers": ["X-Secret"]}}}]),
            ]),
            service("big", up.port, routes=[
                route("big", ["/big"], strip_path=False,
                      plugins=pc(content_type=["application/octet-stream"])),
            ]),
            service("flaky", cls.flaky.port, routes=[
                route("stale", ["/stale"], strip_path=False,
                      plugins=pc(cache_ttl=1, stale_if_error=60)),
            ]),
            service("dead", cls.dead.port, routes=[
                route("fb", ["/fb"], strip_path=False,
                      plugins=pc(fallback={
                          "status": 200,
                          "headers": {"Content-Type": "text/plain",
                                      "X-Fallback": "yes"},
                          "body": "try later"})),
                route("nofb", ["/nofb"], strip_path=False,
                      plugins=pc(stale_if_error=60)),
            ]),
            consumers=[
                {"username": "alice", "keyauth_credentials": [
                    {"key": "alice-key"}]},
                {"username": "bob", "keyauth_credentials": [
                    {"key": "bob-key"}]},
            ])

    # -- helpers ---------------------------------------------------------
    def get(self, target, headers=None, method="GET"):
        return rgtest.request(self.gw.port, method, target, headers)

    def body_n(self, r):
        return json.loads(r.body.decode())["n"]

    def admin(self, method, path):
        return rgtest.request(self.gw.admin_port, method, path)

    def until_both_workers(self, target, want=2, tries=400):
        """Fresh connections until @want upstream hits: every worker
        has missed once, so each holds an entry."""
        for _ in range(tries):
            r = self.get(target)
            self.assertEqual(r.status, 200, r)
            if self.cu_of(target).hits(target) >= want:
                return
        self.fail("%d fresh connections did not reach both workers "
                  "(upstream hits %d)" % (tries,
                                          self.cu_of(target).hits(target)))

    def cu_of(self, target):
        return self.flaky if target.startswith("/stale") else self.cu

    # -- tests -----------------------------------------------------------
    def test_miss_then_hit_on_the_same_worker(self):
        t = ("/c/" + uniq("hit") + "?h_X-Kept=1&h_X-Hop=2"
             "&h_Connection=X-Hop")
        c = self.gw.http()
        r1 = rgtest.http_request(c, "GET", t)
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.header("X-Cache-Status"), "Miss")
        key = r1.header("X-Cache-Key")
        self.assertRegex(key, "^[0-9a-f]{16}$")
        r2 = rgtest.http_request(c, "GET", t)
        self.assertEqual(r2.header("X-Cache-Status"), "Hit", r2)
        self.assertEqual(r2.header("X-Cache-Key"), key)
        self.assertEqual(r2.header("Content-Type"), "application/json")
        self.assertEqual(r2.header("X-Kept"), "1")
        self.assertIsNone(r2.header("X-Hop"))  # named in Connection
        self.assertEqual(r2.body, r1.body)
        self.assertIsNotNone(r2.header("Age"))
        self.assertIsNotNone(r2.header("X-Request-ID"))
        self.assertEqual(self.cu.hits(t), 1)
        c.close()
        # Fresh connections: at most one more miss (the other worker).
        for _ in range(10):
            r = self.get(t)
            self.assertEqual(r.status, 200)
            self.assertIn(r.header("X-Cache-Status"), ("Hit", "Miss"))
        self.assertLessEqual(self.cu.hits(t), 2)

    def test_a_header_hidden_by_response_transformer_is_not_stored(self):
        """response-transformer (priority 800) removes X-Secret before
        proxy-cache (100) stores the answer: a hit never brings it
        back."""
        t = "/xf/" + uniq("xf") + "?h_X-Secret=s&h_X-Kept=1"
        c = self.gw.http()
        r1 = rgtest.http_request(c, "GET", t)
        r2 = rgtest.http_request(c, "GET", t)
        c.close()
        self.assertEqual(r1.header("X-Cache-Status"), "Miss")
        self.assertEqual(r2.header("X-Cache-Status"), "Hit", r2)
        for r in (r1, r2):
            self.assertIsNone(r.header("X-Secret"), r)
            self.assertEqual(r.header("X-Kept"), "1")

    def test_a_response_past_one_mib_is_cached(self):
        """The cache buffers up to its own cap (16 MiB), not the chain's
        1 MiB default: a 2 MB answer is served and stored."""
        t = "/big/bytes/2000000?u=" + uniq("big")
        c = self.gw.http()
        r1 = rgtest.http_request(c, "GET", t)
        r2 = rgtest.http_request(c, "GET", t)
        c.close()
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(len(r1.body), 2000000)
        self.assertEqual(r1.header("X-Cache-Status"), "Miss")
        self.assertEqual(r2.header("X-Cache-Status"), "Hit")
        self.assertEqual(r2.body, r1.body)

    def test_ttl_expiry_refreshes(self):
        t = "/c/" + uniq("ttl")
        c = self.gw.http()
        self.assertEqual(rgtest.http_request(c, "GET", t)
                         .header("X-Cache-Status"), "Miss")
        self.assertEqual(rgtest.http_request(c, "GET", t)
                         .header("X-Cache-Status"), "Hit")
        time.sleep(2.2)
        r = rgtest.http_request(c, "GET", t)
        # Kept past its TTL (storage), so the new fetch is a Refresh.
        self.assertIn(r.header("X-Cache-Status"), ("Miss", "Refresh"))
        self.assertEqual(self.body_n(r), 2)
        r = rgtest.http_request(c, "GET", t)
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual(self.body_n(r), 2)
        c.close()

    def test_vary_headers(self):
        t = "/c/" + uniq("vary")
        c = self.gw.http()
        en = rgtest.http_request(c, "GET", t, {"X-Lang": "en"})
        fr = rgtest.http_request(c, "GET", t, {"X-Lang": "fr"})
        self.assertEqual(fr.header("X-Cache-Status"), "Miss")
        self.assertNotEqual(en.header("X-Cache-Key"),
                            fr.header("X-Cache-Key"))
        r = rgtest.http_request(c, "GET", t, {"X-Lang": "en"})
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual(self.cu.hits(t), 2)
        c.close()

    def test_vary_query_params(self):
        base = "/q/" + uniq("query")
        c = self.gw.http()
        r = rgtest.http_request(c, "GET", base + "?a=1&b=1")
        self.assertEqual(r.header("X-Cache-Status"), "Miss")
        # b is not part of the key: a hit with the first body.
        r = rgtest.http_request(c, "GET", base + "?b=2&a=1")
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual(json.loads(r.body)["target"], base + "?a=1&b=1")
        r = rgtest.http_request(c, "GET", base + "?a=2")
        self.assertEqual(r.header("X-Cache-Status"), "Miss")
        c.close()

    def test_query_is_part_of_the_key_by_default(self):
        base = "/c/" + uniq("q")
        c = self.gw.http()
        self.assertEqual(rgtest.http_request(c, "GET", base + "?x=1")
                         .header("X-Cache-Status"), "Miss")
        self.assertEqual(rgtest.http_request(c, "GET", base + "?x=2")
                         .header("X-Cache-Status"), "Miss")
        self.assertEqual(rgtest.http_request(c, "GET", base + "?x=1")
                         .header("X-Cache-Status"), "Hit")
        # Sorted as Kong does: the order of the arguments does not count.
        self.assertEqual(rgtest.http_request(c, "GET", base + "?b=2&a=1")
                         .header("X-Cache-Status"), "Miss")
        r = rgtest.http_request(c, "GET", base + "?a=1&b=2")
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual(json.loads(r.body)["target"], base + "?b=2&a=1")
        c.close()

    def test_cache_control(self):
        c = self.gw.http()

        def twice(t, headers=None):
            a = rgtest.http_request(c, "GET", t, headers)
            b = rgtest.http_request(c, "GET", t, headers)
            return a, b

        # No max-age and no Expires: with cache_control, not cached.
        t = "/cc/" + uniq("none")
        a, b = twice(t)
        self.assertEqual(a.header("X-Cache-Status"), "Bypass")
        self.assertEqual(b.header("X-Cache-Status"), "Bypass")
        self.assertEqual(self.cu.hits(t), 2)
        # max-age=1: cached, then expired.
        t = "/cc/" + uniq("maxage") + "?h_Cache-Control=max-age%3D1"
        a, b = twice(t)
        self.assertEqual(a.header("X-Cache-Status"), "Miss")
        self.assertEqual(b.header("X-Cache-Status"), "Hit")
        time.sleep(1.2)
        r = rgtest.http_request(c, "GET", t)
        self.assertNotEqual(r.header("X-Cache-Status"), "Hit")
        self.assertEqual(self.cu.hits(t), 2)
        for cc in ("no-store, max-age=60", "private, max-age=60",
                   "no-cache, max-age=60"):
            t = ("/cc/" + uniq("cc") + "?h_Cache-Control="
                 + urllib.parse.quote(cc))
            a, b = twice(t)
            self.assertEqual(a.header("X-Cache-Status"), "Bypass", cc)
            self.assertEqual(b.header("X-Cache-Status"), "Bypass", cc)
            self.assertEqual(self.cu.hits(t), 2, cc)
        # Expires in the future.
        exp = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                            time.gmtime(time.time() + 60))
        t = "/cc/" + uniq("exp") + "?h_Expires=" + urllib.parse.quote(exp)
        a, b = twice(t)
        self.assertEqual(b.header("X-Cache-Status"), "Hit")
        # A request with no-cache (or no-store) goes upstream: Bypass.
        r = rgtest.http_request(c, "GET", t, {"Cache-Control": "no-cache"})
        self.assertEqual(r.header("X-Cache-Status"), "Bypass")
        self.assertEqual(self.cu.hits(t), 2)
        # A request's max-age=0: the entry is too old for it (Refresh).
        r = rgtest.http_request(c, "GET", t, {"Cache-Control": "max-age=0"})
        self.assertEqual(r.header("X-Cache-Status"), "Refresh")
        self.assertEqual(self.cu.hits(t), 3)
        c.close()

    def test_non_get_and_content_type_bypass(self):
        t = "/c/" + uniq("post")
        r = self.get(t, method="POST")
        self.assertEqual(r.header("X-Cache-Status"), "Bypass")
        r = self.get(t, method="DELETE")
        self.assertEqual(r.header("X-Cache-Status"), "Bypass")
        self.assertEqual(self.cu.hits(t), 2)
        # Listed method, unlisted Content-Type or status: not stored.
        c = self.gw.http()
        for t in ("/c/" + uniq("ct") + "?ct=text/html",
                  "/c/" + uniq("st") + "?status=500"):
            a = rgtest.http_request(c, "GET", t)
            b = rgtest.http_request(c, "GET", t)
            self.assertEqual(a.header("X-Cache-Status"), "Bypass", t)
            self.assertEqual(b.header("X-Cache-Status"), "Bypass", t)
            self.assertEqual(self.cu.hits(t), 2, t)
        # 404 is listed by default (Kong's 200, 301, 404).
        t = "/c/" + uniq("nf") + "?status=404"
        rgtest.http_request(c, "GET", t)
        self.assertEqual(rgtest.http_request(c, "GET", t).status, 404)
        self.assertEqual(self.cu.hits(t), 1)
        # POST cached where listed, separately from GET.
        t = "/post/" + uniq("p")
        self.assertEqual(rgtest.http_request(c, "POST", t, body=b"")
                         .header("X-Cache-Status"), "Miss")
        self.assertEqual(rgtest.http_request(c, "POST", t, body=b"")
                         .header("X-Cache-Status"), "Hit")
        self.assertEqual(rgtest.http_request(c, "GET", t)
                         .header("X-Cache-Status"), "Miss")
        c.close()

    def test_vary_by_consumer_and_authorization(self):
        t = "/auth/" + uniq("who")
        c = self.gw.http()
        a1 = rgtest.http_request(c, "GET", t, {"apikey": "alice-key"})
        self.assertEqual(a1.header("X-Cache-Status"), "Miss")
        a2 = rgtest.http_request(c, "GET", t, {"apikey": "alice-key"})
        self.assertEqual(a2.header("X-Cache-Status"), "Hit")
        b1 = rgtest.http_request(c, "GET", t, {"apikey": "bob-key"})
        self.assertEqual(b1.header("X-Cache-Status"), "Miss")
        self.assertNotEqual(a1.header("X-Cache-Key"),
                            b1.header("X-Cache-Key"))
        # Not authenticated: refused before the cache (no hit leaks).
        self.assertEqual(rgtest.http_request(c, "GET", t).status, 401)
        # Authorization with a consumer identified: cached per consumer.
        r = rgtest.http_request(c, "GET", t, {"apikey": "alice-key",
                                              "Authorization": "Basic x"})
        self.assertEqual(r.header("X-Cache-Status"), "Hit")
        # Authorization without a consumer: Bypass.
        t = "/noauth/" + uniq("authz")
        for _ in range(2):
            r = rgtest.http_request(c, "GET", t,
                                    {"Authorization": "Bearer abc"})
            self.assertEqual(r.header("X-Cache-Status"), "Bypass")
        self.assertEqual(self.cu.hits(t), 2)
        c.close()

    def test_purge_one_and_all_reach_both_workers(self):
        t1 = "/c/" + uniq("purge1")
        t2 = "/c/" + uniq("purge2")
        self.until_both_workers(t1)
        self.until_both_workers(t2)
        key1 = self.get(t1).header("X-Cache-Key")
        key2 = self.get(t2).header("X-Cache-Key")
        r = self.admin("GET", "/proxy-cache/" + key1)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["key"], key1)
        self.assertEqual(doc["status"], 200)
        self.assertEqual(doc["workers"], 2)
        r = self.admin("DELETE", "/proxy-cache/" + key1)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.admin("GET", "/proxy-cache/" + key1).status,
                         404)
        self.assertEqual(self.admin("DELETE", "/proxy-cache/" + key1).status,
                         404)
        # No worker serves the purged entry: the next answers on fresh
        # connections carry upstream counts past the two first ones.
        for _ in range(20):
            r = self.get(t1)
            self.assertGreater(self.body_n(r), 2, r)
        # t2 is untouched in both workers.
        for _ in range(20):
            r = self.get(t2)
            self.assertEqual(r.header("X-Cache-Status"), "Hit")
            self.assertLessEqual(self.body_n(r), 2)
        self.assertEqual(self.admin("GET", "/proxy-cache/" + key2).json()
                         ["workers"], 2)
        # An empty key (a script's unset variable) purges nothing.
        for empty in ("/proxy-cache/", "/proxy-cache//"):
            self.assertEqual(self.admin("DELETE", empty).status, 404)
        self.assertEqual(self.admin("GET", "/proxy-cache/" + key2).json()
                         ["workers"], 2)
        r = self.admin("DELETE", "/proxy-cache")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.admin("GET", "/proxy-cache/" + key2).status,
                         404)
        for _ in range(20):
            r = self.get(t2)
            self.assertGreater(self.body_n(r), 2, r)
        self.assertEqual(self.admin("GET", "/proxy-cache/zzz").status, 404)

    def test_stale_when_the_upstream_is_down(self):
        t = "/stale/" + uniq("down")
        self.until_both_workers(t)
        time.sleep(1.2)  # past the TTL of 1 s
        self.flaky.stop()
        type(self).flaky = None
        for _ in range(20):
            r = self.get(t)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Cache-Status"), "Stale")
            self.assertIsNotNone(r.header("Age"))
            self.assertEqual(r.header("Content-Type"), "application/json")
            self.assertLessEqual(self.body_n(r), 2)
        # Nothing cached for that target: the gateway's 502 as it is.
        r = self.get("/stale/" + uniq("never"))
        self.assertJsonError(r, 502)

    def test_fallback_when_nothing_is_cached(self):
        r = self.get("/fb/" + uniq("fb"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"try later")
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.header("X-Fallback"), "yes")
        self.assertEqual(r.header("X-Cache-Status"), "Fallback")
        # Without a fallback and nothing stale: the 502.
        self.assertJsonError(self.get("/nofb/" + uniq("nofb")), 502)

    def test_hits_allocate_nothing(self):
        """A hit is served from the entry: no malloc (the worker
        threads' allocation count, /debug/allocs, stays put over 300
        hits on one keep-alive connection after a warm-up)."""
        url = "http://127.0.0.1:%d/debug/allocs" % self.gw.status_port

        def allocs():
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())["worker_allocations"]
        t = "/c/" + uniq("noalloc")
        raw = ("GET %s HTTP/1.1\r\nHost: t\r\nX-Lang: en\r\n\r\n"
               % t).encode()
        with self.gw.connect() as c:
            for _ in range(50):
                c.send(raw)
                self.assertEqual(c.read_response().status, 200)
            before = allocs()
            for _ in range(300):
                c.send(raw)
                r = c.read_response()
                self.assertEqual(r.header("X-Cache-Status"), "Hit")
            self.assertEqual(allocs(), before)

    def test_memory_cap_bounds_the_store(self):
        c = self.gw.http()  # one connection: one worker's store
        base = "/mem/" + uniq("mem")
        targets = ["%s/%d?size=1000" % (base, i) for i in range(8)]
        for t in targets:
            self.assertEqual(rgtest.http_request(c, "GET", t)
                             .header("X-Cache-Status"), "Miss")
        # 4096 bytes hold three entries of ~1.2 KiB: the last is a hit,
        # the first was evicted long ago.
        self.assertEqual(rgtest.http_request(c, "GET", targets[-1])
                         .header("X-Cache-Status"), "Hit")
        self.assertEqual(rgtest.http_request(c, "GET", targets[0])
                         .header("X-Cache-Status"), "Miss")
        self.assertEqual(self.cu.hits(targets[0]), 2)
        # A body larger than the cap is served, never stored.
        t = base + "/big?size=8000"
        for _ in range(2):
            r = rgtest.http_request(c, "GET", t)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), 8000)
            self.assertEqual(r.header("X-Cache-Status"), "Miss")
        self.assertEqual(self.cu.hits(t), 2)
        c.close()


class SlowUpstreamTest(GatewayTestCase):
    """Stale on a timeout: one worker, an upstream that answers at once
    and then, for the same key, slower than the read timeout."""
    GATEWAY_NODE = {"proxy": {"workers": 1}}

    @classmethod
    def setUpClass(cls):
        cls.cu = CountingUpstream()
        cls.slow = {"on": False}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.cu.stop()

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", cls.cu.port, routes=[
            # The key ignores the query (vary on a parameter not sent),
            # so ?sleep= reaches the upstream under the same key.
            route("slow", ["/slow"], strip_path=False,
                  plugins=pc(cache_ttl=1, stale_if_error=60,
                             vary_query_params=["none"])),
        ], read_timeout=300, retries=0))

    def test_stale_on_timeout(self):
        t = "/slow/" + uniq("t")
        r = rgtest.request(self.gw.port, "GET", t)
        self.assertEqual(r.header("X-Cache-Status"), "Miss")
        time.sleep(1.2)
        r = rgtest.request(self.gw.port, "GET", t + "?sleep=1000")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache-Status"), "Stale")
        self.assertEqual(json.loads(r.body)["n"], 1)


class ClusterPurgeTest(rgcluster.ClusterTestCase):
    """In a three-node cluster a purge goes through the Raft log: asked of
    any node (a follower forwards it to the leader), it empties that key,
    or everything, on every node. Lookups answer for the node asked."""
    SHARED = True

    @classmethod
    def seed(cls, up):
        return gateway_doc(service("seed", up.port, routes=[
            route("seed", ["/seed"], strip_path=False, plugins=pc())]))

    H = {"Host": "api.test"}  # the key holds the Host: one for all

    def fill(self, t):
        """A fresh entry for @t on every node; its X-Cache-Key."""
        nodes = self.cluster.alive()
        for nd in nodes:
            rgtest.wait_until(lambda: nd.proxy(t, headers=self.H)
                              .header("X-Cache-Status") == "Hit",
                              rgcluster.scaled(5.0), 0.05,
                              "a hit on node %s" % nd.id)
        return nodes[0].proxy(t, headers=self.H).header("X-Cache-Key")

    def assert_gone_everywhere(self, key):
        for nd in self.cluster.alive():
            rgtest.wait_until(lambda: nd.admin("GET", "/proxy-cache/" + key)
                              .status == 404, rgcluster.scaled(5.0), 0.05,
                              "the purge reached node %s" % nd.id)

    def test_a_purge_on_a_follower_reaches_every_node(self):
        c = self.cluster
        c.wait_served("/seed/echo")
        t = "/seed/count?key=" + uniq("cl")
        key = self.fill(t)
        self.assertEqual(self.up.hits(t.split("=", 1)[1]), len(c.alive()))
        follower = c.followers()[0]
        r = follower.admin("DELETE", "/proxy-cache/" + key)
        self.assertEqual(r.status, 204, r)
        self.assert_gone_everywhere(key)
        for nd in c.alive():
            self.assertEqual(nd.proxy(t, headers=self.H)
                             .header("X-Cache-Status"), "Miss", nd.id)

    def test_purge_all_on_the_leader_reaches_every_node(self):
        c = self.cluster
        c.wait_served("/seed/echo")
        t = "/seed/count?key=" + uniq("all")
        key = self.fill(t)
        r = c.wait_leader().admin("DELETE", "/proxy-cache")
        self.assertEqual(r.status, 204, r)
        self.assert_gone_everywhere(key)

    def test_bad_keys_purge_nothing(self):
        c = self.cluster
        c.wait_served("/seed/echo")
        t = "/seed/count?key=" + uniq("bad")
        key = self.fill(t)
        follower = c.followers()[0]
        for bad in ("/proxy-cache/", "/proxy-cache/xyz",
                    "/proxy-cache/" + key + "0"):
            self.assertEqual(follower.admin("DELETE", bad).status, 404, bad)
        for nd in c.alive():
            self.assertEqual(nd.admin("GET", "/proxy-cache/" + key).status,
                             200, nd.id)


class ProxyCacheConfigErrorsTest(GatewayTestCase):

    @classmethod
    def gateway_config(cls, up):
        return gateway_doc(service("svc", up.port, routes=[
            route("r", ["/"], plugins=pc())]))

    def test_check_names_the_path(self):
        def doc(config):
            return gateway_doc(service("svc", self.up.port, routes=[
                route("r", ["/"], plugins=[{"name": "proxy-cache",
                                            "config": config}])]))
        pre = "services[0].routes[0].plugins[0].config"
        cases = [
            ({}, pre + ": strategy: required field missing"),
            ({"strategy": "redis"}, pre + ".strategy: must be memory"),
            ({"strategy": "memory", "cache_ttl": 0},
             pre + ".cache_ttl: must be an integer in 1.."),
            ({"strategy": "memory", "response_code": [200, 99]},
             pre + ".response_code[1]: must be an integer in 200..599"),
            ({"strategy": "memory", "response_code": [204]},
             pre + ".response_code[0]: 204 and 304 are not cached"),
            ({"strategy": "memory", "request_method": ["get"]},
             pre + ".request_method[0]: must be an HTTP method"),
            ({"strategy": "memory", "content_type": ["json"]},
             pre + ".content_type: json: must be type/subtype"),
            ({"strategy": "memory", "vary_headers": ["bad header"]},
             pre + ".vary_headers[0]"),
            ({"strategy": "memory", "memory_cap": 10},
             pre + ".memory_cap: must be an integer in 1024.."),
            ({"strategy": "memory", "stale_if_error": -1},
             pre + ".stale_if_error: must be an integer in 0.."),
            ({"strategy": "memory", "fallback": {"body": "x"}},
             pre + ".fallback: needs a status"),
            ({"strategy": "memory", "fallback": {"status": 304}},
             pre + ".fallback.status: must not be 204 or 304"),
            ({"strategy": "memory",
              "fallback": {"status": 503,
                           "headers": {"Content-Length": "3"}}},
             pre + ".fallback.headers.Content-Length: the gateway writes"),
            ({"strategy": "memory", "memory": {"size": 1}},
             pre + ".memory.size: unknown key"),
            ({"strategy": "memory", "colour": 1},
             pre + ".colour: unknown key"),
        ]
        for d, msg in cases:
            rc, out = self.gw.check_config(doc(d))
            self.assertNotEqual(rc, 0, (d, out))
            self.assertIn(msg, out, d)
        rc, out = self.gw.check_config(doc({
            "strategy": "memory", "memory": {"dictionary_name": "kong"},
            "response_headers": {"age": False, "X-Cache-Status": True,
                                 "X-Cache-Key": True},
            "storage_ttl": None, "vary_by_consumer": False,
            "content_type": ["application/json; charset=utf-8", "text/*"],
        }))
        self.assertEqual(rc, 0, out)

    def test_bad_config_leaves_the_running_one(self):
        bad = gateway_doc(service("svc", self.up.port, routes=[
            route("r", ["/"], plugins=pc(cache_ttl=-5))]))
        self.gw.reload(bad, wait=False)
        self.gw.wait_log("cache_ttl")
        r = rgtest.request(self.gw.port, "GET", "/x")
        self.assertEqual(r.status, 200)
        self.assertIn(r.header("X-Cache-Status"), ("Miss", "Hit"))


if __name__ == "__main__":
    rgtest.main()
