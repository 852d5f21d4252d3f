"""(e) Proxying availability (docs/fault-injection.md 4.4e): GET /jecho through each
node's proxy port at rate/3 per node (one worker pinned to each node),
proxied to the fake upstream.  Checked by checkers/avail.py per node and
phase."""

import time

from harness.checkers import avail
from harness.workloads import common

SERVICE = 'jecho'
PATH = '/jecho'
TIMEOUT = 1.0


class Proxy:
    name = 'proxy'

    def __init__(self, rate=60, workers=3, election_timeout_s=1.0,
                 proc_base=200):
        self.rate = rate
        self.workers = workers
        self.election_timeout_s = election_timeout_s
        self.procs = common.Procs(proc_base, workers)
        self.t_run = (0, 0)

    def setup(self, ctx):
        up = getattr(ctx, 'upstreams', None)
        if not up:
            from harness import ctx as ctxmod
            up = getattr(ctxmod, 'UPSTREAMS', None)
        url = 'http://%s:%d' % up[0]
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' + SERVICE,
                           {'name': SERVICE, 'url': url})
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/routes/' + SERVICE,
                           {'name': SERVICE, 'paths': [PATH],
                            'service': {'name': SERVICE}})
        # every node must route it before the run starts
        end = time.monotonic() + 10
        for n in ctx.nodes:
            while time.monotonic() < end:
                try:
                    st, _, _ = ctx.http(n, 'GET', PATH, timeout=TIMEOUT,
                                        port='proxy')
                    if st == 200:
                        break
                except OSError:
                    pass
                if ctx.stop.wait(0.1):
                    return

    def op(self, ctx, w):
        node = ctx.nodes[w % len(ctx.nodes)]
        proc = self.procs.get(w)
        op = ctx.history.invoke(proc, self.name, 'get', node=node.name)
        try:
            st, _, _ = ctx.http(node, 'GET', PATH, timeout=TIMEOUT,
                                port='proxy')
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:80])
            if typ == 'info':
                self.procs.crashed(w)
            return
        ctx.history.complete(op, 'ok' if 200 <= st < 300 else 'fail',
                             http=st)

    def run(self, ctx, stop):
        t0 = time.monotonic()
        common.run_workers(self.name, self.workers, self.rate, stop,
                           lambda w: self.op(ctx, w))
        self.t_run = (t0, time.monotonic())

    def final(self, ctx):
        return None

    def check(self, ctx, history):
        evs = common.events_of(history)
        out = [avail.check(evs, ctx.faults(), [n.name for n in ctx.nodes],
                           election_timeout_s=self.election_timeout_s)]
        n = sum(1 for ev in evs if ev.get('wl') == self.name and
                ev.get('type') == 'invoke')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)


CONSUL_SERVICE = 'jconsul'
CONSUL_PATH = '/jconsul'
CONSUL_HOST = 'echo.service.consul'
# minority-side and majority-side alike: a node cut off from Consul keeps
# its last discovery answer (docs/fault-injection.md 4.4e)
CONSUL_GATES = {'healthy': 0.999, 'majority-side': 0.95,
                'minority-side': 0.95}


def watch_states(samples, faults):
    """For each isolate-from-consul fault: how the cut node's Consul watch
    (GET /status consul[]: state, since_ms = since its last good answer)
    felt the cut: the longest time without an answer and when it turned
    stale, if it did, while routing went on from the last good answer:
    ['n1 watch: no answer for 13.9 s, stale after 12.1 s', ...]."""
    out = []
    for f in faults:
        if 'consul' not in str(f.get('kind', '')):
            continue
        v = f.get('value') or {}
        t0 = v.get('t_apply', f['start'])
        t1 = f.get('end') or float('inf')
        for node in v.get('consul_cut') or f.get('nodes') or []:
            stale = None
            longest = 0
            for s in samples:
                if s.get('node') != node or not (t0 <= s['t'] <= t1):
                    continue
                for w in (s.get('status') or {}).get('consul') or []:
                    if not isinstance(w, dict):
                        continue
                    if isinstance(w.get('since_ms'), (int, float)):
                        longest = max(longest, w['since_ms'])
                    if stale is None and w.get('state') not in (None, 'ok'):
                        stale = (s['t'], w.get('state'))
            out.append('%s watch: no answer for %.1f s, %s' % (
                node, longest / 1000.0, 'never stale' if stale is None else
                '%s after %.1f s' % (stale[1], (stale[0] - t0) / 1e9)))
    return out


