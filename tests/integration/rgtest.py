"""Harness for raftgate's integration tests (Python 3 standard library only).

- free loopback ports, a dead port, a temp dir per gateway;
- scoped resources for tests that hold more than GatewayTestCase's one
  gateway: temp_dir and start_gateway hand their teardown to a
  TestCase's addCleanup (or addClassCleanup), so no test writes the
  try/finally;
- Gateway: writes raftgate.yml + gateway.yml (JSON, which libyaml reads as
  YAML) from dicts, starts $RAFTGATE_BIN -c in its own process group, waits
  for readiness by polling the proxy port, reloads (SIGHUP), stops with a
  deadline, reads the error and access logs and the RSS;
- RawConn: a raw-socket HTTP/1.x client with a response parser that
  understands Content-Length, chunked and close-delimited bodies (for
  pipelining, malformed requests, streaming);
- simple requests through http.client.

Every wait has a deadline; every child process is killed by PID at exit.
Set RG_KEEP=1 to keep the temp dirs, RG_VERBOSE=1 to print log tails.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from upstream import Upstream, pattern, pattern_ok  # noqa: E402,F401

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0

# ---------------------------------------------------------------------------
# processes: registry and cleanup

_children = []  # Popen objects we started, killed by PID at exit
_children_lock = threading.Lock()


def _register(proc):
    with _children_lock:
        _children.append(proc)


def _kill_children():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # its own group: pgid == pid
            except (ProcessLookupError, PermissionError):
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_children)


_sanitized = {}


def sanitized_binary():
    """True when $RAFTGATE_BIN is built with ASan (its shadow memory and
    quarantine make RSS meaningless)."""
    path = raftgate_bin()
    if path not in _sanitized:
        with open(path, "rb") as f:
            _sanitized[path] = b"__asan_init" in f.read()
    return _sanitized[path]


def raftgate_bin():
    """The binary under test: $RAFTGATE_BIN (make check sets it)."""
    path = os.environ.get("RAFTGATE_BIN")
    if not path:
        raise RuntimeError("RAFTGATE_BIN is not set: run through `make check`"
                           " or export RAFTGATE_BIN=/path/to/raftgate")
    if not os.access(path, os.X_OK):
        raise RuntimeError("RAFTGATE_BIN=%s is not executable" % path)
    return path


def use_test_binary():
    """Run the tests of this module against the daemon with the test
    plugins: make check exports $RAFTGATE_TEST_BIN; by hand, it sits next
    to $RAFTGATE_BIN in the build tree (tests/raftgate-test)."""
    if os.environ.get("RAFTGATE_TEST_BIN"):
        os.environ["RAFTGATE_BIN"] = os.environ["RAFTGATE_TEST_BIN"]
    elif os.environ.get("RAFTGATE_BIN"):
        os.environ["RAFTGATE_BIN"] = os.path.join(
            os.path.dirname(os.environ["RAFTGATE_BIN"]), "tests",
            "raftgate-test")


# ---------------------------------------------------------------------------
# waiting

def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value (returned) or raise
    TimeoutError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(min(interval, max(0.001, end - time.monotonic())))


# ---------------------------------------------------------------------------
# ports

_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port that was free a moment ago, chosen below the
    kernel's ephemeral range: a port from that range can be handed out as
    the source port of some outgoing connection (another test's client)
    between our check and the gateway's bind, which then fails."""
    lo = _ephemeral_low()
    for _ in range(500):
        port = random.randrange(10000, lo) if lo > 11000 else 0
        if port in _handed_out:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, port))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below %d" % lo)


class DeadPort:
    """A port where nothing listens: bound (so nobody else takes it) but
    never listening, so connect() is refused. Close it when done."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def port_open(port, host=HOST, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connect_refused(port, host=HOST, timeout=1.0):
    """True when connect() to the port is refused right away."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# config helpers

def service(name, port, host=HOST, routes=(), **kw):
    """A Kong service dict pointing at host:port with nested routes."""
    svc = {"name": name, "protocol": "http", "host": host, "port": port}
    svc.update(kw)
    if routes:
        svc["routes"] = list(routes)
    return svc


def route(name, paths=None, **kw):
    r = {"name": name}
    if paths is not None:
        r["paths"] = list(paths)
    r.update(kw)
    return r


