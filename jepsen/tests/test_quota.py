"""Self-tests of checkers/quota.py (docs/fault-injection.md 4.4c, 4.8):
the envelope sweep against brute force on random histories, and planted
histories: a valid one passes, an overshoot, a lease spent on two nodes, a
minority that keeps admitting and a paused node reusing its old lease each
FAIL.  No root."""

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))

from harness.checkers import quota  # noqa: E402

S = 1_000_000_000
MS = 1_000_000
NODES = ['n1', 'n2', 'n3']


def adm(node, t, lease, window, lat=2 * MS):
    return {'node': node, 'inv': t, 'cmp': t + lat, 'lease': lease,
            'window': window, 'hnode': node}


def lease_sample(node, t, lid, window, tokens, used=0):
    return {'t': t, 'node': node, 'status': {'quota': {
        'lease_ms': 500, 'leases': [{'id': lid, 'key': 'k',
                                     'window': window, 'tokens': tokens,
                                     'used': used, 'expires_in_ms': 400}]}}}


def valid(L=10, windows=20, per_node=None, lease_size=5):
    """L admits per 1 s window spread over the nodes, each node spending
    leases of lease_size tokens of its own; the matching lease samples."""
    out = []
    samples = []
    k = 0
    for w in range(windows):
        share = per_node or {'n1': L // 2, 'n2': L - L // 2 - L // 5,
                             'n3': L // 5}
        for node, cnt in share.items():
            for j in range(cnt):
                lid = 'L%s-%d-%d' % (node, w, j // lease_size)
                t = w * S + int((j + 1) * S / (cnt + 2))
                out.append(adm(node, t, lid, 1000 + w))
                k += 1
            for lidx in range((cnt + lease_size - 1) // lease_size):
                samples.append({'t': w * S + 1, 'node': node, 'status': {
                    'quota': {'lease_ms': 500, 'leases': [{
                        'id': 'L%s-%d-%d' % (node, w, lidx), 'key': 'k',
                        'window': 1000 + w, 'tokens': lease_size,
                        'used': 0, 'expires_in_ms': 500}]}}})
    return out, samples


class Envelope(unittest.TestCase):
    def test_sweep_matches_brute_force(self):
        rng = random.Random(7)
        for trial in range(400):
            n = rng.randint(1, 14)
            spans = []
            for _ in range(n):
                a = rng.randint(0, 3 * S)
                spans.append((a, a + rng.randint(0, S // 2)))
            if rng.random() < 0.3:      # ties
                spans += spans[:rng.randint(0, len(spans))]
            B = rng.choice([0, 1, 2.5, 5])
            r = rng.choice([0, 0.5, 2, 10])
            Sx = rng.choice([0, 1])
            got = quota.envelope(spans, B, r, Sx)
            want = quota.envelope_brute(spans, B, r, Sx)
            self.assertAlmostEqual(got[0], want[0], places=6,
                                   msg='trial %d %r' % (trial, spans))
            # the witness is real: its count and allowance match
            c = sum(1 for a, b in spans if got[1] <= a and b <= got[2])
            self.assertEqual(c, got[3])

    def test_segtree(self):
        rng = random.Random(3)
        for _ in range(100):
            n = rng.randint(1, 40)
            vals = [rng.uniform(-5, 5) for _ in range(n)]
            t = quota.SegTree(vals)
            for _ in range(30):
                lo = rng.randint(0, n - 1)
                hi = rng.randint(lo + 1, n)
                if rng.random() < 0.5:
                    v = rng.uniform(-3, 3)
                    t.range_add(lo, hi, v)
                    for k in range(lo, hi):
                        vals[k] += v
                else:
                    m, k = t.range_max(lo, hi)
                    self.assertAlmostEqual(m, max(vals[lo:hi]))
                    self.assertAlmostEqual(vals[k], m)
                    self.assertTrue(lo <= k < hi)

    def test_large_is_fast(self):
        import time
        rng = random.Random(1)
        spans = []
        for _ in range(20000):
            a = rng.randint(0, 100 * S)
            spans.append((a, a + rng.randint(MS, 50 * MS)))
        t0 = time.monotonic()
        quota.envelope(spans, 20, 10)
        self.assertLess(time.monotonic() - t0, 10.0)


class Planted(unittest.TestCase):
    def test_valid_passes(self):
        a, smp = valid()
        env = quota.check_envelope(a, L=10, W_s=1)
        self.assertEqual(env['verdict'], 'PASS', env)
        acc = quota.check_accounting(a, smp, L=10)
        self.assertEqual(acc['verdict'], 'PASS', acc)

    def test_overshoot_fails(self):
        # every node admits the whole limit in every window: 3L a window
        a, smp = valid(per_node={'n1': 10, 'n2': 10, 'n3': 10},
                       lease_size=10)
        env = quota.check_envelope(a, L=10, W_s=1)
        self.assertEqual(env['verdict'], 'FAIL', env)
        self.assertGreater(env['witness']['admits'],
                           env['witness']['allowed'])
        self.assertEqual(set(env['witness']['per_node']), set(NODES))
        acc = quota.check_accounting(a, smp, L=10)
        self.assertEqual(acc['verdict'], 'FAIL')
        self.assertIn('window-over-limit', [w['kind'] for w in
                                            acc['witness']])
        # S covers a small slack, not 2L a window
        self.assertEqual(quota.check_envelope(a, 10, 1, S=30)['verdict'],
                         'FAIL')

    def test_small_overshoot_fails_c2_and_slack(self):
        a, smp = valid()
        a.append(adm('n3', 5 * S + 990 * MS, 'Ln3-5-9', 1005))
        acc = quota.check_accounting(a, smp, L=10)
        self.assertEqual(acc['verdict'], 'FAIL')
        kinds = [w['kind'] for w in acc['witness']]
        self.assertIn('window-over-limit', kinds)
        # S = 1 covers one admit over L (a lease not in any sampled table
        # is counted as unverified, not as an anomaly)
        self.assertEqual(quota.check_accounting(a, smp, L=10, S=1)
                         ['verdict'], 'PASS')

    def test_lease_overspent_and_two_nodes(self):
        a, smp = valid()
        # n1 spends one token more of its first lease, and a later sample
        # of its table still shows the lease at 5 tokens
        a.append(adm('n1', 0 * S + 995 * MS, 'Ln1-0-0', 1000))
        smp.append(lease_sample('n1', 998 * MS, 'Ln1-0-0', 1000, 5))
        acc = quota.check_accounting(a, smp, L=11)
        self.assertEqual(acc['verdict'], 'FAIL', acc)
        over = [w for w in acc['witness'] if w['kind'] == 'lease-overspent']
        self.assertEqual(len(over), 1, acc)
        self.assertEqual((over[0]['lease'], over[0]['tokens'],
                          over[0]['admits_before']), ('Ln1-0-0', 5, 6))
        a, smp = valid()
        a.append(adm('n2', 3 * S + 995 * MS, 'Ln1-3-0', 1003))
        acc = quota.check_accounting(a, smp, L=11)
        self.assertEqual(acc['verdict'], 'FAIL')
        self.assertIn('lease-on-two-nodes', [w['kind'] for w in
                                             acc['witness']])

    def test_grant_after_last_sample_is_not_overspent(self):
        # The kill test's witness (8 Dec, seed 70397f8, window 1796704162):
        # a lease id grows with every grant of its window.  n1's last
        # sample showed 28 tokens with 27 admits answered before it; a
        # grant came, n1 admitted 2 more and was SIGKILLed (kill-all)
        # before its next sample: 29 admits.  n2: 29 tokens, 26 before, 7
        # after; n3: 36 tokens, 35 before, 1 after.  The window's 98
        # admits are within L = 100: no anomaly.
        w = 1796704162
        a, smp = [], []
        t0 = 37766 * MS
        for node, lid, before, after, t_last, tok in (
                ('n1', 'n1.2e569155.3727.%d' % w, 27, 2, 38083, 28),
                ('n2', 'n2.299772f0.1124.%d' % w, 26, 7, 38087, 29),
                ('n3', 'n3.df68b51c.651.%d' % w, 35, 1, 38191, 36)):
            t_last *= MS
            step = (t_last - t0 - 5 * MS) // before
            a += [adm(node, t0 + k * step, lid, w) for k in range(before)]
            a += [adm(node, t_last + (k + 1) * 3 * MS, lid, w)
                  for k in range(after)]
            smp.append(lease_sample(node, t0 + step // 2, lid, w, 11))
            smp.append(lease_sample(node, t_last, lid, w, tok))
        acc = quota.check_accounting(a, smp, L=100)
        self.assertEqual(acc['verdict'], 'PASS', acc)
        self.assertIn('10 admits after their lease\'s last sample',
                      acc['summary'])
        # the same tail over the window's limit is still caught
        acc = quota.check_accounting(a, smp, L=97)
        self.assertEqual(acc['verdict'], 'FAIL', acc)
        self.assertEqual([x['kind'] for x in acc['witness']],
                         ['window-over-limit'])
        # and a sample after n2's tail still showing 29 tokens makes the
        # lease overspent
        smp.append(lease_sample('n2', 38200 * MS, 'n2.299772f0.1124.%d' % w,
                                w, 29))
        acc = quota.check_accounting(a, smp, L=100)
        self.assertEqual(acc['verdict'], 'FAIL', acc)
        self.assertEqual([(x['kind'], x['tokens'], x['admits_before'])
                          for x in acc['witness']],
                         [('lease-overspent', 29, 33)])

    def test_missing_header_is_unknown_or_fail(self):
        a, smp = valid()
        for x in a:
            x['lease'] = x['window'] = x['hnode'] = None
        self.assertEqual(quota.check_accounting(a, smp, 10)['verdict'],
                         'UNKNOWN')
        a, smp = valid()
        a[3]['lease'] = None
        self.assertEqual(quota.check_accounting(a, smp, 10)['verdict'],
                         'FAIL')

    def cut(self, node='n3', t0=5 * S, t1=15 * S):
        return [{'kind': 'isolate-follower', 'start': t0 + 50 * MS,
                 'end': t1, 'nodes': NODES,
                 'value': {'t_apply': t0, 'minority': [node]}}]

    def test_minority_stops(self):
        a, smp = valid()
        # n3 admits only what it held, within D after the cut
        a = [x for x in a if not (x['node'] == 'n3' and
                                  5 * S + 300 * MS < x['inv'] < 15 * S)]
        r = quota.check_minority(a, self.cut(), smp)
        self.assertEqual(r['verdict'], 'PASS', r)

    def test_minority_admit_fails(self):
        a, smp = valid()    # n3 keeps admitting through the cut
        r = quota.check_minority(a, self.cut(), smp)
        self.assertEqual(r['verdict'], 'FAIL', r)
        self.assertEqual(r['witness'][0]['kind'], 'admit-after-lease-expiry')
        # one admit at cut + 2 s is enough
        a2 = [x for x in a if not (x['node'] == 'n3' and
                                   5 * S < x['inv'] < 15 * S)]
        a2.append(adm('n3', 7 * S, 'Lz', 1007))
        self.assertEqual(quota.check_minority(a2, self.cut(), smp)
                         ['verdict'], 'FAIL')
        # but not one inside D(1+rho)+eps (0.75 s)
        a3 = [x for x in a2 if x['lease'] != 'Lz']
        a3.append(adm('n3', 5 * S + 700 * MS, 'Lz', 1005))
        self.assertEqual(quota.check_minority(a3, self.cut(), smp)
                         ['verdict'], 'PASS')
        # nor one answered after the heal (a fresh lease)
        a3.append(adm('n3', 15 * S - 100 * MS, 'Lw', 1014, lat=300 * MS))
        self.assertEqual(quota.check_minority(a3, self.cut(), smp)
                         ['verdict'], 'PASS')

    def test_spent_more_than_held(self):
        a, smp = valid()
        a = [x for x in a if not (x['node'] == 'n3' and
                                  5 * S < x['inv'] < 15 * S)]
        # 12 admits within 0.5 s of the cut; n3 held at most 2 + one lease
        for j in range(12):
            a.append(adm('n3', 5 * S + j * 40 * MS, 'Lq%d' % j, 1005))
        smp.append({'t': 5 * S - 10 * MS, 'node': 'n3', 'status': {
            'quota': {'lease_ms': 500, 'leases': [{
                'id': 'Lh', 'tokens': 4, 'used': 2, 'expires_in_ms': 300}]}}})
        r = quota.check_minority(a, self.cut(), smp)
        self.assertEqual(r['verdict'], 'FAIL', r)
        self.assertEqual(r['witness'][0]['kind'], 'spent-more-than-held')

    def test_pause_reuse_fails(self):
        a, smp = valid()
        pause = [{'kind': 'pause-leader', 'start': 5 * S, 'end': 10 * S,
                  'nodes': ['n1'], 'value': {'t_apply': 5 * S}}]
        a = [x for x in a if not (x['node'] == 'n1' and
                                  5 * S <= x['inv'] < 10 * S)]
        self.assertEqual(quota.check_minority(a, pause, smp)['verdict'],
                         'PASS')
        a.append(adm('n1', 10 * S + 10 * MS, 'Ln1-4-0', 1010))
        r = quota.check_minority(a, pause, smp)
        self.assertEqual(r['verdict'], 'FAIL')
        self.assertEqual(r['witness'][0]['kind'], 'old-lease-after-pause')

    def test_lease_duration_from_status(self):
        _, smp = valid()
        self.assertEqual(quota.lease_duration_ms(smp), (500.0, 'status'))
        self.assertEqual(quota.lease_duration_ms([], 700)[0], 700.0)

    def test_utilization(self):
        # offered 25 a second per node, 10 a window admitted: full use
        off = []
        for w in range(20):
            for j in range(75):
                off.append((NODES[j % 3], w * S + j * 13 * MS, j < 10))
        r = quota.check_utilization(off, [], NODES, 10, 1, (0, 20 * S))
        self.assertEqual(r['verdict'], 'PASS', r)
        # only 3 of 10 a window admitted from 10 s on
        off2 = [(n, t, ok and (t < 10 * S or (t // (13 * MS)) % 75 < 3))
                for n, t, ok in off]
        r = quota.check_utilization(off2, [], NODES, 10, 1, (0, 20 * S))
        self.assertEqual(r['verdict'], 'FAIL', r)

    def test_from_history(self):
        evs = [{'i': 0, 't': 10, 'proc': 1, 'type': 'invoke', 'wl': 'quota',
                'f': 'get', 'node': 'n2'},
               {'i': 1, 't': 20, 'proc': 1, 'type': 'ok', 'wl': 'quota',
                'f': 'get', 'node': 'n2', 'inv': 0, 'http': 200,
                'quota': quota.parse_header(
                    'node=n2;lease=77;window=1700000000')},
               {'i': 2, 't': 30, 'proc': 1, 'type': 'invoke', 'wl': 'quota',
                'f': 'get', 'node': 'n2'},
               {'i': 3, 't': 40, 'proc': 1, 'type': 'ok', 'wl': 'quota',
                'f': 'get', 'node': 'n2', 'inv': 2, 'http': 429}]
        a = quota.admits(evs)
        self.assertEqual(len(a), 1)
        self.assertEqual((a[0]['lease'], a[0]['window'], a[0]['hnode']),
                         ('77', 1700000000, 'n2'))
        self.assertEqual(len(quota.offered(evs)), 2)


if __name__ == '__main__':
    unittest.main()
