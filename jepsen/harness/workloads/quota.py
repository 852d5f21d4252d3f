"""(c) Cluster-wide quota through Raft leases (docs/fault-injection.md 4.4c).

Route /limited (service jquota, the fake upstream) carries rate-limiting
{policy: cluster, second: L, limit_by: ip}: every client comes from
10.77.0.100, so the whole offered load (250 req/s over six workers, two
pinned to each node) shares one key and the limit binds.  An admitted
answer is 200 with `X-Raftgate-Quota: node=nK;lease=<id>;window=<epoch>`,
a refusal 429 (an ok op, not an error).  Checked by checkers/quota.py:
c1 envelope, c2 accounting against the sampled lease tables
(GET /status quota.leases), c3 minority stops, c4 utilization.

Feature detection (until `policy: cluster` leases land, and on any binary
without them): the plugin write refused (400), a /status without `quota`,
or admitted answers without X-Raftgate-Quota make every verdict SKIPPED
with the reason; never PASS.
"""

import time

from harness.checkers import quota as qc
from harness.workloads import common

SERVICE = 'jquota'
ROUTE = 'jquota-limited'
PATH = '/limited'
PLUGIN_ID = '6a7e0f11-0000-4000-8000-00000000c0de'
TIMEOUT = 1.0
HEADER_WAIT_S = 3.0     # header-less 200s before "no header" is believed
CHECKS = ['c1/quota-envelope', 'c2/quota-accounting', 'c3/minority-stops',
          'c4/quota-utilization']


class Quota:
    name = 'quota'

    def __init__(self, rate=250, workers=6, limit=100, window='second',
                 slack=0, proc_base=300):
        self.rate = rate
        self.workers = workers
        self.limit = limit
        self.window = window
        self.W = {'second': 1, 'minute': 60, 'hour': 3600}[window]
        self.slack = slack      # S: 0, unused tokens are forfeited
        self.procs = common.Procs(proc_base, workers)
        self.skip = None
        self.t_run = (0, 0)
        self.t_span = None

    def plugin(self):
        return {'name': 'rate-limiting', 'route': {'name': ROUTE},
                'config': {self.window: self.limit, 'policy': 'cluster',
                           'limit_by': 'ip', 'fault_tolerant': False}}

    def setup(self, ctx):
        up = getattr(ctx, 'upstreams', None)
        if not up:
            from harness import ctx as ctxmod
            up = ctxmod.UPSTREAMS
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' + SERVICE,
                           {'name': SERVICE, 'url': 'http://%s:%d' % up[0]})
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/routes/' + ROUTE,
                           {'name': ROUTE, 'paths': [PATH],
                            'service': {'name': SERVICE}})
        st, body = common.put_plugin(ctx, PLUGIN_ID, self.plugin())
        if st not in (200, 201):
            self.skip = ('rate-limiting policy: cluster refused by this '
                         'binary (HTTP %s: %s)' % (st, body[:120]))
            return
        sts = [ctx.status(n) for n in ctx.nodes]
        if not any(s and isinstance(s.get('quota'), dict) for s in sts):
            self.skip = ('GET /status has no quota field: this binary has '
                         'no cluster leases (policy: cluster counts per '
                         'node)')
            return
        # every node routes it, and an admitted answer names its lease.
        # A node may answer 200 without the header for a moment after the
        # plugin write (its data plane not rebuilt yet): a header-less 200
        # is final only after HEADER_WAIT_S more of them.
        end = time.monotonic() + 10
        seen = {}
        for n in ctx.nodes:
            first = None
            while time.monotonic() < end:
                try:
                    code, h, _ = ctx.http(n, 'GET', PATH, timeout=TIMEOUT,
                                          port='proxy')
                except OSError:
                    code, h = None, {}
                if code == 200:
                    seen[n.name] = h.get('x-raftgate-quota')
                    if seen[n.name]:
                        break
                    first = first or time.monotonic()
                    if time.monotonic() - first >= HEADER_WAIT_S:
                        break
                if ctx.stop.wait(0.1):
                    return
        if seen and not any(seen.values()):
            self.skip = ('admitted answers carry no X-Raftgate-Quota '
                         'header: no cluster leases in this binary')

    def op(self, ctx, w):
        node = ctx.nodes[w % len(ctx.nodes)]
        proc = self.procs.get(w)
        op = ctx.history.invoke(proc, self.name, 'admit', node=node.name)
        try:
            st, h, _ = ctx.http(node, 'GET', PATH, timeout=TIMEOUT,
                                port='proxy')
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:80])
            if typ == 'info':
                self.procs.crashed(w)
            return
        if st == 200:
            ctx.history.complete(op, 'ok', http=st, quota=qc.parse_header(
                h.get('x-raftgate-quota')) or None)
        elif st == 429:
            ctx.history.complete(op, 'ok', http=st)     # a denial
        else:
            ctx.history.complete(op, 'fail', http=st)

    def run(self, ctx, stop):
        if self.skip:
            return
        t0 = time.monotonic()
        h0 = ctx.history.now()
        common.run_workers(self.name, self.workers, self.rate, stop,
                           lambda w: self.op(ctx, w))
        self.t_run = (t0, time.monotonic())
        self.t_span = (h0, ctx.history.now())

    def final(self, ctx):
        return None

    def check(self, ctx, history):
        if self.skip:
            return common.skipped(CHECKS, self.skip, 'c/quota (c1-c4)')
        evs = common.events_of(history)
        samples = common.load_samples(ctx)
        out = qc.check_all(evs, samples, ctx.faults(),
                           [n.name for n in ctx.nodes], self.limit, self.W,
                           S=self.slack, t_span=self.t_span)
        n = sum(1 for ev in evs if ev.get('wl') == self.name and
                ev.get('type') == 'invoke')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)
