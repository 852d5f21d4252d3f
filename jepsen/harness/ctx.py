"""The interface between the harness and the workloads/checkers.

Stable contract (jepsen/notes: issue4.md):

    class Node:  name ('n1'), id (1), ip ('10.77.0.1'),
                 admin (('10.77.0.1', 8001)), proxy (('10.77.0.1', 8000)),
                 status_addr (('10.77.0.1', 8100))
    UPSTREAMS = [('10.77.0.61', 8080), ...]  fake upstream instances (200 OK)
    FLAKY = [('10.77.0.64', 8080)]  the breaker workload's upstream
    CONSUL = ('10.77.0.50', 8500)   the Consul stand-in
    class Ctx:
        nodes: list[Node]; rng: random.Random; store: str (run dir);
        time_scale: float; history: History; stop: threading.Event;
        test: str (test name); seed
        caps: the run's capabilities ({'consul': bool, ...}); sampler:
              the status sampler (get() -> samples) or None
        heal_t: history time (ns) of the final heal (step 4: heal all,
                restart dead nodes, the final kill-all and restart), set
                by the harness before the workloads' final(); else None
        http(node, method, path, body=None, headers=None, timeout=2.0,
             port='admin'|'proxy'|'status')
            -> (status:int, headers:dict lower-case, body:bytes)
            raises OSError / TimeoutError (socket.timeout) on failure
        status(node) -> dict from GET /status on the admin port, or None
        faults() -> [{'kind','start','end','nodes':{...},'value':{...}}]
                    from the nemesis log (t in ns, end None while open)
        sleep_until(t_mono)   # time.monotonic() seconds; wakes early on stop
        node(name) -> Node

History (history.py):
    op = history.invoke(proc, wl, f, node=None, **fields)  -> dict i,t,...
    history.complete(op, type, **fields)   # type ok/fail/info
    history.nemesis(f, value) ; history.events() -> list of dicts

Nemesis events in the history: proc 'nemesis', f 'start-<kind>' with
value {'kind', 'nodes': [...], ...} when a fault starts and f
'stop-<kind>' with the same 'id' when it heals.  faults() pairs them.

All traffic from this process goes out of the client netns (the harness
enters it before starting any thread), so plain sockets to 10.77.0.K work.
"""

import http.client
import json
import random
import threading
import time

ADMIN_PORT = 8001
PROXY_PORT = 8000
STATUS_PORT = 8100
RAFT_PORT = 9000
NET = '10.77.0'
# fake upstreams (fakes/upstream.py) in the client netns, answering 200
UPSTREAMS = [('10.77.0.61', 8080), ('10.77.0.62', 8080), ('10.77.0.63', 8080)]
# instances of service flaky (breaker workload), switched by /_ctl/mode
FLAKY = [('10.77.0.64', 8080)]
# the Consul stand-in (docs/fault-injection.md 4.2), in the client netns
CONSUL = ('10.77.0.50', 8500)


class Node:
    def __init__(self, k, net=NET):
        self.id = k
        self.name = 'n%d' % k
        self.ip = '%s.%d' % (net, k)
        self.admin = (self.ip, ADMIN_PORT)
        self.proxy = (self.ip, PROXY_PORT)
        self.status_addr = (self.ip, STATUS_PORT)
        self.raft = (self.ip, RAFT_PORT)

    def __repr__(self):
        return 'Node(%s)' % self.name


class Ctx:
    def __init__(self, nodes, history, store, seed=0, time_scale=1.0,
                 test='', token=None):
        self.nodes = nodes
        self.history = history
        self.store = store
        self.seed = seed
        self.rng = random.Random(seed)
        self.time_scale = time_scale
        self.test = test
        self.stop = threading.Event()
        self.token = token
        self.procs = None       # set by the harness (procs.Cluster)
        self.heal_t = None      # set by the harness after the final heal
        self.caps = {}          # capabilities (consul, test_build, ...)
        self.sampler = None     # the test's status sampler, when running

    def node(self, name):
        for n in self.nodes:
            if n.name == name or n.id == name:
                return n
        raise KeyError(name)

    def http(self, node, method, path, body=None, headers=None,
             timeout=2.0, port='admin'):
        if isinstance(node, str):
            node = self.node(node)
        addr = {'admin': node.admin, 'proxy': node.proxy,
                'status': node.status_addr}[port]
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault('Content-Type', 'application/json')
        elif isinstance(body, str):
            body = body.encode()
        if self.token and port == 'admin':
            hdrs.setdefault('Authorization', 'Bearer ' + self.token)
        conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            h = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, h, data
        except http.client.HTTPException as e:
            raise OSError('http: %s: %s' % (type(e).__name__, e)) from e
        finally:
            conn.close()

    def status(self, node, timeout=1.0):
        try:
            st, _, body = self.http(node, 'GET', '/status', timeout=timeout)
            if st != 200:
                return None
            return json.loads(body)
        except (OSError, ValueError):
            return None

    def faults(self):
        return faults_from_events(self.history.events())

    def sleep_until(self, t_mono):
        """Sleep until time.monotonic() >= t_mono or stop is set."""
        d = t_mono - time.monotonic()
        if d > 0:
            self.stop.wait(d)


def faults_from_events(events):
    """Pair nemesis start-X / stop-X events into fault intervals."""
    open_ = {}
    out = []
    for ev in events:
        if ev.get('proc') != 'nemesis':
            continue
        f = ev.get('f', '')
        v = ev.get('value') or {}
        if not isinstance(v, dict):
            continue
        if f.startswith('start-'):
            fid = v.get('id', f)
            rec = {'kind': v.get('kind', f[6:]), 'start': ev['t'],
                   'end': None, 'nodes': v.get('nodes', []), 'value': v}
            open_[fid] = rec
            out.append(rec)
        elif f.startswith('stop-'):
            fid = v.get('id', 'start-' + f[5:])
            rec = open_.pop(fid, None)
            if rec is not None:
                rec['end'] = ev['t']
    return out
