"""Minimal Consul health API stand-in for the jepsen suite, used only
until the project's own tests/consul_standin.py exists (the harness
prefers that file).  Same command line:

    python3 -m harness.fakes.consul --listen HOST:PORT [--token T]
        [--service NAME=ID@ADDR:PORT[,ID@ADDR:PORT...]] ...

  GET /v1/health/service/NAME[?passing=1][&index=I][&wait=5s][&tag=T]
      -> [{Node: {Node, Address}, Service: {ID, Service, Address, Port,
           Tags}, Checks: [{Status}]}], header X-Consul-Index; with index
      equal to the current one the answer waits for a change or `wait`
      (default 5 m, at most 10 m), as Consul's blocking queries do.
  PUT /_ctl/NAME/ID/passing|critical  -> 200, bumps the index.
With --token every API call needs X-Consul-Token or ?token= (403
otherwise).  Prints `ready` once listening; exits on SIGTERM.
"""

import http.server
import json
import re
import signal
import socketserver
import sys
import threading
import urllib.parse


class State:
    def __init__(self):
        self.cond = threading.Condition()
        self.index = 1
        self.svcs = {}          # name -> {id: {addr, port, status}}

    def add(self, spec):
        name, _, insts = spec.partition('=')
        for inst in insts.split(','):
            if not inst:
                continue
            iid, _, ap = inst.partition('@')
            addr, _, port = ap.rpartition(':')
            self.svcs.setdefault(name, {})[iid] = {
                'addr': addr, 'port': int(port), 'status': 'passing'}

    def set(self, name, iid, status):
        with self.cond:
            inst = self.svcs.get(name, {}).get(iid)
            if inst is None:
                return False
            if inst['status'] != status:
                inst['status'] = status
                self.index += 1
                self.cond.notify_all()
            return True

    def answer(self, name, passing, tag):
        out = []
        for iid, inst in sorted(self.svcs.get(name, {}).items()):
            if passing and inst['status'] != 'passing':
                continue
            if tag:
                continue        # no tags in the stand-in
            out.append({'Node': {'Node': 'node-' + iid,
                                 'Address': inst['addr']},
                        'Service': {'ID': iid, 'Service': name,
                                    'Address': inst['addr'],
                                    'Port': inst['port'], 'Tags': []},
                        'Checks': [{'Status': inst['status'],
                                    'ServiceID': iid}]})
        return out


def wait_s(v):
    m = re.fullmatch(r'(\d+(?:\.\d+)?)(ms|s|m)?', v or '')
    if not m:
        return 300.0
    x = float(m.group(1))
    x = {'ms': x / 1000, 'm': x * 60}.get(m.group(2), x)
    return min(x, 600.0)


def handler(state, token):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def send(self, code, body, index=None):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            if index is not None:
                self.send_header('X-Consul-Index', str(index))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(u.query))
            if token and self.headers.get('X-Consul-Token',
                                          q.get('token')) != token:
                return self.send(403, 'ACL not found')
            m = re.fullmatch(r'/v1/health/service/([^/]+)', u.path)
            if not m:
                return self.send(404, 'not found')
            name = m.group(1)
            passing = q.get('passing') not in (None, '0', 'false')
            with state.cond:
                if 'index' in q:
                    try:
                        idx = int(q['index'])
                    except ValueError:
                        idx = 0
                    if idx >= state.index:
                        state.cond.wait_for(lambda: state.index > idx,
                                            wait_s(q.get('wait')))
                body = state.answer(name, passing, q.get('tag'))
                index = state.index
            self.send(200, body, index)

        def do_PUT(self):
            n = int(self.headers.get('Content-Length') or 0)
            if n:
                self.rfile.read(min(n, 1 << 16))
            m = re.fullmatch(r'/_ctl/([^/]+)/([^/]+)/(passing|critical)',
                             self.path)
            if not m:
                return self.send(404, 'not found')
            if not state.set(m.group(1), m.group(2), m.group(3)):
                return self.send(404, 'no such instance')
            self.send(200, {'index': state.index})
    return H


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    listen, token = '127.0.0.1:8500', None
    state = State()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ('--listen', '--token', '--service') and i + 1 < len(argv):
            v = argv[i + 1]
            if a == '--listen':
                listen = v
            elif a == '--token':
                token = v
            else:
                state.add(v)
            i += 2
            continue
        print('usage: consul --listen HOST:PORT [--token T] '
              '[--service NAME=ID@ADDR:PORT[,...]]', file=sys.stderr)
        return 2
    host, _, port = listen.rpartition(':')
    srv = Server((host, int(port)), handler(state, token))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print('ready', flush=True)
    done.wait()
    srv.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