def gateway_doc(*services, **kw):
    doc = {"_format_version": "3.0", "services": list(services)}
    doc.update(kw)
    return doc


def write_json(path, obj):
    """Write obj as JSON (valid YAML) atomically: tmp file + rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def deep_update(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base


def run_binary(args, timeout=DEFAULT_TIMEOUT, cwd=None, env=None):
    """Run raftgate with args to completion (@env: variables added to the
    environment); returns (rc, stdout+stderr)."""
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.Popen([raftgate_bin()] + list(args), cwd=cwd, env=full,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, process_group=0)
    _register(p)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise
    return p.returncode, out.decode("utf-8", "replace")


def temp_dir(add_cleanup, prefix="rgtest-"):
    """A new temporary directory that @add_cleanup (a TestCase's addCleanup,
    or addClassCleanup in setUpClass) removes, unless RG_KEEP is set.
    Cleanups run last-in first-out after tearDown(Class), so a gateway
    started later and stopped there can still read the files."""
    d = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("RG_KEEP"):
        add_cleanup(shutil.rmtree, d, ignore_errors=True)
    return d


def build_features():
    """The build features `raftgate -v` reports ("failpoints", ...), as a
    set; None when the binary prints no features line."""
    rc, out = run_binary(["-v"])
    if rc != 0:
        raise AssertionError("raftgate -v exited %d:\n%s" % (rc, out))
    m = re.search(r"(?m)^features: *(.*)$", out)
    return set(m.group(1).split()) - {"-"} if m else None


# ---------------------------------------------------------------------------
# the gateway under test

class Gateway:
    """One raftgate process with its own temp dir, ports and config files."""

    def __init__(self, gateway=None, node=None, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="rgtest-")
        self.port = free_port()
        self.admin_port = free_port()
        self.status_port = free_port()
        self.node_path = os.path.join(self.dir, "raftgate.yml")
        self.gateway_path = os.path.join(self.dir, "gateway.yml")
        self.error_log_path = os.path.join(self.dir, "error.log")
        self.access_log_path = os.path.join(self.dir, "access.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.node = {
            "proxy": {
                "listen": "%s:%d" % (HOST, self.port),
                "workers": 1,
                "drain_timeout": "5s",
            },
            "admin": {"listen": "%s:%d" % (HOST, self.admin_port)},
            "status": {"listen": "%s:%d" % (HOST, self.status_port)},
            "log": {
                "level": "info",
                "error_log": self.error_log_path,
                "access_log": self.access_log_path,
            },
            "gateway": {"declarative_config": "gateway.yml"},
        }
        if node:
            deep_update(self.node, node)
        self.gateway = gateway if gateway is not None else gateway_doc()
        self.proc = None
        self.stdout = None
        self.exit_code = None
        self.args = []  # extra command-line arguments after -c FILE
        self.env = {}   # extra environment variables (RAFTGATE_FAILPOINTS)

    # -- config files ----------------------------------------------------
    def write_config(self):
        write_json(self.node_path, self.node)
        write_json(self.gateway_path, self.gateway)

    def check_config(self, doc):
        """`raftgate -t` on declarative config @doc with this gateway's node
        settings; returns (rc, output)."""
        path = os.path.join(self.dir, "check.yml")
        write_json(path, doc)
        node = dict(self.node)
        node["gateway"] = {"declarative_config": path}
        npath = os.path.join(self.dir, "check-node.yml")
        write_json(npath, node)
        return run_binary(["-t", "-c", npath])

    def check(self):
        """`raftgate -t` on this gateway's own config files; returns (rc,
        output)."""
        self.write_config()
        return run_binary(["-t", "-c", self.node_path])

    # -- process ---------------------------------------------------------
    def start(self, wait=True, timeout=DEFAULT_TIMEOUT):
        self.write_config()
        self.stdout = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(
            [raftgate_bin(), "-c", self.node_path] + self.args, cwd=self.dir,
            env=dict(os.environ, **self.env) if self.env else None,
            stdin=subprocess.DEVNULL, stdout=self.stdout,
            stderr=subprocess.STDOUT, process_group=0)
        _register(self.proc)
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=DEFAULT_TIMEOUT):
        """Poll the proxy port until it accepts, failing early if the
        process exits."""
        def ready():
            if not self.alive():
                raise RuntimeError("raftgate exited with %s during start:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            return port_open(self.port, timeout=0.2)
        wait_until(ready, timeout, 0.02, "raftgate to accept on port %d"
                   % self.port)

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=DEFAULT_TIMEOUT):
        """Wait for exit; returns the exit code (negative: signal) or
        raises subprocess.TimeoutExpired."""
        self.exit_code = self.proc.wait(timeout)
        return self.exit_code

    def stop(self, sig=signal.SIGTERM, timeout=DEFAULT_TIMEOUT):
        """Send sig and wait for exit; SIGKILL after the deadline (then
        raises TimeoutError). Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                self._close()
                raise TimeoutError("raftgate did not exit within %.1fs of "
                                   "signal %d\n%s" % (timeout, sig,
                                                      self.log_tail()))
        self.exit_code = self.proc.returncode
        self._close()
        if os.environ.get("RG_VERBOSE"):
            sys.stderr.write("--- %s\n%s\n" % (self.dir, self.log_tail()))
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._close()

    def _close(self):
        if self.stdout:
            self.stdout.close()
            self.stdout = None

    def cleanup(self):
        """Kill if running, remove the temp dir (unless RG_KEEP)."""
        self.kill()
        if not os.environ.get("RG_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_checked(self):
        """stop(), raising AssertionError with the log tail unless the exit
        code is 0 (a crash, or a sanitizer report)."""
        code = self.stop()
        if code != 0:
            raise AssertionError("raftgate exited with %s on SIGTERM at "
                                 "teardown:\n%s" % (code, self.log_tail(60)))

    # -- reload ----------------------------------------------------------
    def reloads_done(self):
        return len(re.findall(r"config reloaded: generation \d+",
                              self.error_log()))

    def reload(self, gateway=None, node=None, wait=True,
               timeout=DEFAULT_TIMEOUT):
        """Rewrite the config files (if given), send SIGHUP and, with
        wait, wait for the next "config reloaded" line."""
        if gateway is not None:
            self.gateway = gateway
        if node is not None:
            deep_update(self.node, node)
        before = self.reloads_done()
        self.write_config()
        self.send_signal(signal.SIGHUP)
        if wait:
            wait_until(lambda: self.reloads_done() > before, timeout, 0.02,
                       "'config reloaded' in the error log")

    # -- logs ------------------------------------------------------------
    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def error_log(self):
        return self._read(self.error_log_path) + self._read(self.stdout_path)

    def log_tail(self, n=30):
        lines = self.error_log().splitlines()
        return "\n".join(lines[-n:])

    def wait_log(self, regex, timeout=DEFAULT_TIMEOUT, since=0):
        """Wait until regex matches the error log after offset `since`;
        returns the match."""
        rx = re.compile(regex)
        return wait_until(lambda: rx.search(self.error_log(), since),
                          timeout, 0.02, "/%s/ in the error log" % regex)

    def access_log(self):
        """The access log as a list of dicts (partial last line ignored)."""
        out = []
        for line in self._read(self.access_log_path).splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    # -- resources -------------------------------------------------------
    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    # -- clients ---------------------------------------------------------
    def connect(self, timeout=DEFAULT_TIMEOUT):
        return RawConn(self.port, timeout=timeout)

    def http(self, timeout=DEFAULT_TIMEOUT):
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None,
                timeout=DEFAULT_TIMEOUT):
        return request(self.port, method, path, headers, body, timeout)

    def get(self, path, headers=None, timeout=DEFAULT_TIMEOUT):
        return self.request("GET", path, headers, None, timeout)