class ProxyConsul(Proxy):
    """(e) The proxy workload's Consul variant: service jconsul's host is
    echo.service.consul, which each node resolves through the Consul
    stand-in at 10.77.0.50:8500 (instances .61-.63:8080, the fake
    upstreams); GET /jconsul through every node.  The isolate-from-consul
    nemesis cuts one node off from Consul: its routes must keep working
    from the last discovery answer (>= 95%).  SKIPPED when the binary has
    no Consul discovery (it refuses --consul) or the stand-in did not
    start."""
    name = 'proxy-consul'

    def __init__(self, rate=30, workers=3, election_timeout_s=1.0,
                 proc_base=500):
        super().__init__(rate=rate, workers=workers,
                         election_timeout_s=election_timeout_s,
                         proc_base=proc_base)
        self.skip = None
        self.setup_error = None

    def setup(self, ctx):
        caps = getattr(ctx, 'caps', None) or {}
        if not caps.get('consul'):
            self.skip = caps.get('consul_why') or (
                'no Consul discovery in this binary (--consul refused)')
            return
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' +
                           CONSUL_SERVICE,
                           {'name': CONSUL_SERVICE,
                            'url': 'http://%s' % CONSUL_HOST})
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/routes/' +
                           CONSUL_SERVICE,
                           {'name': CONSUL_SERVICE, 'paths': [CONSUL_PATH],
                            'service': {'name': CONSUL_SERVICE}})
        end = time.monotonic() + 15
        for n in ctx.nodes:
            st = None
            while time.monotonic() < end:
                try:
                    st, _, _ = ctx.http(n, 'GET', CONSUL_PATH,
                                        timeout=TIMEOUT, port='proxy')
                except OSError:
                    st = None
                if st == 200:
                    break
                if ctx.stop.wait(0.2):
                    return
            if st != 200:
                self.setup_error = ('%s never answered 200 on %s within '
                                    '15 s (last %s)' % (n.name, CONSUL_PATH,
                                                        st))
                return

    def op(self, ctx, w):
        node = ctx.nodes[w % len(ctx.nodes)]
        proc = self.procs.get(w)
        op = ctx.history.invoke(proc, self.name, 'get', node=node.name)
        try:
            st, _, _ = ctx.http(node, 'GET', CONSUL_PATH, timeout=TIMEOUT,
                                port='proxy')
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:80])
            if typ == 'info':
                self.procs.crashed(w)
            return
        ctx.history.complete(op, 'ok' if 200 <= st < 300 else 'fail',
                             http=st)

    def run(self, ctx, stop):
        if self.skip or self.setup_error:
            return
        super().run(ctx, stop)

    def check(self, ctx, history):
        name = 'e/proxy-consul-availability'
        if self.skip:
            return common.skipped([name], self.skip)
        if self.setup_error:
            return [{'name': name, 'verdict': 'FAIL',
                     'summary': 'setup: ' + self.setup_error,
                     'witness': None}]
        evs = common.events_of(history)
        faults = ctx.faults()
        out = [avail.check(evs, faults, [n.name for n in ctx.nodes],
                           election_timeout_s=self.election_timeout_s,
                           name=name, gates=CONSUL_GATES, wl=self.name)]
        seen = watch_states(common.load_samples(ctx), faults)
        if seen:
            out[0]['summary'] += '; cut from Consul: ' + ', '.join(seen)
        n = sum(1 for ev in evs if ev.get('wl') == self.name and
                ev.get('type') == 'invoke')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)
