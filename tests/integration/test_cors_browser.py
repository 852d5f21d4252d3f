#!/usr/bin/python3
"""cors in a real browser: headless Chromium (Debian's `chromium`) loads a
page from one loopback origin (http://127.0.0.1:A) whose fetch() calls go
to the gateway on another (http://127.0.0.1:B), and an iframe from a third
origin (http://127.0.0.1:C) that the plugin does not allow. What the
browser does with the gateway's answers is the test: a simple GET is
readable, an exposed header is readable and another one hidden, a
preflighted PUT goes through with the preflight answered at the gateway
(the upstream never sees it), a preflight the config refuses (method,
header) stops the request before it is sent, a credentialed fetch works
only where the plugin sends Access-Control-Allow-Credentials (never with
`*`: with credentials: true and any origin the plugin echoes the origin),
and a disallowed origin's fetches reject with a TypeError while, as
cors.c documents, its simple requests are still proxied (the plugin
leaves the blocking to the browser) and its preflighted ones never are.

How the page reports: every outcome (status, the headers visible to JS,
the body, or the error a CORS block raises) is written into the page's
DOM for a human and POSTed as JSON to the page's own server, which the
test waits on with a deadline; then the browser is killed by PID (its
process group). No --dump-dom or virtual time: the report is an event,
and the iframe's results come back the same way.

Skipped (exit 77, automake's SKIP) when no chromium is installed, except
under CI=true, where it fails: CI installs chromium (cluster/install-deps)
and must run this test."""

import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import rgtest
from rgtest import GatewayTestCase, gateway_doc, route, service

BROWSER_DEADLINE = 90.0   # s, from start to both reports (CI runs -jN)
FETCH_TIMEOUT_MS = 15000  # each fetch() in the page aborts after this
READ_HEADERS = ("x-exposed", "x-hidden", "content-type")


def find_chromium():
    """The chromium command (Debian's wrapper execs the browser, so its PID
    is the browser's), or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
NO_CHROMIUM = ("chromium is not installed (cluster/install-deps installs "
               "Debian's chromium package)")


def cors(**config):
    return {"name": "cors", "config": config}


# ---------------------------------------------------------------------------
# the pages and their server

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>raftgate cors: %(name)s</title>
</head><body>
<h1>%(name)s on %(origin)s calls %(gateway)s</h1>
<ol id="out"></ol>
%(frame)s
<script>
"use strict";
const CFG = %(cfg)s;

function show(o) {
    const li = document.createElement("li");
    li.id = "case-" + o.name;
    li.textContent = JSON.stringify(o);
    document.getElementById("out").appendChild(li);
}

let reported = false;
function report(doc) {
    if (reported)
        return Promise.resolve();
    reported = true;
    return fetch("/report/" + CFG.name, {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(doc)});
}
window.addEventListener("error", e => report({fatal: String(e.message)}));
window.addEventListener("unhandledrejection",
                        e => report({fatal: String(e.reason)}));

/* One fetch: its outcome, whether it resolves or rejects. */
async function attempt(c) {
    const out = {name: c.name};
    const init = Object.assign({cache: "no-store",
                                signal: AbortSignal.timeout(CFG.timeout)},
                               c.init);
    try {
        const r = await fetch(CFG.gateway + c.path, init);
        out.ok = true;
        out.status = r.status;
        out.type = r.type;
        out.headers = {};
        for (const h of CFG.read_headers)
            out.headers[h] = r.headers.get(h);
        out.visible = [];
        for (const [k] of r.headers)
            out.visible.push(k);
        out.body = await r.text();
    } catch (e) {
        out.ok = false;
        out.error = e.name + ": " + e.message;
        out.error_name = e.name;
    }
    show(out);
    return out;
}

async function run() {
    if (CFG.cookie)
        document.cookie = CFG.cookie;
    const cases = {};
    for (const c of CFG.cases)
        cases[c.name] = await attempt(c);
    await report({origin: location.origin, cases: cases});
}
run();
</script>
</body></html>
"""


