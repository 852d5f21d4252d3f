"""WGL against brute force on random small register histories, and
planted anomalies that must FAIL (docs/fault-injection.md 4.8).  No root, seconds."""

import itertools
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness.checkers import wgl  # noqa: E402

INF = float('inf')


def brute(ops, init=None):
    """True iff some subset of the optional ops plus all required ops has
    an order that respects real time and the register model."""
    req = [o for o in ops if not o.get('optional')]
    opt = [o for o in ops if o.get('optional')]

    def ret(o):
        return INF if o.get('ret') is None else o['ret']

    def search(left, state):
        if not left:
            return True
        for o in left:
            # o may go next iff no other pending op returned before o began
            if any(ret(p) < o['call'] for p in left if p is not o):
                continue
            if o['f'] == 'cas' and o.get('res') is None:
                e, v = o['value']
                ok, ns = True, (v if state == e else state)
            else:
                ok, ns = wgl.step(state, o)
            if ok and search([p for p in left if p is not o], ns):
                return True
        return False

    for r in range(len(opt) + 1):
        for sub in itertools.combinations(opt, r):
            if search(req + list(sub), init):
                return True
    return False


def random_history(rng, n, values=3, info_p=0.15, corrupt=False):
    """A history from a simulated linearizable register: each op takes
    effect at a point inside [call, ret].  With @corrupt, one result is
    changed at random (the result may or may not still be valid)."""
    ops = []
    for k in range(n):
        call = rng.randint(0, 20)
        ret = call + rng.randint(0, 8)
        lp = rng.uniform(call, ret)
        r = rng.random()
        if r < 0.4:
            op = {'f': 'read', 'value': None}
        elif r < 0.7:
            op = {'f': 'write', 'value': rng.randint(1, values)}
        else:
            op = {'f': 'cas', 'value': (rng.randint(1, values),
                                        rng.randint(1, values))}
        op.update({'id': k, 'call': call, 'ret': ret, 'lp': lp})
        ops.append(op)
    state = None
    for op in sorted(ops, key=lambda o: o['lp']):
        if op['f'] == 'read':
            op['value'] = state
        elif op['f'] == 'write':
            state = op['value']
        else:
            e, v = op['value']
            op['res'] = state == e
            if op['res']:
                state = v
    out = []
    for op in ops:
        if op['f'] != 'read' and rng.random() < info_p:
            # an info op: never returned; sometimes resolved (required),
            # sometimes unknown (optional; a cas then has res None)
            op['ret'] = None
            if rng.random() < 0.5:
                op['optional'] = True
                if op['f'] == 'cas':
                    op['res'] = None
        if op['f'] == 'read' and rng.random() < 0.1:
            continue        # an info read: dropped
        out.append(op)
    if corrupt and out:
        op = rng.choice(out)
        if op['f'] == 'read':
            op['value'] = rng.choice([None] + list(range(1, values + 1)))
        elif op['f'] == 'cas' and op.get('res') is not None:
            op['res'] = not op['res']
        else:
            op['value'] = (rng.randint(1, values) if op['f'] == 'write'
                           else (rng.randint(1, values),
                                 rng.randint(1, values)))
    for op in out:
        op.pop('lp', None)
    return out


class WGLBruteForce(unittest.TestCase):
    def test_random_vs_brute_force(self):
        rng = random.Random(4242)
        n_valid = n_invalid = 0
        for it in range(1200):
            corrupt = it % 2 == 1
            ops = random_history(rng, rng.randint(1, 7), corrupt=corrupt)
            want = brute(ops)
            got = wgl.check(ops)['verdict']
            self.assertEqual(got == wgl.OK, want,
                             'history %d: wgl %s brute %s: %r'
                             % (it, got, want, ops))
            if want:
                n_valid += 1
            else:
                n_invalid += 1
        # both kinds must be well represented for the comparison to mean
        # anything
        self.assertGreater(n_valid, 300)
        self.assertGreater(n_invalid, 150)
        self.counts = (n_valid, n_invalid)
        sys.stderr.write(' [%d valid, %d invalid] ' % self.counts)

    def test_big_valid_history_is_fast(self):
        rng = random.Random(7)
        # 6 processes, 2000 ops, sequential per process
        ops = []
        t = [0] * 6
        for k in range(2000):
            p = k % 6
            call = t[p] + rng.randint(0, 3)
            ret = call + rng.randint(1, 10)
            t[p] = ret + 1
            r = rng.random()
            f = 'read' if r < 0.5 else ('write' if r < 0.75 else 'cas')
            v = k + 1
            ops.append({'id': k, 'f': f, 'call': call, 'ret': ret,
                        'lp': rng.uniform(call, ret),
                        'value': (rng.randint(k - 5, k), v) if f == 'cas'
                        else v})
        state = None
        for op in sorted(ops, key=lambda o: o['lp']):
            if op['f'] == 'read':
                op['value'] = state
            elif op['f'] == 'write':
                state = op['value']
            else:
                op['res'] = state == op['value'][0]
                if op['res']:
                    state = op['value'][1]
        r = wgl.check(ops, budget_s=10)
        self.assertEqual(r['verdict'], wgl.OK)
        self.assertLess(r['elapsed'], 5.0)


