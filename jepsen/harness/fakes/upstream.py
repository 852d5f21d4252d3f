"""Fake upstream: a threaded HTTP server answering 200 on every address
given (docs/fault-injection.md 4.1).  Run in the client netns by the harness:

    python3 -m harness.fakes.upstream 10.77.0.61:8080 10.77.0.62:8080 ...

Every response is 200 with a small JSON body naming the instance, the
method and the path; /_ctl/mode/<ok|500|hang|slow> switches the
instance's behaviour (the breaker workload cycles an instance through ok
and 500), and /_ctl/stats answers {"mode", "served": {status: count}}:
how many requests reached the instance by the status it gave (how many
failures got past the gateway's breaker).  Exits on SIGTERM or after
--lifetime seconds.
"""

import http.server
import json
import signal
import socketserver
import sys
import threading
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def make_handler(name, state):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        # Headers and body go out in two writes: with Nagle the body waits
        # for the gateway's delayed ACK, 40 ms a response on keep-alive.
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def _answer(self):
            n = int(self.headers.get('Content-Length') or 0)
            if n:
                self.rfile.read(min(n, 1 << 20))
            if self.path.startswith('/_ctl/mode/'):
                state['mode'] = self.path.rsplit('/', 1)[1]
                code = 200
            elif self.path == '/_ctl/stats':
                with state['lock']:
                    body = json.dumps({'mode': state['mode'],
                                       'served': dict(state['served'])})
                body = body.encode() + b'\n'
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            else:
                mode = state['mode']
                if mode == 'hang':
                    time.sleep(30)
                elif mode == 'slow':
                    time.sleep(0.5)
                code = 500 if mode == '500' else 200
                with state['lock']:
                    state['served'][code] = state['served'].get(code, 0) + 1
            body = json.dumps({'upstream': name, 'method': self.command,
                               'path': self.path}).encode() + b'\n'
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.send_header('X-Upstream', name)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer
    return H


def main(argv):
    lifetime = 3600.0
    addrs = []
    i = 0
    while i < len(argv):
        if argv[i] == '--lifetime':
            lifetime = float(argv[i + 1])
            i += 2
            continue
        addrs.append(argv[i])
        i += 1
    servers = []
    for a in addrs:
        host, port = a.rsplit(':', 1)
        srv = Server((host, int(port)), make_handler(a, {'mode': 'ok', 'served': {},
                                               'lock': threading.Lock()}))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    print('upstream: listening on %s' % ' '.join(addrs), flush=True)
    done.wait(lifetime)
    for s in servers:
        s.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