class PageServer:
    """An http.server on 127.0.0.1 (an ephemeral port: its own origin)
    serving one page and taking its report (POST /report/NAME) into
    @reports, shared with the other page servers under @cond."""

    def __init__(self, name, reports, cond):
        self.name = name
        self.page = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/%s.html" % outer.name:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(outer.page)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(outer.page)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                if self.path != "/report/" + outer.name:
                    self.send_error(404)
                    return
                try:
                    doc = json.loads(data.decode("utf-8"))
                except ValueError:
                    doc = {"fatal": "report is not JSON: %r" % data[:200]}
                with cond:
                    reports[outer.name] = doc
                    cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.url = "%s/%s.html" % (self.origin, name)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       name="page-" + name, daemon=True)

    def set_page(self, gateway, cases, frame="", cookie=None):
        cfg = {"name": self.name, "gateway": gateway, "cases": cases,
               "cookie": cookie, "timeout": FETCH_TIMEOUT_MS,
               "read_headers": list(READ_HEADERS)}
        self.page = (PAGE % {
            "name": self.name, "origin": self.origin, "gateway": gateway,
            "frame": frame,
            "cfg": json.dumps(cfg).replace("</", "<\\/")}).encode()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# ---------------------------------------------------------------------------
# the browser

class Browser:
    """Headless Chromium on one URL, its profile in a temp dir, in its own
    process group (its zygote and renderers included), killed by PID."""

    def __init__(self, workdir, allowed_ports):
        self.dir = workdir
        self.profile = os.path.join(workdir, "profile")
        self.log_path = os.path.join(workdir, "chromium.log")
        self.allowed_ports = allowed_ports
        self.proc = None
        self.log = None

    def start(self, url):
        args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-dev-shm-usage",
                "--mute-audio", "--no-proxy-server",
                # Chromium refuses a few "unsafe" ports (10080 is in the
                # range free_port() draws from).
                "--explicitly-allowed-ports=" +
                ",".join(str(p) for p in self.allowed_ports),
                url]
        env = dict(os.environ, HOME=self.dir)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     process_group=0)
        rgtest._register(self.proc)  # killed at exit, whatever happens
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=25):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self):
        """SIGTERM to the browser's process group, SIGKILL after 5 s; the
        group's other processes get SIGKILL too."""
        if self.proc is not None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers
            except ProcessLookupError:
                pass
        if self.log:
            self.log.close()
            self.log = None


# ---------------------------------------------------------------------------
# the cases: run by the pages, checked by the tests below

def case(name, path, **init):
    return {"name": name, "path": path, "init": init}


JSON_PUT = {"method": "PUT", "body": '{"a": 1}',
            "headers": {"Content-Type": "application/json", "X-Custom": "1"}}

# From the allowed origin (the top page).
MAIN_CASES = [
    case("simple", "/app/set-headers?X-Exposed=e1&X-Hidden=h1"),
    case("put", "/app/count/put?key=put", **JSON_PUT),
    case("delete", "/app/count/delete?key=delete", method="DELETE"),
    case("hdr_ok", "/hdr/count/ok?key=hdr_ok", method="PUT", body="x",
         headers={"X-Only": "1"}),
    case("hdr_bad", "/hdr/count/bad?key=hdr_bad", method="PUT", body="x",
         headers={"X-Custom": "1"}),
    case("cred_get", "/cred/echo", credentials="include"),
    case("cred_put", "/cred/count/cred?key=cred_put", credentials="include",
         **JSON_PUT),
    case("nocred_get", "/app/count/nocred?key=nocred_get",
         credentials="include"),
    case("star_cred_get", "/star/count/star?key=star_cred_get",
         credentials="include"),
    case("star_get", "/star/echo"),
    case("starcred_get", "/starcred/echo", credentials="include"),
]

# From the origin the plugin does not allow (the iframe).
OTHER_CASES = [
    case("dis_get", "/app/count/dis?key=dis_get"),
    case("dis_nocors", "/app/count/disnc?key=dis_nocors", mode="no-cors"),
    case("dis_put", "/app/count/disput?key=dis_put", **JSON_PUT),
    case("dis_star_get", "/star/echo"),
]

COOKIE = "rgsess=s3cret"


