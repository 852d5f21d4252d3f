"""The breaker workload end to end against a simulated replicated breaker
(no root, no raftgate): cycler -> probes -> samples -> checkers, with the
cycle and the breaker's timings shrunk to fractions of a second.  A
breaker whose transitions every node applies in one sequence passes
d1-d5; one node that applies a stale transition late (its version goes
back) fails d2; a breaker that lets requests through while open fails
d5."""

import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness.history import History  # noqa: E402
from harness.workloads import breaker as wb  # noqa: E402


class Node:
    def __init__(self, k):
        self.id, self.name = k, 'n%d' % k


class Sim:
    """One breaker, replicated: transitions get increasing versions and
    every node sees them at once (n3 late and with a stale step when
    @rollback).  @leaky: open lets requests through to the upstream."""

    def __init__(self, threshold=3, recovery_s=0.3, half_open=2,
                 rollback=False, leaky=False):
        self.lock = threading.Lock()
        self.mode = 'ok'
        self.state, self.version = 'closed', 1
        self.fails = 0
        self.opened = 0.0
        self.trials = 0
        self.th, self.rec, self.ho = threshold, recovery_s, half_open
        self.rollback, self.leaky = rollback, leaky
        self.history = [(0.0, 'closed', 1)]

    def _go(self, state):
        self.version += 1
        self.state = state
        self.history.append((time.monotonic(), state, self.version))

    def request(self):
        with self.lock:
            now = time.monotonic()
            if self.state == 'open' and now - self.opened >= self.rec:
                self._go('half_open')
                self.trials = 0
            if self.state == 'open' and not self.leaky:
                return 503, False
            ok = self.mode == 'ok'
            if self.state == 'half_open':
                if not ok:
                    self._go('open')
                    self.opened = now
                else:
                    self.trials += 1
                    if self.trials >= self.ho:
                        self._go('closed')
                        self.fails = 0
            elif self.state == 'closed':
                self.fails = 0 if ok else self.fails + 1
                if self.fails >= self.th:
                    self._go('open')
                    self.opened = now
            return (200 if ok else 500), True

    def view(self, node):
        with self.lock:
            if self.rollback and node == 'n3' and len(self.history) > 3:
                # n3 shows the previous transition again now and then
                if int(time.monotonic() * 10) % 7 == 0:
                    _, st, v = self.history[-2]
                    return st, v
            return self.state, self.version


class Ctx:
    def __init__(self, sim, hist):
        self.nodes = [Node(k) for k in (1, 2, 3)]
        self.sim = sim
        self.history = hist
        self.stop = threading.Event()
        self.flaky = ('127.0.0.1', 9)
        self.caps = {}
        self.samples = []
        self.sampler = type('S', (), {'get': lambda s: list(
            self.samples)})()

    def http(self, node, method, path, body=None, timeout=2.0,
             port='admin', headers=None):
        if port != 'proxy':
            return 200, {}, b'{}'
        code, up = self.sim.request()
        return code, ({'x-upstream': 'flaky'} if up else {}), b''

    def status(self, node, timeout=1.0):
        st, v = self.sim.view(node.name)
        return {'incarnation': 'a', 'cb': {'flaky': {'state': st,
                                                     'version': v}}}

    def faults(self):
        return []

    def sample_loop(self):
        while not self.stop.wait(0.02):
            for n in self.nodes:
                self.samples.append({'t': self.history.now(),
                                     'node': n.name,
                                     'status': self.status(n)})


def run(**kw):
    d = tempfile.mkdtemp(prefix='rgj-bp-')
    hist = History(os.path.join(d, 'history.jsonl'))
    sim = Sim(**kw)
    ctx = Ctx(sim, hist)
    b = wb.Breaker(rate=90, workers=3, healthy_s=0.6, failing_s=0.5,
                   t_cb_s=0.5, config={'failure_threshold': 3,
                                       'recovery_timeout': 0.3,
                                       'half_open_requests': 2,
                                       'window': 1})

    def ctl(ctx_, path):
        if path.startswith('/_ctl/mode/'):
            sim.mode = path.rsplit('/', 1)[1]
        return 200, b'{"served": {"500": 3}}'
    b.ctl = ctl
    b.setup(ctx)
    assert b.skip is None, b.skip
    smp = threading.Thread(target=ctx.sample_loop, daemon=True)
    smp.start()
    t = threading.Thread(target=b.run, args=(ctx, ctx.stop))
    t.start()
    time.sleep(3.6)
    ctx.stop.set()
    t.join()
    smp.join()
    b.final(ctx)
    hist.close()
    import shutil
    shutil.rmtree(d, ignore_errors=True)
    return {r['name']: r for r in b.check(ctx, hist)}, b


class Pipeline(unittest.TestCase):
    def test_consistent_breaker_passes(self):
        r, b = run()
        self.assertGreaterEqual(len(b.cycles), 2)
        for k in wb.CHECKS:
            self.assertEqual(r[k]['verdict'], 'PASS', (k, r[k]))
        self.assertEqual(r['d/upstream-failures']['verdict'], 'INFO')

    def test_rollback_fails(self):
        r, _ = run(rollback=True)
        self.assertEqual(r['d2/breaker-version-monotonic']['verdict'],
                         'FAIL', r['d2/breaker-version-monotonic'])

    def test_leaky_open_fails(self):
        r, _ = run(leaky=True)
        self.assertEqual(r['d5/breaker-fast-503']['verdict'], 'FAIL',
                         r['d5/breaker-fast-503'])


if __name__ == '__main__':
    unittest.main()
