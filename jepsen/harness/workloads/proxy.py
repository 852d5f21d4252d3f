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
