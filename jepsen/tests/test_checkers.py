"""Self-tests of versions, setfull, converge, avail and logscan on planted
histories: each anomaly must FAIL, the clean twin must PASS.  No root."""

import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness.checkers import avail, converge, logscan, setfull  # noqa
from harness.checkers import versions  # noqa: E402
from harness.workloads import durable, register  # noqa: E402

S = 1_000_000_000


class H:
    """A tiny history builder: op(...) appends an invoke and completion."""

    def __init__(self):
        self.evs = []

    def op(self, wl, f, t0, t1, typ='ok', proc=1, node='n1', inv=None,
           **done):
        i = {'i': None, 't': t0, 'proc': proc, 'type': 'invoke', 'wl': wl,
             'f': f, 'node': node}
        i.update(inv or {})
        c = {'i': None, 't': t1, 'proc': proc, 'type': typ, 'wl': wl,
             'f': f, 'node': node}
        c.update(done)
        self.evs.append(i)
        if t1 is not None:
            c['_inv'] = i
            self.evs.append(c)
        return self

    def events(self):
        evs = sorted(self.evs, key=lambda e: e['t'])
        for k, e in enumerate(evs):
            e['i'] = k
        for e in evs:
            if '_inv' in e:
                e['inv'] = e.pop('_inv')['i']
        return evs


class Versions(unittest.TestCase):
    def test_clean(self):
        h = (H().op('register', 'write', 0, 10, ver=5, inv={'value': 1})
             .op('register', 'read', 20, 30, ver=5)
             .op('register', 'write', 40, 50, ver=6, inv={'value': 2})
             .op('register', 'cas', 45, 55, ver=6, res=False))
        self.assertEqual(versions.check(h.events())['verdict'], 'PASS')

    def test_stale_read_inversion(self):
        h = (H().op('register', 'write', 0, 10, ver=7)
             .op('register', 'read', 20, 30, ver=6, node='n3'))
        r = versions.check(h.events())
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness'][0]['kind'], 'realtime-inversion')

    def test_write_version_inversion(self):
        # the later write got a lower version: time travel
        h = (H().op('register', 'write', 0, 10, ver=9)
             .op('durable', 'add', 20, 30, ver=8))
        self.assertEqual(versions.check(h.events())['verdict'], 'FAIL')

    def test_duplicate_write_version(self):
        h = (H().op('register', 'write', 0, 10, ver=9)
             .op('register', 'write', 5, 15, ver=9, proc=2))
        r = versions.check(h.events())
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertIn('duplicate-version',
                      [a['kind'] for a in r['witness']])

    def test_concurrent_is_fine(self):
        # overlapping ops may be ordered either way
        h = (H().op('register', 'write', 0, 30, ver=9)
             .op('register', 'read', 10, 20, ver=8, proc=2))
        self.assertEqual(versions.check(h.events())['verdict'], 'PASS')

    def test_local_read_regression_and_restart(self):
        h = (H().op('register', 'read-local', 0, 10, ver=9, node='n2')
             .op('register', 'read-local', 20, 30, ver=8, node='n2'))
        self.assertEqual(versions.check(h.events())['verdict'], 'FAIL')
        # a kill of n2 in between: the new incarnation may be behind
        faults = [{'kind': 'kill-follower', 'start': 12, 'end': 18,
                   'nodes': ['n2']}]
        self.assertEqual(versions.check(h.events(), faults=faults)['verdict'],
                         'PASS')
        # a kill of another node does not excuse it
        faults[0]['nodes'] = ['n1']
        self.assertEqual(versions.check(h.events(), faults=faults)['verdict'],
                         'FAIL')

    def test_samples(self):
        ss = [{'t': 1, 'node': 'n1', 'status': {'incarnation': 'a',
                                                 'applied_index': 10}},
              {'t': 2, 'node': 'n1', 'status': {'incarnation': 'a',
                                                 'applied_index': 9}}]
        self.assertEqual(versions.check([], samples=ss)['verdict'], 'FAIL')
        ss[1]['status']['incarnation'] = 'b'
        self.assertEqual(versions.check([], samples=ss)['verdict'], 'PASS')


