"""Harness pieces for the quota, breaker and Consul workloads (no root):
the negative control's any-of inversion (a missing violation is a FAIL,
a workload skipped for lack of the feature is SKIPPED), feature detection
of the workloads against a fake admin API, and the harness's minimal
Consul stand-in (blocking queries, control, token)."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))

from harness import __main__ as hm  # noqa: E402
from harness.workloads import breaker, common, proxy, quota  # noqa: E402

ANY = {'quota': ['c1/quota-envelope', 'c2/quota-accounting']}


def chk(name, verdict):
    return {'name': name, 'verdict': verdict, 'summary': verdict,
            'witness': {'x': 1} if verdict == 'FAIL' else None}


class NegativeControl(unittest.TestCase):
    def inv(self, v1, v2):
        out = hm.invert_expected([chk('c1/quota-envelope', v1),
                                  chk('c2/quota-accounting', v2),
                                  chk('a/linearizable-admin', 'PASS')],
                                 (), (), ['--unsafe-lease-reclaim-early'],
                                 ANY)
        return {c['name']: c['verdict'] for c in out}

    def test_violation_found(self):
        r = self.inv('PASS', 'FAIL')
        self.assertEqual(r['negative-control/quota'], 'PASS')
        self.assertEqual(r['c2/quota-accounting'], 'INFO')
        self.assertEqual(r['a/linearizable-admin'], 'PASS')

    def test_violation_missing_is_fail(self):
        self.assertEqual(self.inv('PASS', 'PASS')['negative-control/quota'],
                         'FAIL')
        self.assertEqual(self.inv('UNKNOWN', 'PASS')
                         ['negative-control/quota'], 'FAIL')
        out = hm.invert_expected([], (), (), [], ANY)
        self.assertEqual(out[0]['verdict'], 'FAIL')

    def test_feature_missing_is_skipped(self):
        self.assertEqual(self.inv('SKIPPED', 'SKIPPED')
                         ['negative-control/quota'], 'SKIPPED')

    def test_counts(self):
        from harness import report
        tr = {'checks': hm.invert_expected(
            [chk('c1/quota-envelope', 'PASS'),
             chk('c2/quota-accounting', 'PASS')], (), (), [], ANY)}
        self.assertEqual(report.counts([tr]), (0, 1, 0))


class FakeNode:
    def __init__(self, k):
        self.name = 'n%d' % k
        self.id = k


class FakeCtx:
    """Answers the admin and proxy calls the workloads' setup makes."""

    def __init__(self, plugin_status=201, status=None, header=None):
        self.nodes = [FakeNode(k) for k in (1, 2, 3)]
        self.stop = threading.Event()
        self.plugin_status = plugin_status
        self.st = status if status is not None else {
            'ready': True, 'cb': {}, 'quota': {'leases': []}}
        self.header = header
        self.upstreams = [('127.0.0.1', 9)]
        self.flaky = ('127.0.0.1', 9)
        self.caps = {}

    def http(self, node, method, path, body=None, timeout=2.0,
             port='admin', headers=None):
        if path.startswith('/plugins/'):
            return (self.plugin_status, {},
                    b'{"message":"unknown plugin"}' if
                    self.plugin_status == 400 else b'{}')
        if port == 'proxy':
            h = {'x-raftgate-quota': self.header} if self.header else {}
            return 200, h, b'ok'
        return 200, {}, b'{}'

    def status(self, node, timeout=1.0):
        return self.st