def ev(i, t, proc, typ, f, key='r1', value=None, **kw):
    d = {'i': i, 't': t, 'proc': proc, 'type': typ, 'wl': 'register',
         'f': f, 'key': key, 'value': value, 'node': 'n1'}
    d.update(kw)
    return d


def ops_history(spec):
    """Events from [(proc, f, value, call, ret, type, extra)]."""
    evs = []
    for proc, f, value, call, ret, typ, extra in spec:
        evs.append(ev(None, call, proc, 'invoke', f,
                      value=value if f != 'read' else None,
                      rid='rid-%d-%d' % (proc, call)))
        if ret is not None:
            c = ev(None, ret, proc, typ, f, value=value)
            c.update(extra)
            evs.append(c)
    evs.sort(key=lambda e: e['t'])
    inv = {}
    for k, e in enumerate(evs):
        e['i'] = k
        if e['type'] == 'invoke':
            inv[e['proc']] = k
        else:
            e['inv'] = inv[e['proc']]
    return evs


class Planted(unittest.TestCase):
    def test_stale_read_fails(self):
        # w1 completes, w2 completes, then a read returns 1: stale
        evs = ops_history([
            (1, 'write', 1, 0, 10, 'ok', {}),
            (2, 'write', 2, 20, 30, 'ok', {}),
            (3, 'read', 1, 40, 50, 'ok', {}),
        ])
        r = wgl.check_history(evs)
        self.assertEqual(r['verdict'], 'FAIL')
        w = r['witness']
        self.assertEqual(w['key'], 'r1')
        self.assertEqual(w['stuck']['f'], 'read')
        self.assertTrue(w['lines'])
        self.assertTrue(w['partial'])

    def test_lost_write_read_fails(self):
        # acknowledged write 7 then a read sees the initial (absent) value
        evs = ops_history([
            (1, 'write', 7, 0, 10, 'ok', {}),
            (2, 'read', None, 20, 30, 'ok', {}),
        ])
        self.assertEqual(wgl.check_history(evs)['verdict'], 'FAIL')

    def test_cas_412_is_a_read_of_not_e(self):
        # cas [1,2] answered 412 while the register surely held 1: FAIL
        evs = ops_history([
            (1, 'write', 1, 0, 10, 'ok', {}),
            (2, 'cas', [1, 2], 20, 30, 'ok', {'res': False, 'http': 412}),
        ])
        self.assertEqual(wgl.check_history(evs)['verdict'], 'FAIL')
        evs = ops_history([
            (1, 'write', 1, 0, 10, 'ok', {}),
            (2, 'cas', [3, 2], 20, 30, 'ok', {'res': False, 'http': 412}),
        ])
        self.assertEqual(wgl.check_history(evs)['verdict'], 'PASS')

    def test_info_write_resolution(self):
        # an info write of 5, then a read of 5: valid only if the write
        # may have happened
        spec = [
            (1, 'write', 5, 0, 10, 'info', {'err': 'timeout'}),
            (2, 'read', 5, 20, 30, 'ok', {}),
        ]
        evs = ops_history(spec)
        # unresolved: optional, the read explains it
        self.assertEqual(wgl.check_history(evs)['verdict'], 'PASS')
        # the applied log says it was applied
        self.assertEqual(wgl.check_history(
            evs, applied={'rid-1-0': {'status': 'ok'}},
            applied_complete=True)['verdict'], 'PASS')
        # the applied logs are complete and do not have it: dropped
        self.assertEqual(wgl.check_history(
            evs, applied={}, applied_complete=True)['verdict'], 'FAIL')

    def test_resolved_info_must_take_effect(self):
        # cas [nil, 5] timed out; the register held 1 from before its
        # call on and never nil again, so it cannot have succeeded.  Found
        # applied ok in the log: FAIL; unresolved (optional): PASS.
        spec = [
            (1, 'write', 1, 0, 10, 'ok', {}),
            (2, 'cas', [None, 5], 20, None, 'info', {}),
            (3, 'read', 1, 100, 110, 'ok', {}),
        ]
        evs = ops_history(spec)
        self.assertEqual(wgl.check_history(
            evs, applied={'rid-2-20': {'status': 'ok'}})['verdict'], 'FAIL')
        self.assertEqual(wgl.check_history(evs)['verdict'], 'PASS')
        self.assertEqual(wgl.check_history(
            evs, applied={'rid-2-20': {'status': 'conflict'}})['verdict'],
            'PASS')

    def test_budget_gives_unknown(self):
        rng = random.Random(3)
        # many concurrent writes and reads that never match: exponential
        ops = []
        for k in range(40):
            ops.append({'id': k, 'f': 'write', 'value': k, 'call': 0,
                        'ret': 1000})
        ops.append({'id': 40, 'f': 'read', 'value': 999, 'call': 2000,
                    'ret': 2001})
        rng.shuffle(ops)
        r = wgl.check(ops, budget_s=0.2)
        self.assertIn(r['verdict'], ('UNKNOWN', 'FAIL'))
        self.assertLess(r['elapsed'], 2.0)


if __name__ == '__main__':
    unittest.main()