def start_gateway(add_cleanup, gw, **start_kw):
    """Start @gw (start() with @start_kw) for a test: @add_cleanup (a
    TestCase's addCleanup, or addClassCleanup) stops it with stop_checked
    and then removes its dir; a failed start only removes it. Returns
    @gw."""
    add_cleanup(gw.cleanup)
    gw.start(**start_kw)
    add_cleanup(gw.stop_checked)
    return gw


class RssSampler:
    """Samples a PID's VmRSS every `interval` seconds in a thread."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _rss(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.wait(self.interval):
            self.max = max(self.max, self._rss())
            self.samples += 1

    def __enter__(self):
        self.max = self._rss()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


# ---------------------------------------------------------------------------
# simple client (http.client)

class Response:
    """A parsed HTTP response."""

    def __init__(self, status=0, reason="", version="", headers=None,
                 body=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers or []  # [(name, value)] in order
        self.body = body
        self.chunked = False
        self.trailers = []

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %s %r body=%r>" % (
            self.status, self.reason, self.headers, self.body[:300])


def request(port, method, path, headers=None, body=None,
            timeout=DEFAULT_TIMEOUT, host=HOST, ssl_context=None):
    """One request on a fresh connection via http.client (over TLS with
    @ssl_context, an ssl.SSLContext)."""
    c = (http.client.HTTPSConnection(host, port, timeout=timeout,
                                     context=ssl_context)
         if ssl_context else
         http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        return http_request(c, method, path, headers, body)
    finally:
        c.close()


def http_request(conn, method, path, headers=None, body=None):
    """One request on an http.client connection (reused when possible)."""
    hdrs = dict(headers or {})
    skip_host = any(k.lower() == "host" for k in hdrs)
    conn.putrequest(method, path, skip_host=skip_host,
                    skip_accept_encoding=True)
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if body is not None and not any(k.lower() in ("content-length",
                                                  "transfer-encoding")
                                     for k in hdrs):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    out = Response(r.status, r.reason, "HTTP/%d.%d" % divmod(r.version, 10),
                   list(r.getheaders()), data)
    out.chunked = r.chunked if hasattr(r, "chunked") else False
    return out


# ---------------------------------------------------------------------------
# raw-socket client

class Incomplete(Exception):
    """The connection ended before the response was complete; .response
    holds what was parsed (body so far)."""

    def __init__(self, msg, response):
        super().__init__(msg)
        self.response = response


class RawConn:
    """A raw TCP connection with an HTTP/1.x response parser."""

    def __init__(self, port, host=HOST, timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _recv(self, deadline, size=1 << 20):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(size)
        except socket.timeout:
            raise TimeoutError("no data within %.1fs" % self.timeout)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        return data

    def _fill(self, deadline):
        data = self._recv(deadline)
        if not data:
            return False
        self.buf += data
        return True

    def _line(self, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit or not self._fill(deadline):
                return None

    def read_head(self, timeout=None):
        """Read one status line + headers; returns a Response without body
        or raises Incomplete on EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        line = self._line(deadline)
        if line is None:
            raise Incomplete("connection closed before a response (%d "
                             "bytes pending)" % len(self.buf), None)
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError("bad status line %r" % line)
        r = Response(int(parts[1]), parts[2] if len(parts) > 2 else "",
                     parts[0], [])
        while True:
            h = self._line(deadline)
            if h is None:
                raise Incomplete("connection closed in response head", r)
            h = h.decode("latin-1").rstrip("\r\n")
            if not h:
                break
            k, _, v = h.partition(":")
            r.headers.append((k, v.strip()))
        return r

    def read_response(self, method="GET", timeout=None, sink=None,
                      interim=False):
        """Read a full response. Skips 1xx (except 101) unless interim.
        With sink, body bytes are passed to sink(memoryview) instead of
        being kept. Raises Incomplete if the connection ends mid-body."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            r = self.read_head(deadline - time.monotonic())
            if r.status >= 200 or r.status == 101 or interim:
                break
        if (method == "HEAD" or r.status < 200 or r.status in (204, 304)):
            return r
        body = bytearray()

        def out(data):
            if sink:
                sink(memoryview(data))
            else:
                body.extend(data)

        def take(n):
            """Pass up to n buffered/received bytes on; returns count."""
            if not self.buf:
                data = self._recv(deadline)
                if not data:
                    return 0
                self.buf += data
            k = min(n, len(self.buf))
            out(self.buf[:k])
            del self.buf[:k]
            return k

        te = ",".join(r.header_all("transfer-encoding")).lower()
        cl = r.header("content-length")
        if "chunked" in te:
            r.chunked = True
            while True:
                line = self._line(deadline, 4096)
                if line is None:
                    r.body = bytes(body)
                    raise Incomplete("EOF in chunk size line", r)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:
                        t = self._line(deadline)
                        if t is None:
                            r.body = bytes(body)
                            raise Incomplete("EOF in trailers", r)
                        if t in (b"\r\n", b"\n"):
                            break
                        k, _, v = t.decode("latin-1").partition(":")
                        r.trailers.append((k, v.strip()))
                    break
                left = size
                while left:
                    n = take(left)
                    if n == 0:
                        r.body = bytes(body)
                        raise Incomplete("EOF in chunk data", r)
                    left -= n
                if self._line(deadline, 16) not in (b"\r\n", b"\n"):
                    r.body = bytes(body)
                    raise Incomplete("bad chunk terminator", r)
        elif cl is not None:
            left = int(cl)
            while left:
                n = take(left)
                if n == 0:
                    r.body = bytes(body)
                    raise Incomplete("EOF with %d of %s bytes left"
                                     % (left, cl), r)
                left -= n
        else:
            while take(1 << 30):
                pass
        r.body = bytes(body)
        return r

    def request(self, method, path, headers=None, body=b"", version="1.1",
                host="test"):
        """Send a simple request (Host added unless given)."""
        self.send(build_request(method, path, headers, body, version, host))
        return self.read_response(method)

    def wait_closed(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within timeout; any bytes
        that arrive first are kept in self.buf."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                if not self._fill(deadline):
                    return True
            return True
        except TimeoutError:
            return False

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Incomplete("EOF", None)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


def build_request(method, path, headers=None, body=b"", version="1.1",
                  host="test"):
    """Bytes of a well-formed request. headers: list of pairs or dict."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if isinstance(body, str):
        body = body.encode()
    if body and "content-length" not in names and \
            "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = "%s %s HTTP/%s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(data, size=1000, trailers=()):
    """Encode data as a chunked body."""
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n"
    for k, v in trailers:
        out += ("%s: %s\r\n" % (k, v)).encode()
    out += b"\r\n"
    return bytes(out)