class FeatureDetection(unittest.TestCase):
    def test_quota_skips(self):
        q = quota.Quota()
        q.setup(FakeCtx(plugin_status=400))
        self.assertIn('refused', q.skip)
        q = quota.Quota()
        q.setup(FakeCtx(status={'ready': True}))
        self.assertIn('no quota field', q.skip)
        q = quota.Quota()
        q.setup(FakeCtx())
        self.assertIn('X-Raftgate-Quota', q.skip)
        res = q.check(None, [])
        self.assertEqual([r['verdict'] for r in res], ['SKIPPED'])
        self.assertEqual(len(res[0]['covers']), 4)
        # a negative control over a skipped workload is SKIPPED, not PASS
        out = hm.invert_expected(res, (), (), [], ANY)
        self.assertEqual(out[0]['name'], 'negative-control/quota')
        self.assertEqual(out[0]['verdict'], 'SKIPPED')

    def test_quota_runs_with_feature(self):
        q = quota.Quota()
        q.setup(FakeCtx(header='node=n1;lease=7;window=1700000000'))
        self.assertIsNone(q.skip)

    def test_breaker_skips(self):
        b = breaker.Breaker()
        b.ctl = lambda ctx, path: (200, b'{}')
        b.setup(FakeCtx(plugin_status=400))
        self.assertIn('refused', b.skip)
        b = breaker.Breaker()
        b.ctl = lambda ctx, path: (200, b'{}')
        ctx = FakeCtx()
        b.setup(ctx)
        self.assertIsNone(b.skip)       # judged over the run
        ctx.sampler = type('S', (), {'get': lambda self: [
            {'t': 1, 'node': 'n1', 'status': {'cb': {}}}]})()
        ctx.faults = lambda: []
        res = b.check(ctx, [])
        self.assertEqual({r['verdict'] for r in res}, {'SKIPPED'})
        self.assertIn('cb.flaky', res[0]['summary'])
        ctx.sampler = type('S', (), {'get': lambda self: [
            {'t': 1, 'node': 'n1', 'status': {'cb': {'flaky': {
                'state': 'closed', 'version': 1}}}}]})()
        self.assertNotIn('SKIPPED', {r['verdict'] for r in b.check(ctx, [])})
        b.skip = 'x'
        self.assertEqual({r['verdict'] for r in b.check(None, [])},
                         {'SKIPPED'})

    def test_consul_skips(self):
        p = proxy.ProxyConsul()
        ctx = FakeCtx()
        p.setup(ctx)
        self.assertTrue(p.skip)
        self.assertEqual(p.check(ctx, [])[0]['verdict'], 'SKIPPED')

    def test_skipped_helper(self):
        self.assertEqual(common.skipped(['x'], 'why')[0]['verdict'],
                         'SKIPPED')


class ConsulStandin(unittest.TestCase):
    def setUp(self):
        import socket
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        self.port = s.getsockname()[1]
        s.close()
        self.p = subprocess.Popen(
            [sys.executable, '-m', 'harness.fakes.consul', '--listen',
             '127.0.0.1:%d' % self.port, '--token', 'T', '--service',
             'echo=e1@10.77.0.61:8080,e2@10.77.0.62:8080'],
            cwd=os.path.join(HERE, '..'), stdout=subprocess.PIPE, text=True)
        self.assertEqual(self.p.stdout.readline().strip(), 'ready')

    def tearDown(self):
        self.p.terminate()
        self.p.wait(timeout=5)
        self.p.stdout.close()

    def get(self, path, token='T', timeout=5):
        c = http.client.HTTPConnection('127.0.0.1', self.port,
                                       timeout=timeout)
        c.request('GET', path, headers={'X-Consul-Token': token})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, r.getheader('X-Consul-Index'), body

    def put(self, path):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        c.request('PUT', path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def test_blocking_query(self):
        st, idx, body = self.get('/v1/health/service/echo?passing=1')
        self.assertEqual(st, 200)
        insts = json.loads(body)
        self.assertEqual([(i['Service']['ID'], i['Service']['Port'])
                          for i in insts], [('e1', 8080), ('e2', 8080)])
        self.assertEqual(self.get('/v1/health/service/echo', token='x')[0],
                         403)
        # a blocking query returns when the index moves
        t = threading.Timer(0.3, lambda: self.put(
            '/_ctl/echo/e2/critical'))
        t.start()
        t0 = time.monotonic()
        st, idx2, body = self.get('/v1/health/service/echo?passing=1&'
                                  'index=%s&wait=5s' % idx)
        t.join()
        self.assertLess(time.monotonic() - t0, 3)
        self.assertGreater(int(idx2), int(idx))
        self.assertEqual([i['Service']['ID'] for i in json.loads(body)],
                         ['e1'])
        # and after `wait` without a change
        t0 = time.monotonic()
        st, idx3, _ = self.get('/v1/health/service/echo?passing=1&'
                               'index=%s&wait=300ms' % idx2)
        self.assertEqual(idx3, idx2)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)


if __name__ == '__main__':
    unittest.main()
