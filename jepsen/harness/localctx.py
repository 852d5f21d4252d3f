"""A Ctx for a local, root-free cluster on 127.0.0.1 (cluster/local-cluster
--base-port 0), so the workloads and checkers run without namespaces: for
development and CI self-tests.  Also a small driver:

    cd jepsen && /usr/bin/python3 -m harness.localctx --raftgate BIN \
        [--seconds 20] [--nemesis none|kill-leader|kill-follower|kill-all]
        [--dir DIR] [--keep]

runs register, durable and proxy concurrently against a fresh local
cluster, optionally SIGKILLs and restarts nodes (local-cluster kill /
restart; the nemesis events go into the history like the real nemesis'),
then final() and check() of every workload, and prints the verdicts.
No partitions or pauses here: those need the namespaces.
"""

import argparse
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading

from harness import ctx as ctxmod
from harness.history import History

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LOCAL_CLUSTER = os.path.join(TOP, 'cluster', 'local-cluster')


class LocalNode(ctxmod.Node):
    def __init__(self, rec):
        super().__init__(rec['id'])
        self.ip = '127.0.0.1'
        self.admin = (self.ip, rec['admin'])
        self.proxy = (self.ip, rec['proxy'])
        self.status_addr = (self.ip, rec['status'])
        self.raft = (self.ip, rec['raft'])
        self.log = rec.get('log')
        self.dir = rec.get('dir')


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        # one write: head and body in separate segments cost 40 ms per
        # request (Nagle + delayed ACK)
        self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n'
                         b'Content-Type: text/plain\r\n\r\nok\n')
        self.wfile.flush()

    def log_message(self, *a):
        pass


