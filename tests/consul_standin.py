#!/usr/bin/python3
"""A Consul agent stand-in: exactly the subset of Consul's HTTP API that
raftgate uses, as Consul documents it (python3 standard library only).

  GET /v1/health/service/<svc>?passing&index=I&wait=W&tag=T&dc=DC
      A JSON list of {Node: {ID, Node, Address, Datacenter},
      Service: {ID, Service, Tags, Address, Port}, Checks: [...]}.
      A blocking query (index > 0) waits until the service's index passes
      I or W elapses (default 5m, at most 10m; "100ms", "5s", "1m", "1h"),
      then answers with X-Consul-Index, X-Consul-KnownLeader and
      X-Consul-LastContact. passing keeps instances whose checks all pass.
      With --token, a request whose X-Consul-Token (or ?token=) differs
      gets 403 "ACL not found". An unknown dc gets 500 "No path to
      datacenter". An unknown service is an empty list.

Control API (never in Consul; for tests):
  PUT    /_ctl/<svc>/<id>?address=A&port=P&tags=a,b  register (or replace)
  PUT    /_ctl/<svc>/<id>/passing | /critical         set its check
  DELETE /_ctl/<svc>/<id>                             deregister
  GET    /_ctl/requests                               queries seen (JSON)
  PUT    /_ctl/_mode?index=garbage|normal             X-Consul-Index not a
         number, and no blocking (a misbehaving agent), or back to normal

CLI: consul_standin.py --listen HOST:PORT [--token T] [--dc DC]
     [--service NAME=ID@ADDR:PORT[,ID@ADDR:PORT...]]...
Prints "ready" (and the port, for --listen HOST:0) once listening; exits
on SIGTERM.
"""

import argparse
import json
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_WAIT = 600.0
DEFAULT_WAIT = 300.0