# ---------------------------------------------------------------------------
# unittest base

class GatewayTestCase(unittest.TestCase):
    """Base class: one upstream and one gateway shared by a module's tests
    (set class attributes GATEWAY_NODE and override gateway_config()).
    Each test checks the gateway is still alive afterwards."""

    GATEWAY_NODE = {}
    GATEWAY_ENV = {}
    gw = None
    up = None

    @classmethod
    def gateway_config(cls, up):
        """The declarative config (a dict) for the shared gateway."""
        return gateway_doc(service("echo", up.port,
                                   routes=[route("all", ["/"])]))

    @classmethod
    def setUpClass(cls):
        cls.up = Upstream().start()
        cls.gw = Gateway(cls.gateway_config(cls.up), cls.GATEWAY_NODE)
        cls.gw.env = cls.GATEWAY_ENV
        try:
            cls.gw.start()
        except BaseException:
            cls.gw.cleanup()
            cls.up.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.gw:
                cls.gw.stop_checked()
        finally:
            if cls.gw:
                cls.gw.cleanup()
            if cls.up:
                cls.up.stop()

    def tearDown(self):
        if self.gw is not None and self.gw.proc is not None and \
                type(self).gw is self.gw and not self.gw.alive():
            self.fail("raftgate died during this test (exit %s):\n%s"
                      % (self.gw.proc.returncode, self.gw.log_tail()))

    # -- assertions ------------------------------------------------------
    def assertJsonError(self, r, status, message=None):
        """A local error reply: status, Content-Type application/json, JSON
        {message, request_id} with a non-empty request_id equal to the
        X-Request-ID header. Returns the JSON document."""
        problems = json_error_problems(r, status, message)
        if problems:
            self.fail("; ".join(problems) + "\n%r" % r)
        return json.loads(r.body.decode())


def json_error_problems(r, status, message=None):
    """What is wrong with r as a local JSON error reply (list of strings,
    empty when it is right)."""
    p = []
    if r.status != status:
        p.append("status %d, want %d" % (r.status, status))
    ctype = (r.header("content-type") or "").split(";")[0].strip()
    if ctype != "application/json":
        p.append("Content-Type %r" % ctype)
    try:
        doc = json.loads(r.body.decode())
    except ValueError:
        return p + ["body is not JSON: %r" % r.body[:100]]
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
        return p + ["no message in %r" % doc]
    if message is not None and doc["message"] != message:
        p.append("message %r, want %r" % (doc["message"], message))
    rid = doc.get("request_id")
    if not isinstance(rid, str):
        p.append("no request_id in %r" % doc)
    else:
        if r.header("x-request-id") != rid:
            p.append("X-Request-ID header %r != request_id %r"
                     % (r.header("x-request-id"), rid))
        if not rid:
            p.append("empty request_id")
    return p


def main():
    unittest.main(verbosity=2)