class Upstream:
    """A 200-answering upstream on an ephemeral loopback port."""

    def __init__(self):
        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Echo)
        self.srv.daemon_threads = True
        self.addr = self.srv.server_address
        self.t = threading.Thread(target=self.srv.serve_forever,
                                  daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class LocalCluster:
    def __init__(self, raftgate, d, election_timeout=None):
        self.raftgate = raftgate
        self.dir = d
        self.election_timeout = election_timeout

    def _lc(self, *args, timeout=60):
        cmd = [sys.executable, LOCAL_CLUSTER] + list(args) + ['--dir',
                                                             self.dir]
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        args = ['start', '--base-port', '0', '--raftgate', self.raftgate]
        if self.election_timeout:
            args += ['--election-timeout', self.election_timeout]
        r = self._lc(*args)
        if r.returncode != 0:
            raise RuntimeError('local-cluster start: %s%s'
                               % (r.stdout, r.stderr))
        with open(os.path.join(self.dir, 'cluster.json')) as fh:
            self.state = json.load(fh)
        return [LocalNode(n) for n in self.state['nodes']]

    def kill(self, node):
        return self._lc('kill', str(node.id)).returncode == 0

    def restart(self, node, wait=True):
        """Start @node again; without @wait, do not wait for the cluster
        (a lone node of a killed-all cluster has no leader to find)."""
        args = ['restart', str(node.id)]
        if not wait:
            args += ['--timeout', '0.5']
        r = self._lc(*args)
        return r.returncode == 0 or not wait

    def stop(self):
        return self._lc('stop').returncode == 0


class Flaky:
    """fakes/upstream.py's instance (with its /_ctl/mode control) on an
    ephemeral loopback port: the breaker workload's upstream."""

    def __init__(self):
        from harness.fakes import upstream as fu
        self.srv = fu.Server(('127.0.0.1', 0), fu.make_handler(
            'flaky', {'mode': 'ok', 'served': {}, 'lock': threading.Lock()}))
        self.addr = self.srv.server_address
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class LocalCtx(ctxmod.Ctx):
    def __init__(self, nodes, history, store, upstream, seed=0, test='local',
                 cluster=None, flaky=None):
        super().__init__(nodes, history, store, seed=seed, test=test)
        self.upstreams = [upstream]
        self.cluster = cluster
        self.flaky = flaky
        # local-cluster starts the nodes without --consul
        self.caps = {'consul': False, 'consul_why': 'local cluster: no '
                     'Consul stand-in wired'}


def leader(ctx):
    for n in ctx.nodes:
        st = ctx.status(n)
        if st and st.get('raft_state') == 'leader':
            return n
    return None


def nemesis_kill(ctx, which, stop, down_s=4.0, up_s=6.0):
    """Kill/restart cycles until @stop: which = kill-leader|kill-follower|
    kill-all."""
    k = 0
    if stop.wait(3.0):
        return
    while not stop.is_set():
        k += 1
        ld = leader(ctx)
        if which == 'kill-all':
            targets = list(ctx.nodes)
        elif which == 'kill-leader':
            targets = [ld or ctx.nodes[0]]
        else:
            targets = [ctx.rng.choice([n for n in ctx.nodes if n is not ld])]
        names = [n.name for n in targets]
        fid = 'kill-%d' % k
        t_apply = ctx.history.now()
        for n in targets:
            ctx.cluster.kill(n)
        ctx.history.nemesis('start-kill', {'id': fid, 'kind': which,
                                           'nodes': names,
                                           't_apply': t_apply,
                                           'minority': names})
        stop.wait(down_s)
        for k2, n in enumerate(targets):
            ctx.cluster.restart(n, wait=k2 == len(targets) - 1)
        ctx.history.nemesis('stop-kill', {'id': fid, 'kind': which,
                                          'nodes': names})
        if stop.wait(up_s):
            break


def main(argv=None):
    from harness.checkers import logscan
    from harness.workloads import WORKLOADS
    ap = argparse.ArgumentParser(prog='harness.localctx')
    ap.add_argument('--raftgate', default=os.environ.get('RAFTGATE_BIN'))
    ap.add_argument('--seconds', type=float, default=20.0)
    ap.add_argument('--nemesis', default='none',
                    choices=['none', 'kill-leader', 'kill-follower',
                             'kill-all'])
    ap.add_argument('--workloads', default='register,durable,proxy',
                    help='comma list of: register durable proxy quota '
                    'breaker proxy-consul')
    ap.add_argument('--dir', default=None)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--unsafe-local-reads', action='store_true',
                    help='negative control: register reads without the '
                    'barrier, still checked as linearizable')
    a = ap.parse_args(argv)
    if not a.raftgate:
        ap.error('--raftgate or RAFTGATE_BIN')
    d = a.dir or tempfile.mkdtemp(prefix='rgj-local-')
    os.makedirs(d, exist_ok=True)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    up = Upstream()
    flaky = Flaky()
    cl = LocalCluster(os.path.abspath(a.raftgate), os.path.join(d, 'cluster'))
    hist = History(os.path.join(d, 'history.jsonl'))
    nodes = cl.start()
    ctx = LocalCtx(nodes, hist, d, up.addr, seed=seed, cluster=cl,
                   test='local%d' % (seed % 100000), flaky=flaky.addr)
    wls = []
    for w in a.workloads.split(','):
        if w == 'register':
            wls.append(WORKLOADS[w](
                unsafe_local_reads=a.unsafe_local_reads))
        elif w:
            wls.append(WORKLOADS[w]())
    results = []
    try:
        for w in wls:
            w.setup(ctx)
        stop = threading.Event()
        ts = [threading.Thread(target=w.run, args=(ctx, stop), daemon=True)
              for w in wls]
        if a.nemesis != 'none':
            ts.append(threading.Thread(target=nemesis_kill,
                                       args=(ctx, a.nemesis, stop),
                                       daemon=True))
        for t in ts:
            t.start()
        stop.wait(a.seconds)
        stop.set()
        for t in ts:
            t.join(timeout=30)
        for w in wls:
            w.final(ctx)
        for w in wls:
            results += w.check(ctx, hist)
        results.append(logscan.check({n.name: n.log for n in nodes},
                                     [n.dir for n in nodes]))
    finally:
        cl.stop()
        up.close()
        flaky.close()
        hist.close()
    counts = {}
    for ev in hist.events():
        if ev.get('type') in ('ok', 'fail', 'info') and ev.get('wl'):
            c = counts.setdefault(ev['wl'], {'ok': 0, 'fail': 0, 'info': 0})
            c[ev['type']] += 1
    print('seed=%d dir=%s' % (seed, d))
    print(' ops   ' + ' | '.join('%s ok %d fail %d info %d' % (
        k, v['ok'], v['fail'], v['info']) for k, v in sorted(counts.items())))
    for r in results:
        print(' %-7s %-26s %s' % (r['verdict'], r['name'], r['summary']))
        if r['verdict'] == 'FAIL' and r.get('witness'):
            print('         witness: %s' % json.dumps(r['witness'],
                                                      default=str)[:2000])
    with open(os.path.join(d, 'results.json'), 'w') as fh:
        json.dump(results, fh, default=str, indent=1)
    nf = sum(r['verdict'] == 'FAIL' for r in results)
    if not a.keep and nf == 0:
        shutil.rmtree(os.path.join(d, 'cluster'), ignore_errors=True)
    return 1 if nf else 0


if __name__ == '__main__':
    sys.exit(main())
