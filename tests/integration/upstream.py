#!/usr/bin/python3
"""raftgate's test upstream: a small HTTP/1.1 server (standard library only).

Used in-process by the integration tests (``Upstream().start()``) and
standalone as the README's demo upstream::

    python3 tests/integration/upstream.py --port 9000

It is a hand-written threaded socket server (one thread per TCP connection)
so that keep-alive, pipelining, framing and misbehaviour are under exact
control. An endpoint is chosen by the first path segment that names one, so
"/echo", "/api/echo" and "/v1/delay/100" all work behind any route prefix;
a path naming no endpoint is echoed.

Endpoints:
  /echo                 JSON: method, path (with query), http_version,
                        headers, body_len, body_sha256, conn_id (per TCP
                        connection), request_no (on that connection), client;
                        ?body=1 adds body (the request body, latin-1 text);
                        ?notjson=1 answers the text "not {json" labelled
                        application/json instead
  /status/N             answer status N (no body for 1xx/204/304/HEAD)
  /delay/MS             wait MS ms, then answer like /echo
  /bytes/N              N bytes of the deterministic pattern, Content-Length;
                        ?close=1 close-delimited instead;
                        ?stall_at=K&stall_ms=M pause M ms after K bytes;
                        ?die_at=K close the connection after K bytes
  /chunked/N            N pattern bytes, chunked (?size=S chunk size,
                        ?trailer=1 adds a trailer, ?stall_at/stall_ms,
                        ?die_at=K close before the chunk passing K bytes)
  /upload               read a body of any framing; JSON bytes, sha256,
                        framing (the body is hashed, never kept);
                        ?stall_at=K&stall_ms=M stop reading for M ms after K
  /close                read the request, close without answering
                        (?rst=1: reset instead of FIN)
  /partial              headers with Content-Length 1000, 10 bytes, close
  /garbage              answer bytes that are not HTTP, then close
  /folded               answer 200 with a header continued by obs-fold
  /count?key=K          count a hit for K, answer {"key","count"};
                        &close=1 close instead of answering;
                        &close_first=N close for the first N hits only
  /hits?key=K           the hit count for K (not counted itself)
  /set-headers?A=B&...  answer 200 with the given response headers
  /headers-big?n=N      answer 200 with an N-byte X-Big header
  /head-cut?cuts=A,B,.. answer 200 whose head (X-Small: 10 's', X-Across:
                        3000 'a', X-After: 2000 'z') is written in pieces
                        cut at those byte offsets of the head, ?ms=M apart
                        (default 50); ?interim=1 sends a 103 first, as a
                        piece of its own
  /ws                   WebSocket (RFC 6455) handshake, then echo frames
"""

import argparse
import base64
import hashlib
import json
import socket
import sys
import threading
import urllib.parse

PATTERN_PERIOD = 256
_BLOCK = bytes(range(256)) * 4096  # 1 MiB, a whole number of periods
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
    204: "No Content", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    418: "I'm a teapot", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

ENDPOINTS = ("echo", "status", "delay", "bytes", "chunked", "upload",
             "close", "partial", "garbage", "folded", "count", "hits", "set-headers",
             "headers-big", "head-cut", "ws")


def pattern(offset, n):
    """The n bytes of the test pattern starting at stream offset `offset`
    (byte i of a stream is i % 256)."""
    out = bytearray()
    while n > 0:
        o = offset % PATTERN_PERIOD
        take = min(n, len(_BLOCK) - o)
        out += _BLOCK[o:o + take]
        offset += take
        n -= take
    return bytes(out)


def pattern_ok(offset, data):
    """True when `data` equals the pattern at stream offset `offset`."""
    mv = memoryview(data)
    pos = 0
    while pos < len(mv):
        o = (offset + pos) % PATTERN_PERIOD
        take = min(len(mv) - pos, len(_BLOCK) - o)
        if mv[pos:pos + take] != _BLOCK[o:o + take]:
            return False
        pos += take
    return True


def send_pattern(sock, n, start=0):
    """Send n pattern bytes (stream offset `start`, a multiple of 256)."""
    blk = memoryview(_BLOCK)
    while n > 0:
        take = min(n, len(_BLOCK))
        sock.sendall(blk[:take])
        n -= take


