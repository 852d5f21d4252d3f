"""The quota workload end to end against a simulated leased limiter (no
root, no raftgate): workload -> history -> checkers.  A correct ledger
(leases of b tokens per window, unused tokens forfeited) passes c1 and c2;
the simulated --unsafe-lease-reclaim-early (a node hands back its unused
tokens when it asks for the next lease but keeps spending them) must FAIL
c1 or c2, and the harness's inversion turns that into
negative-control/quota PASS."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness import __main__ as hm  # noqa: E402
from harness.history import History  # noqa: E402
from harness.workloads import quota as wq  # noqa: E402


class Node:
    def __init__(self, k):
        self.id, self.name = k, 'n%d' % k


class Limiter:
    """A ledger per window granting leases of @b tokens.  A node spends
    its oldest lease and prefetches the next one at low water (2 tokens
    left).  unsafe: the prefetch hands the unspent rest back to the
    ledger, and the node spends it anyway."""

    def __init__(self, L, b=5, unsafe=False, window_s=0.25):
        self.L, self.b, self.unsafe, self.W = L, b, unsafe, window_s
        self.lock = threading.Lock()
        self.granted = {}       # window -> tokens granted
        self.leases = {}        # node -> [[id, window, tokens, used]]
        self.seq = 0
        self.samples = []

    def window(self):
        return int(time.time() / self.W)

    def admit(self, node, now_ns):
        with self.lock:
            w = self.window()
            mine = [ls for ls in self.leases.get(node, []) if ls[1] == w]
            left = sum(ls[2] - ls[3] for ls in mine)
            if left <= 2:
                g = self.granted.get(w, 0)
                n = min(self.b, self.L - g)
                if n > 0:
                    if self.unsafe:
                        g -= left           # handed back, still spent
                    self.granted[w] = g + n
                    self.seq += 1
                    ls = ['%s-%d' % (node, self.seq), w, n, 0]
                    mine.append(ls)
                    self.samples.append({'t': now_ns, 'node': node,
                                         'status': {'quota': {
                                             'lease_ms': 500, 'leases': [{
                                                 'id': ls[0], 'key': 'k',
                                                 'window': w, 'tokens': n,
                                                 'used': 0,
                                                 'expires_in_ms': 500}]}}})
            self.leases[node] = mine
            for ls in mine:
                if ls[3] < ls[2]:
                    ls[3] += 1
                    return ls[0], w
            return None, w


class Ctx:
    def __init__(self, lim, hist):
        self.nodes = [Node(k) for k in (1, 2, 3)]
        self.lim = lim
        self.history = hist
        self.stop = threading.Event()
        self.upstreams = [('127.0.0.1', 9)]
        self.caps = {}
        lim_ = lim
        self.sampler = type('S', (), {'get': lambda s: list(
            lim_.samples)})()

    def http(self, node, method, path, body=None, timeout=2.0,
             port='admin', headers=None):
        if port != 'proxy':
            return 200, {}, b'{}'
        lid, w = self.lim.admit(node.name, self.history.now())
        if lid is None:
            return 429, {}, b'{}'
        return 200, {'x-raftgate-quota': 'node=%s;lease=%s;window=%d' % (
            node.name, lid, w)}, b'ok'

    def status(self, node, timeout=1.0):
        return {'quota': {'leases': []}}

    def faults(self):
        return []


def run(unsafe, seconds=1.5):
    import tempfile
    d = tempfile.mkdtemp(prefix='rgj-qp-')
    hist = History(os.path.join(d, 'history.jsonl'))
    lim = Limiter(L=20, unsafe=unsafe)
    ctx = Ctx(lim, hist)
    q = wq.Quota(rate=200, workers=6, limit=20)
    q.W = lim.W
    q.setup(ctx)
    assert q.skip is None, q.skip
    t = threading.Thread(target=q.run, args=(ctx, ctx.stop))
    t.start()
    time.sleep(seconds)
    ctx.stop.set()
    t.join()
    hist.close()
    res = q.check(ctx, hist)
    import shutil
    shutil.rmtree(d, ignore_errors=True)
    return {r['name']: r for r in res}


class LateHeaderCtx(Ctx):
    """The plugin write has committed but the nodes' data planes are not
    rebuilt yet: the first @late proxy answers are 200 without
    X-Raftgate-Quota."""

    def __init__(self, lim, hist, late):
        super().__init__(lim, hist)
        self.late = late

    def http(self, node, method, path, body=None, timeout=2.0,
             port='admin', headers=None):
        if port == 'proxy' and self.late > 0:
            self.late -= 1
            return 200, {}, b'ok'
        return super().http(node, method, path, body, timeout, port,
                            headers)


class Setup(unittest.TestCase):
    def setup_with(self, late):
        import tempfile
        d = tempfile.mkdtemp(prefix='rgj-qs-')
        try:
            hist = History(os.path.join(d, 'history.jsonl'))
            ctx = LateHeaderCtx(Limiter(L=20), hist, late)
            q = wq.Quota(rate=200, workers=6, limit=20)
            q.setup(ctx)
            hist.close()
            return q.skip
        finally:
            import shutil
            shutil.rmtree(d, ignore_errors=True)

    def test_header_after_a_rebuild_is_not_a_skip(self):
        # the baseline test of a smoke run (seed jqs1) skipped the quota
        # checks so: each node's first 200 came before its rebuild
        self.assertIsNone(self.setup_with(late=3))

    def test_no_header_at_all_is_a_skip(self):
        wait, wq.HEADER_WAIT_S = wq.HEADER_WAIT_S, 0.3
        try:
            self.assertIn('no X-Raftgate-Quota',
                          self.setup_with(late=10 ** 6))
        finally:
            wq.HEADER_WAIT_S = wait


class Pipeline(unittest.TestCase):
    def test_correct_ledger_passes(self):
        r = run(unsafe=False)
        for k in ('c1/quota-envelope', 'c2/quota-accounting'):
            self.assertEqual(r[k]['verdict'], 'PASS', r[k])

    def test_reclaim_early_fails(self):
        r = run(unsafe=True)
        bad = [k for k in ('c1/quota-envelope', 'c2/quota-accounting')
               if r[k]['verdict'] == 'FAIL']
        self.assertTrue(bad, {k: v['summary'] for k, v in r.items()})
        out = hm.invert_expected(list(r.values()), (), (),
                                 ['--unsafe-lease-reclaim-early'],
                                 hm.NEG_LEASE['expect_any_fail'])
        nc = [c for c in out if c['name'] == 'negative-control/quota'][0]
        self.assertEqual(nc['verdict'], 'PASS', nc)


if __name__ == '__main__':
    unittest.main()