class SetFull(unittest.TestCase):
    def base(self):
        h = H()
        h.op('durable', 'add', 0, 10, inv={'value': 1})
        h.op('durable', 'add', 5, 15, inv={'value': 2}, proc=2)
        h.op('durable', 'add', 20, None, inv={'value': 3}, proc=2)  # open
        h.op('durable', 'add', 21, 25, 'fail', inv={'value': 4}, proc=3)
        h.op('durable', 'read', 30, 40, value=[1, 2], proc=9)
        return h

    def finals(self, h, sets):
        for k, s in enumerate(sets):
            h.op('durable', 'final-read', 100 + k, 101 + k, value=s,
                 node='n%d' % (k + 1), proc=9)
        return h

    def test_clean(self):
        h = self.finals(self.base(), [[1, 2, 3]] * 3)
        r = setfull.check(h.events())
        self.assertEqual(r['verdict'], 'PASS', r)
        self.assertIn('1 recovered', r['summary'])

    def test_lost_write(self):
        h = self.finals(self.base(), [[1, 2], [1, 2], [1]])
        r = setfull.check(h.events())
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness']['lost'][0]['x'], 2)

    def test_stale_linearizable_read(self):
        h = self.base()
        h.op('durable', 'read', 50, 60, value=[1], proc=9)
        self.finals(h, [[1, 2]] * 3)
        r = setfull.check(h.events())
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness']['stale'][0]['x'], 2)

    def test_unexpected_and_failed_present(self):
        h = self.finals(self.base(), [[1, 2, 99]] * 3)
        self.assertEqual(setfull.check(h.events())['verdict'], 'FAIL')
        h = self.finals(self.base(), [[1, 2, 4]] * 3)
        r = setfull.check(h.events())
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness']['failed_present'], [4])


class Converge(unittest.TestCase):
    def st(self, v, h):
        return {'config_version': v, 'config_hash': h}

    def test_converged_and_logs_match(self):
        polls = [(1 * S, {'n1': self.st(5, 'a'), 'n2': self.st(4, 'b'),
                          'n3': None}),
                 (2 * S, {'n1': self.st(5, 'a'), 'n2': self.st(5, 'a'),
                          'n3': self.st(5, 'a')})]
        log = [{'index': 3, 'term': 2, 'request_id': 'x', 'type': 'put',
                'status': 'ok', 'revision': 1}]
        r = converge.check(polls, {'n1': log, 'n2': log, 'n3': log}, 0,
                           ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'PASS', r)
        r = converge.check(polls, {'n1': log, 'n2': log, 'n3': log}, 0,
                           ['n1', 'n2', 'n3'], bound_s=1.0)
        self.assertEqual(r['verdict'], 'FAIL')

    def test_not_converged_and_divergent_log(self):
        split = {'n1': self.st(5, 'a'), 'n2': self.st(5, 'b'),
                 'n3': self.st(5, 'a')}
        polls = [(t * S, split) for t in (1, 5, 10)]
        r = converge.check(polls, {}, 0, ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'FAIL')
        # One poll 1 s after heal cannot show "not within 10 s".
        r = converge.check(polls[:1], {}, 0, ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'UNKNOWN', r)
        self.assertIn('short of the 10 s bound', r['summary'])
        a = [{'index': 3, 'term': 2, 'request_id': 'x', 'type': 'put',
              'status': 'ok', 'revision': 1}]
        b = [dict(a[0], request_id='y')]
        polls = [(1 * S, {n: self.st(5, 'a') for n in ('n1', 'n2')})]
        r = converge.check(polls, {'n1': a, 'n2': b}, 0, ['n1', 'n2'])
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness']['log_mismatch'][0]['index'], 3)


