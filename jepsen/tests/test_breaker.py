"""Self-tests of checkers/breaker.py (docs/fault-injection.md 4.4d, 4.8):
a clean breaker history passes; a rollback (a version going back on one
node), two states for one version, a node that never catches up, a breaker
that never opens, and a 500 passed through while open each FAIL.  No
root."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness.checkers import breaker  # noqa: E402

S = 1_000_000_000
MS = 1_000_000
NODES = ['n1', 'n2', 'n3']
SVC = 'flaky'


def timeline(changes, t_end=30 * S, lag=None, inc='a'):
    """Samples at 10 Hz of every node from [(t, state, version)], node k
    seeing each change lag[node] ns late."""
    lag = lag or {'n1': 0, 'n2': 200 * MS, 'n3': 400 * MS}
    out = []
    for node in NODES:
        t = 0
        while t <= t_end:
            cur = ('closed', 1)
            for tc, st, v in changes:
                if tc + lag[node] <= t:
                    cur = (st, v)
            out.append({'t': t, 'node': node, 'status': {
                'incarnation': inc, 'cb': {SVC: {'state': cur[0],
                                                 'version': cur[1]}}}})
            t += 100 * MS
    return out


CHANGES = [(6 * S, 'open', 2), (8 * S, 'half_open', 3),
           (8 * S + 500 * MS, 'open', 4), (10 * S, 'half_open', 5),
           (10 * S + 300 * MS, 'closed', 6)]
CYCLES = [{'fail': 5 * S + 500 * MS, 'heal': 9 * S + 500 * MS}]


def probes(samples, http_open=503, up_open=False, lat=3 * MS):
    """One probe per node every 100 ms, answered as the node's state says."""
    evs = []
    k = 0
    for s in samples:
        if s['t'] % (100 * MS) or s['t'] == 0:
            continue
        t0 = s['t'] + 20 * MS
        st = s['status']['cb'][SVC]['state']
        evs.append({'i': k, 't': t0, 'type': 'invoke', 'wl': 'breaker',
                    'node': s['node']})
        ok_open = st == 'open'
        evs.append({'i': k + 1, 't': t0 + lat, 'type': 'ok',
                    'wl': 'breaker', 'node': s['node'], 'inv': k,
                    'http': http_open if ok_open else 200,
                    'up': up_open if ok_open else True})
        k += 2
    return evs


