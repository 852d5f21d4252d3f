"""(d) Replicated circuit breaker (docs/fault-injection.md 4.4d).

Service `flaky` (the fake upstream at 10.77.0.64:8080, fakes/upstream.py)
with plugin circuit-breaker {failure_threshold 5, recovery_timeout 2 s,
half_open_requests 3, window 10 s}; route /flaky.  A cycler drives the
upstream through 5 s healthy / 4 s of 100% 500s (its /_ctl/mode control),
independent of the nemesis, and records each switch in the history (proc
nemesis, f upstream-mode; not a fault).  Probes: 30 req/s over three
workers, one pinned to each node; each answer records whether it came from
the upstream (its X-Upstream header) or from the gateway.  Checked by
checkers/breaker.py against the 10 Hz status samples (status.cb.flaky
{state, version}): d1..d5.  The upstream's /_ctl/stats (requests that
reached it, by status) is reported: the failures a dead upstream saw.

Feature detection: the plugin write refused (unknown plugin, 400), or no
status sample with cb.flaky over the whole run, makes every verdict
SKIPPED.
"""

import json
import threading
import time

from harness.checkers import breaker as bc
from harness.workloads import common

SERVICE = 'flaky'
ROUTE = 'jflaky'
PATH = '/flaky'
PLUGIN_ID = '6a7e0f11-0000-4000-8000-00000000cb01'
TIMEOUT = 1.0
CHECKS = ['d1/breaker-converged', 'd2/breaker-version-monotonic',
          'd3/breaker-one-sequence', 'd4/breaker-liveness',
          'd5/breaker-fast-503']
LABEL = 'd/breaker (d1-d5)'
CONFIG = {'failure_threshold': 5, 'recovery_timeout': 2,
          'half_open_requests': 3, 'window': 10}


def flaky_addr(ctx):
    a = getattr(ctx, 'flaky', None)
    if a:
        return a
    from harness import ctx as ctxmod
    return ctxmod.FLAKY[0]


class Breaker:
    name = 'breaker'

    def __init__(self, rate=30, workers=3, healthy_s=5.0, failing_s=4.0,
                 t_cb_s=5.0, proc_base=400, config=None):
        self.rate = rate
        self.workers = workers
        self.healthy_s = healthy_s
        self.failing_s = failing_s
        self.t_cb_s = t_cb_s
        self.config = dict(CONFIG, **(config or {}))
        self.procs = common.Procs(proc_base, workers)
        self.skip = None
        self.cycles = []
        self.stats = None
        self.t_run = (0, 0)

    def ctl(self, ctx, path):
        import http.client
        host, port = flaky_addr(ctx)
        c = http.client.HTTPConnection(host, port, timeout=2)
        try:
            c.request('GET', path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def setup(self, ctx):
        host, port = flaky_addr(ctx)
        self.ctl(ctx, '/_ctl/mode/ok')
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/services/' + SERVICE,
                           {'name': SERVICE,
                            'url': 'http://%s:%d' % (host, port)})
        common.setup_retry(ctx, ctx.nodes, 'PUT', '/routes/' + ROUTE,
                           {'name': ROUTE, 'paths': [PATH],
                            'service': {'name': SERVICE}})
        st, body = common.put_plugin(ctx, PLUGIN_ID, {
            'name': 'circuit-breaker', 'service': {'name': SERVICE},
            'config': self.config})
        if st not in (200, 201):
            self.skip = ('plugin circuit-breaker refused by this binary '
                         '(HTTP %s: %s)' % (st, body[:120]))
            return
        end = time.monotonic() + 10
        for n in ctx.nodes:
            while time.monotonic() < end:
                try:
                    code, _, _ = ctx.http(n, 'GET', PATH, timeout=TIMEOUT,
                                          port='proxy')
                except OSError:
                    code = None
                if code == 200:
                    break
                if ctx.stop.wait(0.1):
                    return
        # status.cb.flaky may appear only with the first transition: its
        # absence is judged over the whole run, in check()

    def probe(self, ctx, w):
        node = ctx.nodes[w % len(ctx.nodes)]
        proc = self.procs.get(w)
        op = ctx.history.invoke(proc, self.name, 'probe', node=node.name)
        try:
            st, h, _ = ctx.http(node, 'GET', PATH, timeout=TIMEOUT,
                                port='proxy')
        except OSError as e:
            typ = common.exc_outcome(e)
            ctx.history.complete(op, typ, err=repr(e)[:80])
            if typ == 'info':
                self.procs.crashed(w)
            return
        # every answer is an ok op: the status is what is checked
        ctx.history.complete(op, 'ok', http=st, up='x-upstream' in h)

    def cycler(self, ctx, stop):
        mode = 'ok'
        nxt = time.monotonic() + self.healthy_s
        for _ in range(100000):
            if stop.wait(max(0.0, nxt - time.monotonic())):
                break
            mode = '500' if mode == 'ok' else 'ok'
            try:
                self.ctl(ctx, '/_ctl/mode/' + mode)
            except OSError as e:
                ctx.history.nemesis('upstream-mode', {'mode': mode,
                                                      'err': repr(e)[:80]})
                continue
            t = ctx.history.now()
            ctx.history.nemesis('upstream-mode', {'mode': mode})
            if mode == '500':
                self.cycles.append({'fail': t, 'heal': None})
            elif self.cycles:
                self.cycles[-1]['heal'] = t
            nxt += self.failing_s if mode == '500' else self.healthy_s
        try:
            self.ctl(ctx, '/_ctl/mode/ok')
        except OSError:
            pass

    def run(self, ctx, stop):
        if self.skip:
            return
        t0 = time.monotonic()
        cy = threading.Thread(target=self.cycler, args=(ctx, stop),
                              name='breaker-cycler', daemon=True)
        cy.start()
        common.run_workers(self.name, self.workers, self.rate, stop,
                           lambda w: self.probe(ctx, w))
        cy.join(timeout=10)
        self.t_run = (t0, time.monotonic())

    def final(self, ctx):
        if self.skip:
            return None
        try:
            st, body = self.ctl(ctx, '/_ctl/stats')
            self.stats = json.loads(body) if st == 200 else None
        except (OSError, ValueError):
            self.stats = None
        return self.stats

    def check(self, ctx, history):
        if self.skip:
            return common.skipped(CHECKS, self.skip, LABEL)
        evs = common.events_of(history)
        probes = [ev for ev in evs if ev.get('wl') == self.name]
        samples = common.load_samples(ctx)
        if not bc.has_field(samples, SERVICE):
            return common.skipped(CHECKS, 'no GET /status sample had cb.%s '
                                  '{state, version} over the run: no '
                                  'replicated breaker state in this binary'
                                  % SERVICE, LABEL)
        out = bc.check_all(samples, ctx.faults(),
                           self.cycles, probes, [n.name for n in ctx.nodes],
                           SERVICE, self.config['window'],
                           self.config['recovery_timeout'], self.t_cb_s)
        if self.stats:
            served = self.stats.get('served') or {}
            out.append({'name': 'd/upstream-failures', 'verdict': 'INFO',
                        'summary': '%s 500s reached the flaky upstream over '
                                   '%d failure cycles (threshold %d; goal '
                                   'about threshold a cycle, not 3x); %s '
                                   '200s' % (served.get('500', 0),
                                             len(self.cycles),
                                             self.config['failure_threshold'],
                                             served.get('200', 0)),
                        'witness': None})
        n = sum(1 for ev in probes if ev.get('type') == 'invoke')
        return common.rate_guard(out, n, self.t_run[1] - self.t_run[0],
                                 self.rate, self.name)