def parse_wait(s):
    """Consul's wait (Go durations as Consul accepts them): seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", s or "")
    if not m:
        return None
    v = float(m.group(1))
    v *= {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return min(v, MAX_WAIT)


class Catalog:
    """Services and their instances; one Raft-like index for the whole
    store, and a per-service index (the one X-Consul-Index gives) that is
    the store index of the service's last change."""

    def __init__(self, dc):
        self.dc = dc
        self.cond = threading.Condition()
        self.index = 1
        self.services = {}   # name -> {id: instance}
        self.svc_index = {}  # name -> index of its last change
        self.requests = []
        self.garbage_index = False

    def _bump(self, svc):
        self.index += 1
        self.svc_index[svc] = self.index
        self.cond.notify_all()

    def register(self, svc, sid, address, port, tags=()):
        with self.cond:
            self.services.setdefault(svc, {})[sid] = {
                "address": address, "port": int(port), "tags": list(tags),
                "status": "passing"}
            self._bump(svc)

    def set_status(self, svc, sid, status):
        with self.cond:
            inst = self.services.get(svc, {}).get(sid)
            if inst is None:
                return False
            inst["status"] = status
            self._bump(svc)
            return True

    def deregister(self, svc, sid):
        with self.cond:
            if self.services.get(svc, {}).pop(sid, None) is None:
                return False
            self._bump(svc)
            return True

    def current_index(self, svc):
        # Consul gives an unknown service the store's index, never 0.
        return self.svc_index.get(svc, self.index)

    def query(self, svc, index, wait, passing, tag):
        deadline = time.monotonic() + wait
        with self.cond:
            while (index > 0 and self.current_index(svc) <= index
                   and not self.garbage_index):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            out = []
            for sid, inst in sorted(self.services.get(svc, {}).items()):
                if passing and inst["status"] != "passing":
                    continue
                if tag and tag not in inst["tags"]:
                    continue
                out.append(self.entry(svc, sid, inst))
            if self.garbage_index:
                return "garbage", out
            return self.current_index(svc), out

    def entry(self, svc, sid, inst):
        node = "node-" + sid
        return {
            "Node": {"ID": "", "Node": node, "Address": inst["address"],
                     "Datacenter": self.dc, "TaggedAddresses": None,
                     "Meta": None},
            "Service": {"ID": sid, "Service": svc, "Tags": inst["tags"],
                        "Address": inst["address"], "Port": inst["port"],
                        "Meta": None},
            "Checks": [
                {"Node": node, "CheckID": "serfHealth",
                 "Name": "Serf Health Status", "Status": "passing",
                 "ServiceID": "", "ServiceName": ""},
                {"Node": node, "CheckID": "service:" + sid,
                 "Name": "Service '%s' check" % svc,
                 "Status": inst["status"], "ServiceID": sid,
                 "ServiceName": svc},
            ],
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-standin"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, headers=None, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def split(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        return urllib.parse.unquote(u.path), q

    def do_GET(self):
        path, q = self.split()
        cat = self.server.catalog
        if path == "/_ctl/requests":
            with cat.cond:
                return self.send(200, json.dumps(cat.requests))
        m = re.fullmatch(r"/v1/health/service/([^/]+)", path)
        if not m:
            return self.send(404, "404 page not found\n", ctype="text/plain")
        with cat.cond:
            cat.requests.append({"path": self.path,
                                 "token": self.headers.get("X-Consul-Token"),
                                 "via": self.headers.get("Via")})
        tok = self.headers.get("X-Consul-Token") or q.get("token", [""])[0]
        if self.server.token is not None and tok != self.server.token:
            return self.send(403, "ACL not found", ctype="text/plain")
        dc = q.get("dc", [""])[0]
        if dc and dc != cat.dc:
            return self.send(500, "No path to datacenter",
                             ctype="text/plain")
        try:
            index = int(q.get("index", ["0"])[0] or 0)
        except ValueError:
            return self.send(400, "Invalid index", ctype="text/plain")
        wait = DEFAULT_WAIT
        if "wait" in q:
            wait = parse_wait(q["wait"][0])
            if wait is None:
                return self.send(400, "Invalid wait time",
                                 ctype="text/plain")
        passing = "passing" in q and q["passing"][0] not in ("0", "false")
        idx, out = cat.query(m.group(1), index, wait, passing,
                             q.get("tag", [""])[0])
        self.send(200, json.dumps(out), {
            "X-Consul-Index": str(idx),
            "X-Consul-KnownLeader": "true",
            "X-Consul-LastContact": "0",
        })

    def do_PUT(self):
        path, q = self.split()
        cat = self.server.catalog
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if path == "/_ctl/_mode":
            with cat.cond:
                cat.garbage_index = q.get("index", [""])[0] == "garbage"
                cat.cond.notify_all()
            return self.send(200, "true")
        m = re.fullmatch(r"/_ctl/([^/]+)/([^/]+)/(passing|critical|warning)",
                         path)
        if m:
            ok = cat.set_status(m.group(1), m.group(2), m.group(3))
            return self.send(200 if ok else 404, "true" if ok else "false")
        m = re.fullmatch(r"/_ctl/([^/]+)/([^/]+)", path)
        if not m:
            return self.send(404, "false")
        tags = [t for t in q.get("tags", [""])[0].split(",") if t]
        cat.register(m.group(1), m.group(2), q.get("address", [""])[0],
                     int(q.get("port", ["0"])[0]), tags)
        self.send(200, "true")

    def do_DELETE(self):
        path, _ = self.split()
        m = re.fullmatch(r"/_ctl/([^/]+)/([^/]+)", path)
        ok = bool(m) and self.server.catalog.deregister(m.group(1),
                                                        m.group(2))
        self.send(200 if ok else 404, "true" if ok else "false")


def parse_service(spec):
    """NAME=ID@ADDR:PORT[,ID@ADDR:PORT...]"""
    name, _, rest = spec.partition("=")
    out = []
    for item in rest.split(","):
        sid, _, hp = item.partition("@")
        addr, _, port = hp.rpartition(":")
        out.append((name, sid, addr.strip("[]"), int(port)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--token")
    ap.add_argument("--dc", default="dc1")
    ap.add_argument("--service", action="append", default=[])
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    cat = Catalog(a.dc)
    for spec in a.service:
        for svc, sid, addr, p in parse_service(spec):
            cat.register(svc, sid, addr, p)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.catalog = cat
    srv.token = a.token
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    print("ready %d" % srv.server_address[1] if int(port) == 0 else "ready",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except (SystemExit, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