class PeerClosed(Exception):
    """The client closed the connection (or sent something unreadable)."""


class Reader:
    """Buffered reads from a socket: lines, exact counts, chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise PeerClosed()
        self.buf += data

    def readline(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise PeerClosed()
            self._fill()

    def read(self, n):
        """Up to n bytes (at least 1), from the buffer first."""
        if not self.buf:
            self._fill()
        take = min(n, len(self.buf))
        data = bytes(self.buf[:take])
        del self.buf[:take]
        return data

    def read_exact(self, n):
        out = bytearray()
        while len(out) < n:
            out += self.read(n - len(out))
        return bytes(out)


class Request:
    def __init__(self):
        self.method = ""
        self.target = ""
        self.version = ""
        self.headers = []  # [(name, value)] as received

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    @property
    def query(self):
        q = self.target.split("?", 1)
        return dict(urllib.parse.parse_qsl(q[1])) if len(q) > 1 else {}

    def keep_alive(self):
        conn = ",".join(self.header_all("connection")).lower()
        tokens = [t.strip() for t in conn.split(",")]
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


class Body:
    """Consumes a request body of any framing, handing each piece to fn."""

    @staticmethod
    def framing(req):
        te = ",".join(req.header_all("transfer-encoding")).lower()
        if te:
            return "chunked" if te.strip().endswith("chunked") else "bad-te"
        if req.header("content-length") is not None:
            return "content-length"
        return "none"

    @staticmethod
    def consume(rd, req, fn):
        kind = Body.framing(req)
        if kind == "content-length":
            left = int(req.header("content-length"))
            while left > 0:
                data = rd.read(min(left, 1 << 20))
                fn(data)
                left -= len(data)
        elif kind == "chunked":
            while True:
                line = rd.readline(4096).strip()
                size = int(line.split(b";", 1)[0], 16)
                if size == 0:
                    while rd.readline(65536) not in (b"\r\n", b"\n"):
                        pass  # trailers
                    break
                left = size
                while left > 0:
                    data = rd.read(min(left, 1 << 20))
                    fn(data)
                    left -= len(data)
                rd.readline(16)
        elif kind == "bad-te":
            raise PeerClosed()
        return kind


class Upstream:
    """The test upstream. start() returns self; stop() ends it."""

    def __init__(self, host="127.0.0.1", port=0, verbose=False):
        self.host = host
        self.verbose = verbose
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(512)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.next_conn_id = 0
        self.conns = {}          # conn_id -> socket, open connections
        self.counts = {}         # /count keys
        self.requests = 0        # request heads read, all endpoints
        self.completed = 0       # requests read in full (head and body)
        self.delays_started = 0  # /delay requests that began waiting
        self.slow_ms = 0         # every request waits this long first
        self.force_status = None # set: every request is counted (its
                                 # ?key=) and answered with this status
        self.stopping = threading.Event()
        self.thread = None

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._accept_loop,
                                       name="upstream-accept", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            socks = list(self.conns.values())
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.thread:
            self.thread.join(5)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    # -- state queries for tests ----------------------------------------
    def hits(self, key):
        with self.lock:
            return self.counts.get(key, 0)

    def open_connections(self):
        with self.lock:
            return len(self.conns)

    def drop_connections(self):
        """Close every open connection from the upstream side (FIN), as an
        upstream closing idle keep-alive connections would; returns how
        many were closed."""
        with self.lock:
            socks = list(self.conns.values())
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)

    def wait_for(self, pred, timeout=10.0):
        """Wait (with deadline) until pred() holds under the lock."""
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise TimeoutError("upstream condition not met in %ss"
                                   % timeout)

    # -- serving ---------------------------------------------------------
    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, addr = self.lsock.accept()
            except OSError:
                break
            with self.cond:
                self.next_conn_id += 1
                cid = self.next_conn_id
                self.conns[cid] = sock
                self.cond.notify_all()
            t = threading.Thread(target=self._serve, args=(sock, addr, cid),
                                 name="upstream-conn-%d" % cid, daemon=True)
            t.start()

    def _serve(self, sock, addr, cid):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rd = Reader(sock)
        n = 0
        try:
            while not self.stopping.is_set():
                req = self._read_head(rd)
                n += 1
                with self.cond:
                    self.requests += 1
                    self.cond.notify_all()
                if self.verbose:
                    sys.stderr.write("upstream: conn %d #%d %s %s\n"
                                     % (cid, n, req.method, req.target))
                if not self._handle(sock, rd, req, addr, cid, n):
                    break
        except (PeerClosed, ConnectionError, OSError, ValueError):
            pass
        finally:
            with self.cond:
                self.conns.pop(cid, None)
                self.cond.notify_all()
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _read_head(rd):
        line = rd.readline(1 << 20)
        while line in (b"\r\n", b"\n"):  # tolerate CRLF between requests
            line = rd.readline(1 << 20)
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            raise PeerClosed()
        req = Request()
        req.method, req.target, req.version = parts
        while True:
            h = rd.readline(1 << 20).decode("latin-1").rstrip("\r\n")
            if not h:
                break
            if ":" not in h:
                raise PeerClosed()
            k, v = h.split(":", 1)
            req.headers.append((k, v.strip()))
            if len(req.headers) > 1000:
                raise PeerClosed()
        return req

    @staticmethod
    def _send(sock, status, headers=(), body=b"", close=False,
              head_only=False, version="HTTP/1.1"):
        lines = ["%s %d %s" % (version, status, REASONS.get(status, "X"))]
        have_cl = any(k.lower() in ("content-length", "transfer-encoding")
                      for k, _ in headers)
        hdrs = list(headers)
        no_body_status = status < 200 or status in (204, 304)
        if not have_cl and not no_body_status:
            hdrs.append(("Content-Length", str(len(body))))
        if close:
            hdrs.append(("Connection", "close"))
        hdrs.append(("Server", "rg-test-upstream"))
        for k, v in hdrs:
            lines.append("%s: %s" % (k, v))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only and not no_body_status:
            data += body
        sock.sendall(data)

    def _endpoint(self, path):
        segs = [s for s in path.split("/") if s]
        for i, s in enumerate(segs):
            if s in ENDPOINTS:
                return s, segs[i + 1] if i + 1 < len(segs) else None
        return "echo", None

    def _handle(self, sock, rd, req, addr, cid, n):
        """Serve one request; return True to keep the connection."""
        ep, arg = self._endpoint(req.path)
        q = req.query
        head = req.method == "HEAD"
        keep = req.keep_alive()
        expect = (req.header("expect") or "").lower() == "100-continue"

        def body_sink():
            h = hashlib.sha256()
            count = [0]

            def fn(data):
                h.update(data)
                count[0] += len(data)
                if q.get("body") == "1":
                    kept.append(data)
            return h, count, fn

        kept = []

        if expect and Body.framing(req) != "none":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        h, count, fn = body_sink()
        if ep == "upload" and "stall_at" in q:
            fn = self._stalling(fn, int(q["stall_at"]),
                                int(q.get("stall_ms", "1000")))
        framing = Body.consume(rd, req, fn)
        with self.cond:
            self.completed += 1
            self.cond.notify_all()

        def echo_doc():
            merged = {}
            for k, v in req.headers:
                merged[k] = merged[k] + ", " + v if k in merged else v
            doc = {
                "method": req.method,
                "path": req.target,
                "http_version": req.version,
                "headers": merged,
                "body_len": count[0],
                "body_sha256": h.hexdigest(),
                "conn_id": cid,
                "request_no": n,
                "client": "%s:%d" % addr,
            }
            if q.get("raw") == "1":
                doc["header_list"] = [[k, v] for k, v in req.headers]
            if q.get("body") == "1":
                doc["body"] = b"".join(kept).decode("latin-1")
            return doc

        def reply_json(status, doc, extra=()):
            body = (json.dumps(doc, indent=2) + "\n").encode()
            self._send(sock, status,
                       [("Content-Type", "application/json")] + list(extra),
                       body, close=not keep, head_only=head,
                       version="HTTP/1.1")
            return keep

        if self.slow_ms:
            self.stopping.wait(self.slow_ms / 1000.0)
        if self.force_status is not None:
            key = q.get("key")
            if key is not None:
                with self.cond:
                    self.counts[key] = self.counts.get(key, 0) + 1
                    self.cond.notify_all()
            return reply_json(self.force_status,
                              {"forced": self.force_status})

        if ep == "echo" and q.get("notjson") == "1":
            self._send(sock, 200, [("Content-Type", "application/json")],
                       b"not {json", close=not keep, head_only=head,
                       version="HTTP/1.1")
            return keep

        if ep == "echo":
            return reply_json(200, echo_doc())

        if ep == "status":
            code = int(arg or "200")
            if code < 200 or code in (204, 304):
                self._send(sock, code, [], b"", close=not keep)
                return keep
            return reply_json(code, {"status": code})

        if ep == "delay":
            ms = int(arg or "0")
            with self.cond:
                self.delays_started += 1
                self.cond.notify_all()
            self.stopping.wait(ms / 1000.0)
            doc = echo_doc()
            doc["delayed_ms"] = ms
            return reply_json(200, doc)

        if ep == "upload":
            return reply_json(200, {"bytes": count[0],
                                    "sha256": h.hexdigest(),
                                    "framing": framing})

        if ep == "hits":
            key = q.get("key", "")
            return reply_json(200, {"key": key, "count": self.hits(key)})

        if ep == "count" or ep == "close":
            key = q.get("key")
            c = 0
            if key is not None:
                with self.cond:
                    c = self.counts.get(key, 0) + 1
                    self.counts[key] = c
                    self.cond.notify_all()
            close_now = (ep == "close" or q.get("close") == "1"
                         or c <= int(q.get("close_first", "0")))
            if close_now:
                if q.get("rst") == "1":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return False
            return reply_json(200, {"key": key, "count": c})

        if ep == "partial":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n"
                         + pattern(0, 10))
            return False

        if ep == "garbage":
            sock.sendall(b"this is not HTTP at all\r\n\r\n")
            return False

        if ep == "folded":
            sock.sendall(b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\n"
                         b"Content-Length: 2\r\n\r\nok")
            return False

        if ep == "set-headers":
            hdrs = list(urllib.parse.parse_qsl(req.target.split("?", 1)[1])
                        if "?" in req.target else [])
            return reply_json(200, {"set": hdrs}, extra=hdrs)

        if ep == "headers-big":
            size = int(q.get("n", "16384"))
            return reply_json(200, {"big": size}, extra=[("X-Big", "b" * size)])

        if ep == "head-cut":
            return self._head_cut(sock, q, keep)

        if ep == "bytes":
            return self._bytes(sock, req, int(arg or "0"), q, keep, head)

        if ep == "chunked":
            return self._chunked(sock, req, int(arg or "0"), q, keep, head)

        if ep == "ws":
            return self._websocket(sock, rd, req)

        return reply_json(404, {"message": "unknown endpoint"})

    def _head_cut(self, sock, q, keep):
        """/head-cut: a response head written in pieces (see the list)."""
        wait = int(q.get("ms", "50")) / 1000.0
        cuts = [int(x) for x in q.get("cuts", "").split(",") if x]
        if q.get("interim") == "1":
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\n"
                         b"Link: </a.css>; rel=preload\r\n\r\n")
            self.stopping.wait(wait)
        head = ("HTTP/1.1 200 OK\r\nX-Small: %s\r\nX-Across: %s\r\n"
                "X-After: %s\r\nContent-Length: 2\r\n%s\r\n"
                % ("s" * 10, "a" * 3000, "z" * 2000,
                   "" if keep else "Connection: close\r\n")).encode()
        last = 0
        for cut in cuts + [len(head)]:
            sock.sendall(head[last:cut])
            last = cut
            self.stopping.wait(wait)
        sock.sendall(b"ok")
        return keep

    def _stalling(self, fn, at, ms):
        """Wrap a body sink so that reading pauses once for ms after `at`
        bytes (the gateway must then hold the client back, not buffer)."""
        seen = [0, False]

        def wrapped(data):
            fn(data)
            seen[0] += len(data)
            if not seen[1] and seen[0] >= at:
                seen[1] = True
                self.stopping.wait(ms / 1000.0)
        return wrapped

    def _bytes(self, sock, req, total, q, keep, head):
        close_delim = q.get("close") == "1"
        hdrs = [("Content-Type", "application/octet-stream")]
        if close_delim:
            keep = False
            hdrs.append(("Connection", "close"))
            head_bytes = "HTTP/1.1 200 OK\r\n" + "".join(
                "%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
            sock.sendall(head_bytes.encode())
        else:
            hdrs.append(("Content-Length", str(total)))
            self._send(sock, 200, hdrs, b"", close=not keep)
        if head:
            return keep
        stall_at = int(q["stall_at"]) if "stall_at" in q else None
        die_at = int(q["die_at"]) if "die_at" in q else None
        if stall_at is None and die_at is None:
            send_pattern(sock, total)
            return keep
        if die_at is not None and die_at < total:
            total = die_at
            keep = False
        k = total if stall_at is None else min(stall_at, total)
        sock.sendall(pattern(0, k))
        if stall_at is not None:
            self.stopping.wait(int(q.get("stall_ms", "1000")) / 1000.0)
        sock.sendall(pattern(k, total - k))
        return keep

    def _chunked(self, sock, req, total, q, keep, head):
        size = max(1, int(q.get("size", "16384")))
        hdrs = [("Content-Type", "application/octet-stream"),
                ("Transfer-Encoding", "chunked")]
        if q.get("trailer") == "1":
            hdrs.append(("Trailer", "X-Trailer"))
        self._send(sock, 200, hdrs, b"", close=not keep)
        if head:
            return keep
        off = 0
        stall_at = int(q["stall_at"]) if "stall_at" in q else None
        die_at = int(q["die_at"]) if "die_at" in q else None
        while off < total:
            take = min(size, total - off)
            if die_at is not None and off + take > die_at:
                return False  # close mid-body: no last chunk
            if stall_at is not None and off <= stall_at < off + take:
                self.stopping.wait(int(q.get("stall_ms", "1000")) / 1000.0)
                stall_at = None
            sock.sendall(b"%x\r\n" % take + pattern(off, take) + b"\r\n")
            off += take
        if q.get("trailer") == "1":
            sock.sendall(b"0\r\nX-Trailer: yes\r\n\r\n")
        else:
            sock.sendall(b"0\r\n\r\n")
        return keep

    # -- WebSocket -------------------------------------------------------
    def _websocket(self, sock, rd, req):
        key = req.header("sec-websocket-key")
        upg = (req.header("upgrade") or "").lower()
        conn = (req.header("connection") or "").lower()
        if not key or upg != "websocket" or "upgrade" not in conn:
            self._send(sock, 426, [("Content-Type", "application/json")],
                       b'{"message": "websocket upgrade required"}\n')
            return req.keep_alive()
        accept = base64.b64encode(hashlib.sha1(
            (key + WS_GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        while True:
            fin_op, payload = ws_read_frame(rd)
            opcode = fin_op & 0x0F
            if opcode == 0x8:  # close: echo it, then close
                sock.sendall(ws_frame(0x8, payload[:125], fin=True))
                return False
            if opcode == 0x9:  # ping -> pong
                sock.sendall(ws_frame(0xA, payload, fin=True))
                continue
            if opcode == 0xA:
                continue
            sock.sendall(ws_frame(opcode, payload, fin=bool(fin_op & 0x80)))


def ws_frame(opcode, payload, fin=True, mask=None):
    """Encode one WebSocket frame (mask: 4 bytes for client frames)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        return head + mask + ws_mask(payload, mask)
    return head + bytes(payload)


def ws_mask(payload, mask):
    if not payload:
        return b""
    m = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")
            ).to_bytes(len(payload), "big")


def ws_read_frame(rd):
    """Read one frame from a Reader; returns (fin|opcode byte, payload)."""
    b0, b1 = rd.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(rd.read_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(rd.read_exact(8), "big")
    mask = rd.read_exact(4) if b1 & 0x80 else None
    payload = rd.read_exact(n) if n else b""
    if mask:
        payload = ws_mask(payload, mask)
    return b0, payload


def main():
    ap = argparse.ArgumentParser(description="raftgate test/demo upstream")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--quiet", action="store_true",
                    help="do not log requests to stderr")
    args = ap.parse_args()
    up = Upstream(args.host, args.port, verbose=not args.quiet).start()
    print("upstream listening on %s" % up.url, flush=True)
    try:
        while up.thread.is_alive():
            up.thread.join(3600)
    except KeyboardInterrupt:
        pass
    finally:
        up.stop()


if __name__ == "__main__":
    main()