class FakeHistory:
    def __init__(self):
        self.t0 = time.monotonic_ns()
        self.evs = []

    def now(self):
        return time.monotonic_ns() - self.t0

    def invoke(self, proc, wl, f, **kw):
        ev = dict(kw, proc=proc, wl=wl, f=f, type='invoke', t=self.now())
        self.evs.append(ev)
        return ev

    def complete(self, op, typ, **kw):
        self.evs.append(dict(kw, proc=op['proc'], wl=op['wl'], f=op['f'],
                             node=op.get('node'), type=typ, t=self.now()))

    def events(self):
        return list(self.evs)


class LaggingCtx:
    """Three nodes whose followers learn the last write only on the
    third /status round (the next heartbeat), as after the register
    workload's final write; stop is set, as when the harness calls
    final()."""

    class Node:
        def __init__(self, name):
            self.name = name

    def __init__(self, lag_rounds=2):
        self.nodes = [self.Node(n) for n in ('n1', 'n2', 'n3')]
        self.history = FakeHistory()
        self.stop = threading.Event()
        self.stop.set()
        self.lag = {'n1': lag_rounds, 'n3': lag_rounds}
        self.test = 't'
        self.heal_t = None

    def faults(self):
        return []

    def status(self, node, timeout=1.0):
        behind = self.lag.get(node.name, 0) > 0
        if behind:
            self.lag[node.name] -= 1
        return {'ready': True, 'config_version': 686 if behind else 687,
                'config_hash': 'old' if behind else 'new',
                'applied_index': 1377 if behind else 1378}

    def http(self, node, method, path, **kw):
        if path.startswith('/debug/applied'):
            return 200, {}, b'[]'
        return 200, {}, b'{"data": []}'


class DurableFinal(unittest.TestCase):
    def test_polls_past_a_set_stop_event(self):
        ctx = LaggingCtx()
        w = durable.Durable(t_conv=3.0)
        w.final(ctx)
        self.assertEqual(len(w.polls), 3)
        log = [{'index': 3, 'term': 2, 'request_id': 'x', 'type': 'put',
                'status': 'ok', 'revision': 1}]
        r = converge.check(w.polls, {'n1': log, 'n2': log, 'n3': log},
                           w.heal_t, ['n1', 'n2', 'n3'], bound_s=3.0)
        self.assertEqual(r['verdict'], 'PASS', r)

    def test_counts_from_the_final_heal(self):
        # The schedule's last fault healed long before the main phase
        # ended; T_conv counts from the harness's final heal.
        ctx = LaggingCtx()
        ctx.faults = lambda: [{'kind': 'pause', 'start': 0, 'end': 1}]
        ctx.heal_t = ctx.history.now()
        w = durable.Durable(t_conv=3.0)
        w.final(ctx)
        self.assertEqual(w.heal_t, ctx.heal_t)
        del ctx.heal_t          # a ctx without it: the last fault's end
        w.final(ctx)
        self.assertEqual(w.heal_t, 1)

    def test_never_converging_polls_the_whole_bound(self):
        ctx = LaggingCtx(lag_rounds=1000)
        w = durable.Durable(t_conv=0.5)
        w.final(ctx)
        self.assertGreaterEqual(w.polls[-1][0] - w.heal_t, 0.5 * S)
        r = converge.check(w.polls, {'n1': [], 'n2': [], 'n3': []},
                           w.heal_t, ['n1', 'n2', 'n3'], bound_s=0.5)
        self.assertEqual(r['verdict'], 'FAIL', r)