class Breaker(unittest.TestCase):
    def run_all(self, smp, faults=(), cycles=CYCLES, prb=None):
        return {r['name'].split('/')[0]: r for r in breaker.check_all(
            smp, list(faults), cycles, prb if prb is not None else
            probes(smp), NODES, SVC, window_s=10, recovery_s=2)}

    def test_clean_passes(self):
        r = self.run_all(timeline(CHANGES))
        for k in ('d1', 'd2', 'd3', 'd4', 'd5'):
            self.assertEqual(r[k]['verdict'], 'PASS', r[k])

    def test_rollback_fails(self):
        smp = timeline(CHANGES)
        # n2 goes back from version 4 (open) to 3 (half_open) for a while
        for s in smp:
            if s['node'] == 'n2' and 9 * S <= s['t'] < 9 * S + 300 * MS:
                s['status']['cb'][SVC] = {'state': 'half_open', 'version': 3}
        r = self.run_all(smp)
        self.assertEqual(r['d2']['verdict'], 'FAIL', r['d2'])
        self.assertEqual(r['d2']['witness'][0]['node'], 'n2')
        # a restart (new incarnation) may start lower
        for s in smp:
            if s['node'] == 'n2' and s['t'] >= 9 * S:
                s['status']['incarnation'] = 'b'
        self.assertEqual(self.run_all(smp)['d2']['verdict'], 'PASS')

    def test_conflicting_state_fails(self):
        smp = timeline(CHANGES)
        for s in smp:
            if s['node'] == 'n3' and s['status']['cb'][SVC]['version'] == 4:
                s['status']['cb'][SVC]['state'] = 'closed'
        r = self.run_all(smp)
        self.assertEqual(r['d3']['verdict'], 'FAIL', r['d3'])
        self.assertEqual(r['d3']['witness'][0]['version'], 4)

    def test_laggard_fails_unless_cut_off(self):
        lag = {'n1': 0, 'n2': 200 * MS, 'n3': 7 * S}
        smp = timeline(CHANGES, lag=lag)
        r = self.run_all(smp)
        self.assertEqual(r['d1']['verdict'], 'FAIL', r['d1'])
        self.assertTrue(all(w['node'] == 'n3' for w in r['d1']['witness']))
        cut = [{'kind': 'isolate-follower', 'start': 5 * S,
                'end': 17 * S, 'nodes': NODES,
                'value': {'t_apply': 5 * S, 'minority': ['n3']}}]
        self.assertEqual(self.run_all(smp, faults=cut)['d1']['verdict'],
                         'PASS')

    def test_never_opens_fails(self):
        smp = timeline([])
        r = self.run_all(smp)
        self.assertEqual(r['d4']['verdict'], 'FAIL', r['d4'])
        # stuck open after recovery fails too
        smp = timeline(CHANGES[:2] + [(8 * S + 500 * MS, 'open', 4)])
        self.assertEqual(self.run_all(smp)['d4']['verdict'], 'FAIL')

    def test_cycle_past_the_end_is_not_judged(self):
        # probes stop 1 s after the recovery: no half-open trial can close
        smp = timeline(CHANGES[:2] + [(8 * S + 500 * MS, 'open', 4)])
        prb = [e for e in probes(smp) if e['t'] < 10 * S + 500 * MS]
        r = self.run_all(smp, prb=prb)
        self.assertEqual(r['d4']['verdict'], 'UNKNOWN', r['d4'])
        r = self.run_all(smp)
        self.assertEqual(r['d4']['verdict'], 'FAIL', r['d4'])

    def test_passthrough_while_open_fails(self):
        smp = timeline(CHANGES)
        r = self.run_all(smp, prb=probes(smp, http_open=500, up_open=True))
        self.assertEqual(r['d5']['verdict'], 'FAIL', r['d5'])
        r = self.run_all(smp, prb=probes(smp, lat=80 * MS))
        self.assertEqual(r['d5']['verdict'], 'FAIL', r['d5'])

    def test_slow_answers_of_a_faulted_node_are_not_judged(self):
        # every answer of n2 is slow, as under a packet delay on n2
        smp = timeline(CHANGES)
        prb = probes(smp)
        for e in prb:
            if e['type'] == 'ok' and e['node'] == 'n2':
                e['t'] += 80 * MS
        self.assertEqual(self.run_all(smp, prb=prb)['d5']['verdict'], 'FAIL')
        delay = [{'kind': 'delay-100ms', 'start': 0, 'end': 20 * S,
                  'nodes': ['n2'], 'value': {'t_apply': 0}}]
        r = self.run_all(smp, faults=delay, prb=prb)
        self.assertEqual(r['d5']['verdict'], 'PASS', r['d5'])

    def test_local_breaker_versions_are_left_out(self):
        # n3 cut off runs its own breaker (local: true) with versions of
        # its own that collide with the replicated ones, then rejoins
        smp = timeline(CHANGES)
        for s in smp:
            if s['node'] == 'n3' and 5 * S <= s['t'] < 12 * S:
                v = 2 + int((s['t'] - 5 * S) // S)
                s['status']['cb'][SVC] = {'state': 'open' if v % 2 else
                                          'closed', 'version': v + 3,
                                          'local': True}
        cut = [{'kind': 'isolate-follower', 'start': 5 * S,
                'end': 12 * S, 'nodes': NODES,
                'value': {'t_apply': 5 * S, 'minority': ['n3']}}]
        r = self.run_all(smp, faults=cut)
        for k in ('d1', 'd2', 'd3', 'd4'):
            self.assertEqual(r[k]['verdict'], 'PASS', r[k])
        # the same samples without the flag are a rollback and a conflict
        for s in smp:
            s['status']['cb'][SVC].pop('local', None)
        r = self.run_all(smp, faults=cut)
        self.assertEqual(r['d2']['verdict'], 'FAIL')
        self.assertEqual(r['d3']['verdict'], 'FAIL')

    def test_no_field(self):
        smp = [{'t': 0, 'node': 'n1', 'status': {'ready': True}}]
        self.assertFalse(breaker.has_field(smp, SVC))
        self.assertTrue(breaker.has_field(timeline(CHANGES), SVC))


if __name__ == '__main__':
    unittest.main()