class CorsBrowserTest(GatewayTestCase):
    """One browser run in setUpClass; each test checks part of its
    reports against the upstream's hit counts and the access log."""

    reports = {}
    cond = threading.Condition()
    pages = []
    browser = None
    tmp = None
    ran_in = 0.0

    @classmethod
    def gateway_config(cls, up):
        allowed = [cls.main.origin]
        return gateway_doc(service("svc", up.port, routes=[
            route("app", ["/app"], strip_path=False, plugins=[
                cors(origins=allowed, methods=["GET", "PUT"],
                     exposed_headers=["X-Exposed"], max_age=600)]),
            route("hdr", ["/hdr"], strip_path=False, plugins=[
                cors(origins=allowed, headers=["X-Only"])]),
            route("cred", ["/cred"], strip_path=False, plugins=[
                cors(origins=allowed, credentials=True)]),
            route("star", ["/star"], strip_path=False, plugins=[cors()]),
            route("starcred", ["/starcred"], strip_path=False, plugins=[
                cors(credentials=True)]),
        ]))

    @classmethod
    def setUpClass(cls):
        if CHROMIUM is None:
            if os.environ.get("CI") == "true":
                raise AssertionError(NO_CHROMIUM + "; CI must run this test")
            raise unittest.SkipTest(NO_CHROMIUM)
        cls.main = PageServer("main", cls.reports, cls.cond)
        cls.other = PageServer("other", cls.reports, cls.cond)
        cls.pages = [cls.main.start(), cls.other.start()]
        try:
            super().setUpClass()
            cls.run_browser()
        except BaseException:
            try:
                cls.tearDownClass()
            except Exception as e:  # keep the first error
                sys.stderr.write("teardown after a failed setup: %s\n" % e)
            raise

    @classmethod
    def run_browser(cls):
        gw = "http://127.0.0.1:%d" % cls.gw.port
        cls.other.set_page(gw, OTHER_CASES)
        cls.main.set_page(gw, MAIN_CASES, cookie=COOKIE + "; path=/",
                          frame='<iframe src="%s"></iframe>' % cls.other.url)
        cls.tmp = tempfile.mkdtemp(prefix="rgtest-chromium-")
        cls.browser = Browser(cls.tmp, [cls.gw.port])
        t0 = time.monotonic()
        cls.browser.start(cls.main.url)

        def done():
            with cls.cond:
                if all(p.name in cls.reports for p in cls.pages):
                    return True
            if not cls.browser.alive():
                raise AssertionError(
                    "chromium exited with %s before the pages reported:\n%s"
                    % (cls.browser.proc.returncode, cls.browser.log_tail()))
            return False
        try:
            rgtest.wait_until(done, BROWSER_DEADLINE, 0.05,
                              "both pages' reports from chromium")
        except TimeoutError as e:
            raise AssertionError("%s; reports so far %r; chromium log:\n%s"
                                 % (e, cls.reports, cls.browser.log_tail()))
        finally:
            cls.browser.stop()
        cls.ran_in = time.monotonic() - t0
        for name, doc in cls.reports.items():
            if "fatal" in doc:
                raise AssertionError("page %s: %s" % (name, doc["fatal"]))

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.browser:
                cls.browser.stop()
            if cls.gw:
                super().tearDownClass()
        finally:
            for p in cls.pages:
                p.stop()
            if cls.tmp and not os.environ.get("RG_KEEP"):
                shutil.rmtree(cls.tmp, ignore_errors=True)
            if os.environ.get("RG_VERBOSE"):
                sys.stderr.write("chromium run: %.2fs\nreports: %s\n"
                                 % (cls.ran_in,
                                    json.dumps(cls.reports, indent=1)))

    # -- helpers ---------------------------------------------------------
    def outcome(self, page, name):
        doc = self.reports[page]["cases"]
        self.assertIn(name, doc)
        return doc[name]

    def assertReadable(self, page, name, status=200):
        o = self.outcome(page, name)
        self.assertTrue(o["ok"], "%s rejected: %r" % (name, o))
        self.assertEqual(o["status"], status, o)
        self.assertEqual(o["type"], "cors", o)
        return o

    def assertBlocked(self, page, name):
        """fetch() rejected with the TypeError of a CORS failure (not a
        timeout's AbortError/TimeoutError)."""
        o = self.outcome(page, name)
        self.assertFalse(o["ok"], "%s was not blocked: %r" % (name, o))
        self.assertEqual(o["error_name"], "TypeError", o)
        return o

    def body(self, o):
        return json.loads(o["body"])

    def log_entry(self, method, path):
        """The access log entry for @method @path (waits for the log's
        100 ms flush)."""
        def find():
            for e in self.gw.access_log():
                if e.get("method") == method and e.get("path") == path:
                    return e
            return None
        return rgtest.wait_until(find, 5, 0.05,
                                 "%s %s in the access log" % (method, path))

    def assertPreflightAtGateway(self, path):
        """The browser sent a preflight for @path and the gateway answered
        it itself: 200, no upstream, no attempt."""
        e = self.log_entry("OPTIONS", path)
        self.assertEqual(e["status"], 200, e)
        self.assertEqual(e["upstream"], "", e)
        self.assertEqual(e["attempts"], 0, e)

    # -- the tests -------------------------------------------------------
    def test_simple_get_from_allowed_origin_is_readable(self):
        o = self.assertReadable("main", "simple")
        self.assertIn(["X-Exposed", "e1"], self.body(o)["set"])
        self.assertEqual(o["headers"]["content-type"], "application/json")

    def test_exposed_header_readable_other_hidden(self):
        o = self.assertReadable("main", "simple")
        self.assertEqual(o["headers"]["x-exposed"], "e1", o)
        self.assertIsNone(o["headers"]["x-hidden"], o)
        self.assertNotIn("x-hidden", o["visible"])
        # The gateway did send X-Hidden: the browser is what hid it.
        r = self.gw.get("/app/set-headers?X-Exposed=e1&X-Hidden=h1",
                        headers={"Origin": self.main.origin})
        self.assertEqual(r.header("X-Hidden"), "h1", r)
        self.assertEqual(r.header("Access-Control-Expose-Headers"),
                         "X-Exposed", r)

    def test_preflighted_put_answered_at_gateway(self):
        o = self.assertReadable("main", "put")
        # One hit: the PUT. A preflight reaching the upstream would count.
        self.assertEqual(self.body(o)["count"], 1, o)
        self.assertEqual(self.up.hits("put"), 1)
        self.assertPreflightAtGateway("/app/count/put")
        e = self.log_entry("PUT", "/app/count/put")
        self.assertEqual(e["status"], 200, e)

    def test_refused_preflight_stops_the_request(self):
        self.assertBlocked("main", "delete")  # methods: GET, PUT
        self.assertEqual(self.up.hits("delete"), 0)
        self.assertPreflightAtGateway("/app/count/delete")
        self.assertBlocked("main", "hdr_bad")  # headers: X-Only
        self.assertEqual(self.up.hits("hdr_bad"), 0)
        self.assertPreflightAtGateway("/hdr/count/bad")
        o = self.assertReadable("main", "hdr_ok")
        self.assertEqual(self.body(o)["count"], 1, o)
        self.assertEqual(self.up.hits("hdr_ok"), 1)

    def test_credentials_only_with_allow_credentials(self):
        o = self.assertReadable("main", "cred_get")
        self.assertEqual(self.body(o)["headers"].get("Cookie"), COOKIE, o)
        o = self.assertReadable("main", "cred_put")
        self.assertEqual(self.body(o)["count"], 1, o)
        self.assertPreflightAtGateway("/cred/count/cred")
        # No Access-Control-Allow-Credentials: the answer came (the
        # upstream counted it) and the browser refused it to the page.
        self.assertBlocked("main", "nocred_get")
        self.assertEqual(self.up.hits("nocred_get"), 1)
        # `*` never goes with credentials.
        self.assertBlocked("main", "star_cred_get")
        self.assertEqual(self.up.hits("star_cred_get"), 1)
        # `*` with credentials: true echoes the origin, which a
        # credentialed fetch accepts.
        o = self.assertReadable("main", "starcred_get")
        self.assertEqual(self.body(o)["headers"].get("Cookie"), COOKIE, o)
        # Without credentials `*` is readable, and no cookie was sent.
        o = self.assertReadable("main", "star_get")
        doc = self.body(o)
        self.assertNotIn("Cookie", doc["headers"])
        self.assertEqual(doc["headers"].get("Origin"), self.main.origin)

    def test_disallowed_origin_blocked(self):
        self.assertEqual(self.reports["other"]["origin"], self.other.origin)
        # A simple GET is proxied (the plugin adds no CORS header and
        # leaves the blocking to the browser, as cors.c documents) and
        # its answer is kept from the page.
        self.assertBlocked("other", "dis_get")
        self.assertEqual(self.up.hits("dis_get"), 1)
        # The same request without CORS (an opaque answer) resolves: the
        # rejection above is the CORS check, not the network.
        o = self.outcome("other", "dis_nocors")
        self.assertTrue(o["ok"], o)
        self.assertEqual(o["type"], "opaque", o)
        self.assertEqual(self.up.hits("dis_nocors"), 1)
        # A preflighted request never leaves the browser.
        self.assertBlocked("other", "dis_put")
        self.assertEqual(self.up.hits("dis_put"), 0)
        self.assertPreflightAtGateway("/app/count/disput")
        # The same page can read a route that allows any origin.
        o = self.assertReadable("other", "dis_star_get")
        self.assertEqual(self.body(o)["headers"].get("Origin"),
                         self.other.origin)


if __name__ == "__main__":
    if CHROMIUM is None and os.environ.get("CI") != "true":
        print("SKIP: " + NO_CHROMIUM)
        sys.exit(77)
    rgtest.main()