class Avail(unittest.TestCase):
    """Synthetic phases: n1 is isolated 10-20 s, n2 killed 30-35 s."""
    faults = [{'kind': 'isolate-leader', 'start': 10 * S, 'end': 20 * S,
               'nodes': ['n1', 'n2', 'n3'],
               'value': {'minority': ['n1'], 't_apply': 10 * S}},
              {'kind': 'kill-follower', 'start': 30 * S, 'end': 35 * S,
               'nodes': ['n2'], 'value': {'minority': ['n2']}}]

    def test_phase(self):
        ph = lambda n, t: avail.phase(n, int(t * S), self.faults, 3 * S)  # noqa
        self.assertEqual(ph('n1', 5), 'healthy')
        self.assertEqual(ph('n1', 11), 'recovering')
        self.assertEqual(ph('n1', 15), 'minority-side')
        self.assertEqual(ph('n2', 15), 'majority-side')
        self.assertEqual(ph('n2', 21), 'recovering')
        self.assertEqual(ph('n2', 25), 'healthy')
        self.assertEqual(ph('n2', 31), 'killed')
        self.assertEqual(ph('n3', 34), 'majority-side')
        self.assertEqual(ph('n2', 36), 'recovering')
        self.assertEqual(avail.phase('n1', 5 * S, [
            {'kind': 'packet-loss', 'start': 0, 'end': 9 * S,
             'nodes': ['n1']}], 0), 'fault:packet-loss')

    def hist(self, bad=lambda node, t: False):
        h = H()
        for k in range(0, 40 * 20):      # 20 req/s per node for 40 s
            t = k * S // 20
            for n in ('n1', 'n2', 'n3'):
                ph = avail.phase(n, t, self.faults, 3 * S)
                ok = ph != 'killed' and not bad(n, t)
                h.op('proxy', 'get', t, t + 1_000_000, 'ok' if ok else 'fail',
                     node=n)
        return h.events()

    def test_gates(self):
        r = avail.check(self.hist(), self.faults, ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'PASS', r['summary'])
        self.assertIn('killed 0.0%', r['summary'])
        # the minority stops serving: FAIL (< 95%)
        r = avail.check(self.hist(lambda n, t: n == 'n1' and
                                  14 * S <= t < 18 * S),
                        self.faults, ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness']['below_gate'][0]['phase'],
                         'minority-side')
        # a request in flight when its node is killed is not a healthy
        # failure (the kill's start counts, not only the invoke time)
        self.assertEqual(avail.request_phase('n2', 29.97 * S, 30.01 * S,
                                             self.faults, 3 * S), 'killed')
        self.assertEqual(avail.request_phase('n2', 29.97 * S, None,
                                             self.faults, 3 * S), 'healthy')
        # 2% errors on the majority side: FAIL (< 99%)
        r = avail.check(self.hist(lambda n, t: n == 'n3' and
                                  13 * S <= t < 13 * S + S // 5),
                        self.faults, ['n1', 'n2', 'n3'])
        self.assertEqual(r['verdict'], 'FAIL')


class LogScan(unittest.TestCase):
    def test_markers_and_cores(self):
        with tempfile.TemporaryDirectory() as d:
            a = os.path.join(d, 'n1.log')
            b = os.path.join(d, 'n2.log')
            with open(a, 'w') as f:
                f.write('[info] started\n[info] config revision 3\n')
            with open(b, 'w') as f:
                f.write('ok\nRG-ASSERT raft/node.c:12: x != NULL\n')
            r = logscan.check({'n1': a})
            self.assertEqual(r['verdict'], 'PASS')
            r = logscan.check({'n1': a, 'n2': b})
            self.assertEqual(r['verdict'], 'FAIL')
            self.assertEqual(r['witness']['hits'][0]['line'], 2)
            os.mkdir(os.path.join(d, 'n1'))
            open(os.path.join(d, 'n1', 'core'), 'w').close()
            r = logscan.check({'n1': a}, dirs=[d])
            self.assertEqual(r['verdict'], 'FAIL')
            self.assertTrue(logscan.scan_text(
                ['==12==ERROR: AddressSanitizer: heap-use-after-free']))


class RegisterValue(unittest.TestCase):
    def test_parse_value(self):
        self.assertEqual(register.parse_value(b'{"tags":["v12"]}'), 12)
        self.assertEqual(register.parse_value(b'{"tags":[]}'), 'tags:[]')
        self.assertEqual(register.parse_value(b'x'), 'unparsable')


if __name__ == '__main__':
    unittest.main()


class NegativeControl(unittest.TestCase):
    """A negative control passes only when its expected check FAILs."""

    def test_invert_expected(self):
        import harness.__main__ as hm
        chk = [{'name': 'a/linearizable-admin', 'verdict': 'FAIL',
                'summary': '1 invalid', 'witness': {'key': 'jr0'}},
               {'name': 'a/version-order', 'verdict': 'FAIL',
                'summary': '3 inversions', 'witness': {}},
               {'name': 'harness/logscan', 'verdict': 'PASS',
                'summary': '0 findings', 'witness': None}]
        out = hm.invert_expected(chk, ['a/linearizable-admin'],
                                 ['a/version-order'], ['--unsafe-x'])
        v = {c['name']: c['verdict'] for c in out}
        self.assertEqual(v, {'negative-control/a/linearizable-admin': 'PASS',
                             'a/version-order': 'INFO',
                             'harness/logscan': 'PASS'})
        # the violation went unnoticed: the control FAILs
        chk[0]['verdict'] = 'PASS'
        out = hm.invert_expected(chk, ['a/linearizable-admin'], [], ['-x'])
        self.assertEqual(out[0]['verdict'], 'FAIL')
        self.assertIn('NOT found', out[0]['summary'])
        # the expected check did not run at all: FAIL
        out = hm.invert_expected(chk[2:], ['a/linearizable-admin'], [],
                                 ['-x'])
        self.assertEqual(out[-1]['verdict'], 'FAIL')


class HarnessConverged(unittest.TestCase):
    def test_served_revision_must_catch_up(self):
        import harness.__main__ as hm
        st = {'ready': True, 'config_version': 7, 'config_hash': 'h',
              'leader_id': 1, 'served_revision': 7}
        self.assertTrue(hm.converged({'n1': dict(st), 'n2': dict(st)}))
        # a node whose data plane could not load the store keeps serving 6
        self.assertFalse(hm.converged({'n1': dict(st),
                                       'n2': dict(st, served_revision=6)}))
        self.assertFalse(hm.converged({'n1': dict(st),
                                       'n2': dict(st, config_hash='x')}))
        self.assertFalse(hm.converged({'n1': dict(st), 'n2': None}))

    def test_floor_lets_writes_go_on_but_not_a_lagging_node(self):
        import harness.__main__ as hm
        st = {'ready': True, 'config_version': 7, 'config_hash': 'h',
              'leader_id': 1, 'served_revision': 7}
        ahead = dict(st, config_version=8, config_hash='g', served_revision=8)
        # writes go on: n2 already applied 8, both are past the floor 7
        self.assertFalse(hm.converged({'n1': dict(st), 'n2': ahead}))
        self.assertTrue(hm.converged({'n1': dict(st), 'n2': ahead}, 7))
        # n1 still at 6 (applied or served) is behind the floor
        self.assertFalse(hm.converged({'n1': dict(st, config_version=6),
                                       'n2': ahead}, 7))
        self.assertFalse(hm.converged({'n1': dict(st, served_revision=6),
                                       'n2': ahead}, 7))
        # the same version with two hashes, or two leaders, never converges
        self.assertFalse(hm.converged({'n1': dict(st),
                                       'n2': dict(st, config_hash='x')}, 7))
        self.assertFalse(hm.converged({'n1': dict(st),
                                       'n2': dict(st, leader_id=2)}, 7))
        self.assertEqual(hm.top_version({'n1': dict(st), 'n2': ahead,
                                         'n3': None}), 8)
