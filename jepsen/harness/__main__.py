"""raftgate jepsen harness CLI (docs/fault-injection.md 4.5, 4.6).

    jepsen/run --suite smoke|extended [--test NAME ...] [--seed S]
               [--time-scale F] [--store DIR] [--keep] [--list]

Exit 0: no FAIL (SKIPPED/UNKNOWN allowed in smoke; UNKNOWN fails in
extended); 1: a FAIL; 2: harness error.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

from . import ctx as ctx_mod
from . import history as history_mod
from . import nemesis as nem_mod
from . import procs, report, sampler, topo as topo_mod

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# ------------------------------------------------------------- profiles
# Negative controls (docs/fault-injection.md 4.2 item 9): raftgate started with an
# unsafe test switch; the test passes only when the expect_fail checks
# FAIL.  Checks in may_fail rest on the guarantee the switch removes (here
# stale reads also break version order and the durable workload's
# linearizable lists): they are reported as INFO, not counted.  They need a
# test build (configure --enable-failpoints).
NEG_LOCAL_READS = dict(node_args=['--unsafe-local-admin-reads'],
                       expect_fail=['a/linearizable-admin'],
                       may_fail=['a/version-order', 'b/no-lost-acked-writes'])
# --unsafe-lease-reclaim-early: a node hands its unused lease tokens back
# to the ledger and keeps spending them, so the cluster over-admits; the
# quota checker must see it in c1 (envelope) or c2 (per-window sum): one
# of them failing makes negative-control/quota PASS, neither a FAIL.
NEG_LEASE = dict(node_args=['--unsafe-lease-reclaim-early'],
                 expect_any_fail={'quota': ['c1/quota-envelope',
                                            'c2/quota-accounting']},
                 may_fail=['c3/minority-stops', 'c4/quota-utilization'])

# each test: main phase seconds, schedule (op, hold s, heal s; hold None
# = permanent), node options.  All workloads run in every test.
SMOKE = {
    'baseline': dict(main=30, schedule=[]),
    'partition': dict(main=80, schedule=[
        ('partition:isolate-leader', 10, 8),
        ('partition:isolate-follower', 10, 8),
        ('partition:bridge-leader', 10, 8),
        # a follower instead while the binary has no Consul discovery;
        # 14 s: a watch turns stale when a query gets no answer for its
        # wait + 10 s (12 s here), so the node routes on from a stale answer
        ('partition:isolate-from-consul', 14, 8)]),
    'kill': dict(main=70, final_kill_all=True, schedule=[
        ('kill:leader', 6, 8), ('kill:follower', 6, 8), ('kill:all', 6, 8)]),
    'pause': dict(main=60, schedule=[
        ('pause:leader', 5, 8), ('pause:leader', 5, 8),
        ('pause:follower', 5, 8)]),
    'clock': dict(main=60, faketime=True, skew=True, schedule=[
        ('clock-jump:2', None, 10), ('clock-jump:10', None, 10),
        ('clock-jump:30', None, 10)]),
    'packet': dict(main=60, schedule=[
        ('packet:loss', 10, 8), ('packet:delay', 10, 8)]),
    'disk': dict(main=45, tmpfs=64, schedule=[
        ('disk:follower', 8, 8), ('disk:leader', 8, 8)]),
    # skipped unless RAFTGATE_BIN is a test build
    'neg-local-reads': dict(NEG_LOCAL_READS, main=20, schedule=[
        ('partition:isolate-leader', 10, 8)]),
    # skipped unless the binary is a test build taking the switch
    'neg-lease-reclaim': dict(NEG_LEASE, main=20, schedule=[
        ('partition:isolate-follower', 8, 6)]),
}

NEGATIVE = {
    'neg-local-reads': dict(NEG_LOCAL_READS, main=40, schedule=[
        ('partition:isolate-leader', 10, 8),
        ('partition:isolate-leader', 10, 8)]),
    'neg-lease-reclaim': dict(NEG_LEASE, main=40, schedule=[
        ('partition:isolate-follower', 8, 6),
        ('partition:isolate-leader', 8, 6)]),
}


def _cycle(ops, hold, heal, total):
    out = []
    i = 0
    t = 0
    while t + (hold or 0) + heal <= total and i < 1000:
        out.append((ops[i % len(ops)], hold, heal))
        t += (hold or 0) + heal
        i += 1
    return out


EXTENDED = {
    'baseline': dict(main=120, schedule=[]),
    'partition': dict(main=300, schedule=_cycle(
        ['partition:isolate-leader', 'partition:isolate-follower',
         'partition:bridge-leader', 'partition:bridge-follower',
         'partition:isolate-from-consul'], 10, 8, 300)),
    'kill': dict(main=300, final_kill_all=True, schedule=_cycle(
        ['kill:leader', 'kill:follower', 'kill:all'], 7, 8, 300)),
    'pause': dict(main=300, schedule=_cycle(
        ['pause:leader', 'pause:follower'], 5, 8, 300)),
    'freeze': dict(main=120, schedule=_cycle(
        ['freeze:leader', 'freeze:follower'], 5, 8, 120)),
    'membership': dict(main=120, schedule=[
        ('member:transfer', 0, 8), ('kill:leader', 6, 8)] * 4),
    'clock': dict(main=300, faketime=True, skew=True, schedule=_cycle(
        ['clock-jump:2', 'clock-jump:5', 'clock-jump:30'], None, 10, 300)),
    'packet': dict(main=300, schedule=_cycle(
        ['packet:loss', 'packet:delay'], 10, 8, 300)),
    'disk': dict(main=300, tmpfs=64, schedule=_cycle(
        ['disk:follower', 'disk:leader'], 8, 8, 300)),
    'partition+kill': dict(main=300, final_kill_all=True, schedule=_cycle(
        ['partition:isolate-leader', 'kill:follower', 'partition:bridge-leader',
         'kill:leader'], 8, 8, 300)),
    'partition+pause': dict(main=300, schedule=_cycle(
        ['partition:isolate-follower', 'pause:leader'], 8, 8, 300)),
    'packet+kill': dict(main=300, final_kill_all=True, schedule=_cycle(
        ['packet:delay', 'kill:leader', 'packet:loss'], 8, 8, 300)),
}
EXTENDED.update(NEGATIVE)

# capabilities whose absence skips a test
NEEDS = {'partition': ['nft'], 'clock': ['faketime'],
         'packet': ['nft_numgen', 'nfqueue'], 'disk': ['tmpfs'],
         'freeze': ['freezer'],
         'partition+kill': ['nft'], 'partition+pause': ['nft'],
         'neg-local-reads': ['nft', 'test_build'],
         'neg-lease-reclaim': ['nft', 'test_build', 'unsafe_lease_reclaim'],
         'packet+kill': ['nft_numgen', 'nfqueue']}

# what a missing capability means, for the SKIPPED line
REMEDY = {'test_build': 'test_build (RAFTGATE_BIN is not a test build: '
                        'configure --enable-failpoints)',
          'freezer': 'freezer (no writable /sys/fs/cgroup/freezer)',
          'unsafe_lease_reclaim': 'unsafe_lease_reclaim (the binary '
                                  'refuses --unsafe-lease-reclaim-early: no '
                                  'cluster leases yet)'}

T0 = time.monotonic()


def log(msg):
    sys.stdout.write('[%7.1f] %s\n' % (time.monotonic() - T0, msg))
    sys.stdout.flush()


# ------------------------------------------------------------- built-ins
class StatusLoop:
    """Trivial built-in workload (used when workloads/ is absent): GET
    /status through the admin port and GET /jepsen-base through the proxy,
    round robin over the nodes."""
    name = 'status'
    rate = 20
    workers = 2

    def setup(self, ctx):
        pass

    def run(self, ctx, stop):
        def worker(w):
            proc = w
            k = w
            nxt = time.monotonic()
            for _ in range(10 ** 6):
                if stop.is_set():
                    return
                node = ctx.nodes[k % len(ctx.nodes)]
                k += 1
                port = 'proxy' if k % 2 else 'admin'
                path = '/jepsen-base/x' if port == 'proxy' else '/status'
                op = ctx.history.invoke(proc, self.name, 'get-' + port,
                                        node=node.name)
                try:
                    st, _, _ = ctx.http(node, 'GET', path, timeout=1.0,
                                        port=port)
                    ctx.history.complete(op, 'ok' if st == 200 else 'fail',
                                         http=st)
                except OSError as e:
                    ctx.history.complete(op, 'info', err=str(e)[:80])
                    proc += self.workers
                nxt += self.workers / self.rate
                ctx.sleep_until(nxt)
        ts = [threading.Thread(target=worker, args=(w,), daemon=True)
              for w in range(self.workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def final(self, ctx):
        pass

    def check(self, ctx, history):
        evs = [e for e in history.events() if e.get('wl') == self.name]
        ok = sum(1 for e in evs if e['type'] == 'ok')
        n = sum(1 for e in evs if e['type'] != 'invoke')
        return [{'name': 'status/ops', 'verdict': 'PASS' if ok else 'FAIL',
                 'summary': '%d of %d completed ok' % (ok, n),
                 'witness': None}]


def load_workloads():
    try:
        from .workloads import WORKLOADS
        return [cls() for cls in WORKLOADS.values()], 'workloads/'
    except Exception as e:      # not landed yet, or broken: say so
        log('workloads/ unavailable (%s: %s): using the built-in status '
            'workload' % (type(e).__name__, e))
        return [StatusLoop()], 'builtin (%s)' % type(e).__name__


def check_nemesis_effective(events):
    starts = [e['value'] for e in events if e.get('proc') == 'nemesis' and
              e.get('f', '').startswith('start-')]
    bad = [v for v in starts if not v.get('effective')]
    if not starts:
        return {'name': 'nemesis-effective', 'verdict': 'INFO',
                'summary': 'no faults', 'witness': None}
    return {'name': 'nemesis-effective',
            'verdict': 'FAIL' if bad else 'PASS',
            'summary': '%d/%d faults observable%s' % (
                len(starts) - len(bad), len(starts),
                '' if bad else '; ' + '; '.join(
                    '%s: %s' % (v['kind'], v.get('detail', ''))
                    for v in starts[:4])[:300]),
            'witness': bad or None}


def converged(samples_by_node, floor=None):
    """All ready, one leader, and every node caught up.

    Without @floor: the same (config_version, config_hash) everywhere and
    the data plane serving it (served_revision). The workloads keep
    writing while the harness waits (docs/fault-injection.md 4.5 step 5 comes before the
    final reads), and one poll round asks the nodes one after the other,
    so under load the versions of a healthy cluster rarely line up inside
    one round. With @floor (the highest config_version any node reported
    in the previous round) a round is converged when every node has
    applied and serves at least @floor, and nodes at the same version
    agree on its hash: a node stuck behind never passes, a healthy one
    lags by at most one round."""
    vals = list(samples_by_node.values())
    if any(v is None or not v.get('ready') for v in vals):
        return False
    leaders = {v.get('leader_id') for v in vals}
    if len(leaders) != 1 or not vals[0].get('leader_id'):
        return False
    hashes = {}
    for v in vals:
        ver = v.get('config_version')
        if hashes.setdefault(ver, v.get('config_hash')) != v.get('config_hash'):
            return False
    if floor is None:
        return len(hashes) == 1 and all(
            v.get('served_revision', v.get('config_version')) ==
            v.get('config_version') for v in vals)
    return all((v.get('config_version') or 0) >= floor and
               (v.get('served_revision', v.get('config_version')) or 0) >=
               floor for v in vals)


def top_version(samples_by_node):
    vs = [v.get('config_version') or 0 for v in samples_by_node.values()
          if v is not None]
    return max(vs) if vs else None


def wait_converged(ctx, timeout):
    end = time.monotonic() + timeout
    t0 = time.monotonic()
    last = {}
    floor = None
    while time.monotonic() < end:
        last = {n.name: ctx.status(n, timeout=0.5) for n in ctx.nodes}
        if converged(last, floor):
            return time.monotonic() - t0, last
        floor = top_version(last)
        time.sleep(0.2)
    return None, last


def check_converged(t_conv, last, bound):
    if t_conv is None:
        return {'name': 'harness/converged', 'verdict': 'FAIL',
                'summary': 'nodes not converged within %.0f s of final heal'
                % bound, 'witness': last}
    v = next(iter(last.values()))
    return {'name': 'harness/converged', 'verdict': 'PASS',
            'summary': '%s @ version %s hash %s leader n%s %.1f s after '
                       'heal (bound %.0f s)' % (
                           ','.join(sorted(last)), v.get('config_version'),
                           str(v.get('config_hash'))[:8], v.get('leader_id'),
                           t_conv, bound), 'witness': None}


LOG_BAD = re.compile(r'RG-ASSERT|AddressSanitizer|LeakSanitizer|'
                     r'UndefinedBehaviorSanitizer|runtime error:|'
                     r'raft:.*corrupt|Segmentation fault|core dumped')


def check_logscan(cluster, unexpected_exits):
    hits = []
    for name, np_ in cluster.p.items():
        for fn in ('raftgate.log', 'stdout.log'):
            path = os.path.join(np_.dir, fn)
            try:
                with open(path, errors='replace') as fh:
                    for ln, line in enumerate(fh, 1):
                        if LOG_BAD.search(line) and len(hits) < 20:
                            hits.append('%s/%s:%d: %s' % (name, fn, ln,
                                                          line.strip()[:200]))
            except OSError:
                pass
        for fn in os.listdir(np_.dir):
            if fn.startswith('core'):
                hits.append('%s: core file %s' % (name, fn))
    hits += unexpected_exits
    return {'name': 'harness/logscan', 'verdict': 'FAIL' if hits else 'PASS',
            'summary': '%d findings (asserts, sanitizers, cores, unexpected '
                       'exits)' % len(hits), 'witness': hits or None}


# ------------------------------------------------------------- probe
def test_build(binary):
    """Was @binary built with failpoints (`raftgate -v`: "features:
    failpoints"), so that its unsafe test switches exist?"""
    r = subprocess.run([binary, '-v'], capture_output=True, text=True)
    return bool(re.search(r'^features:.*\bfailpoints\b', r.stdout + r.stderr,
                          re.M))


CONSUL_YAML = ('consul:\n  address: "http://%s:%d"\n  wait: 2s\n'
               % ctx_mod.CONSUL)


# the quota hooks' node config (JEPSEN.md 4.2: D = 500 ms for the suite;
# the X-Raftgate-Quota header is a debug switch of the node)
QUOTA_RAFT = '  quota_lease_ms: 500\n  quota_debug_header: true\n'


def accepts_config(binary, raft_extra, store):
    """Does @binary load a node config whose raft section has
    @raft_extra?  (`raftgate -t -c FILE`: unknown keys are errors.)"""
    d = os.path.join(store, '.config-probe')
    os.makedirs(os.path.join(d, 'n1', 'data'), exist_ok=True)
    with open(os.path.join(d, 'seed.yml'), 'w') as fh:
        fh.write(procs.SEED)
    n = ctx_mod.Node(1)
    cfg = os.path.join(d, 'n1', 'raftgate.yml')
    with open(cfg, 'w') as fh:
        fh.write(procs.node_yaml(n, [n], os.path.join(d, 'n1', 'data'),
                                 raft_extra))
    try:
        r = subprocess.run([binary, '-t', '-c', cfg], capture_output=True,
                           text=True, timeout=10)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(d, ignore_errors=True)


def accepts(binary, args):
    """Does @binary take the options @args?  `raftgate ARGS -v` prints the
    version and exits 0 when it knows them, and exits 2 with
    "unrecognized option" when it does not (getopt reads them in order,
    before -v acts)."""
    try:
        r = subprocess.run([binary] + list(args) + ['-v'],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and 'unrecognized' not in r.stderr


def consul_standin():
    """The Consul stand-in's command: $RGJ_CONSUL_STANDIN if set, else the
    project's tests/consul_standin.py when it exists, else the harness's
    minimal fakes/consul.py (same CLI)."""
    env = os.environ.get('RGJ_CONSUL_STANDIN')   # another checkout's
    if env:
        return ['/usr/bin/python3', env], env
    real = os.path.join(TOP, 'tests', 'consul_standin.py')
    if os.path.exists(real):
        return ['/usr/bin/python3', real], 'tests/consul_standin.py'
    return ['/usr/bin/python3', '-m', 'harness.fakes.consul'], \
        'harness/fakes/consul.py'


def start_consul(run_store):
    """Start the stand-in at CONSUL with service echo on the fake
    upstreams; wait for its `ready` line (5 s).  (Popen, None) or (None,
    why)."""
    cmd, src = consul_standin()
    svc = 'echo=' + ','.join('e%d@%s:%d' % (k + 1, h, p) for k, (h, p) in
                             enumerate(ctx_mod.UPSTREAMS))
    cmd = cmd + ['--listen', '%s:%d' % ctx_mod.CONSUL, '--service', svc]
    p = subprocess.Popen(cmd, cwd=os.path.dirname(HERE),
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         stderr=open(os.path.join(run_store, 'consul.log'),
                                     'wb'), text=True)
    got = threading.Event()

    def read():
        for _ in range(100):            # a few log lines may come first
            line = p.stdout.readline()
            if not line:
                return
            if line.strip() == 'ready':
                got.set()
                break
        for _ in iter(p.stdout.readline, ''):
            pass                        # keep the pipe drained
    threading.Thread(target=read, daemon=True).start()
    if got.wait(5):
        log('consul stand-in (%s) at %s:%d' % ((src,) + ctx_mod.CONSUL))
        return p, None
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
    return None, 'the Consul stand-in (%s) did not print ready' % src


def probe_caps(topo, store):
    caps = {'netns': True}
    r = topo.exec_in(1, ['nft', '-f', '-'], input=(
        'add table inet rgjprobe\nadd chain inet rgjprobe input { type filter '
        'hook input priority 0 ; policy accept ; }\n'))
    caps['nft'] = r.returncode == 0
    r = topo.exec_in(1, ['nft', 'add', 'rule', 'inet', 'rgjprobe', 'input',
                         'ip', 'saddr', '10.77.0.0/24', 'numgen', 'random',
                         'mod', '100', '<', '1', 'drop'])
    caps['nft_numgen'] = caps['nft'] and r.returncode == 0
    topo.exec_in(1, ['nft', 'delete', 'table', 'inet', 'rgjprobe'])
    rule = ['OUTPUT', '-d', '10.77.0.250', '-j', 'NFQUEUE', '--queue-num',
            '7', '--queue-bypass']
    r = topo.exec_in(1, ['iptables', '-w', '-A'] + rule)
    caps['nfqueue'] = r.returncode == 0
    topo.exec_in(1, ['iptables', '-w', '-D'] + rule)
    caps['faketime'] = procs.faketime_lib() is not None
    d = os.path.join(store, '.tmpfs-probe')
    os.makedirs(d, exist_ok=True)
    r = topo_mod.sh(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'rgjtmpfs', d],
                    check=False)
    caps['tmpfs'] = r.returncode == 0
    if caps['tmpfs']:
        topo_mod.sh(['umount', d], check=False)
    os.rmdir(d)
    caps['netem'] = False       # never available on this kernel kind
    caps['freezer'] = os.access(os.path.join(procs.FREEZER, 'cgroup.procs'),
                                os.W_OK)
    return caps


# ------------------------------------------------------------- one test
def wait_ready(ctx, cluster, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sts = [ctx.status(n, timeout=0.5) for n in ctx.nodes]
        if all(s and s.get('ready') for s in sts) and \
                len({s.get('leader_id') for s in sts}) == 1 and \
                all(int(s.get('config_version') or 0) >= 1 for s in sts):
            return True
        for n in ctx.nodes:
            if not cluster.running(n):
                raise RuntimeError('%s exited during start, rc %s (see %s)'
                                   % (n.name, cluster.p[n.name].exits,
                                      cluster.p[n.name].dir))
        time.sleep(0.2)
    return False


# Checks the smoke profile has seen fail on the fresh-clone CI and that
# are open work (issue 11's closing note): reported as XFAIL with their
# summary, counted apart, never as a pass. The extended profile and the
# negative controls judge them as usual. (c2/quota-accounting left the
# set: its kill-test anomalies were leases sampled before their last grant,
# a checker artifact, see checkers/quota.py. c4/quota-utilization too: its
# lows after the clock jumps were two quota bugs, fixed: a node ahead of
# the leader drained the window, and windows stood still after a leader
# ahead; jepsen/README.md, What it found.)
KNOWN_SMOKE = {
    'd4/breaker-liveness',   # a faulted prober delays the close
    'd5/breaker-fast-503',   # answers over 50 ms on a loaded machine
}


def known_failures(checks, suite):
    if suite != 'smoke':
        return checks
    return [dict(c, verdict='XFAIL', summary='known failure, open: %s' %
                 c.get('summary', ''))
            if c.get('verdict') == 'FAIL' and c['name'] in KNOWN_SMOKE
            else c for c in checks]


def invert_expected(checks, names, may, why, any_of=None):
    """A negative control: each check in @names must FAIL (the suite saw
    the violation the unsafe switch causes); it becomes a PASS named
    negative-control/<name>, and a FAIL when it did not fail.  A check in
    @may keeps its name with verdict INFO (listed, not counted) and its
    finding in the summary.  @any_of {group: [names]}: one line
    negative-control/<group>, PASS when at least one of the names FAILed,
    FAIL when none did, SKIPPED when all of them were SKIPPED (the binary
    lacks the feature the control exercises: nothing to judge)."""
    out = []
    for group, members in (any_of or {}).items():
        got = [c for c in checks if c['name'] in members or
               set(c.get('covers') or ()) & set(members)]
        seen = [c for c in got if c['verdict'] == 'FAIL']
        if got and all(c['verdict'] == 'SKIPPED' for c in got):
            verdict, summ = 'SKIPPED', got[0].get('summary', '')
        elif seen:
            verdict = 'PASS'
            summ = 'violation found with %s by %s: %s' % (
                ' '.join(why), ', '.join(c['name'] for c in seen),
                seen[0].get('summary', ''))
        else:
            verdict = 'FAIL'
            summ = 'violation NOT found with %s (%s)' % (' '.join(why), '; '.join(
                '%s %s' % (c['name'], c['verdict']) for c in got) or
                'checks did not run')
        out.append({'name': 'negative-control/' + group, 'verdict': verdict,
                    'summary': summ, 'witness': seen[0].get('witness')
                    if seen else None})
    grouped = {n for ms in (any_of or {}).values() for n in ms}
    for c in checks:
        if c['name'] in grouped or set(c.get('covers') or ()) & grouped:
            out.append(dict(c, verdict='INFO', witness=None,
                            summary='(judged in negative-control) %s: %s' % (
                                c['verdict'], c.get('summary', ''))))
            continue
        if c['name'] in may:
            out.append(dict(c, verdict='INFO', witness=None, summary='%s '
                            'under %s (allowed): %s' % (
                                'fails' if c['verdict'] == 'FAIL' else
                                'holds', ' '.join(why), c.get('summary'))))
            continue
        if c['name'] not in names:
            out.append(c)
            continue
        seen = c['verdict'] == 'FAIL'
        out.append({'name': 'negative-control/' + c['name'],
                    'verdict': 'PASS' if seen else 'FAIL',
                    'summary': '%s with %s: %s' % (
                        'violation found' if seen else
                        'violation NOT found (verdict %s)' % c['verdict'],
                        ' '.join(why), c.get('summary', '')),
                    'witness': c.get('witness') if seen else None})
    missing = set(names) - {c['name'] for c in checks}
    for n in sorted(missing):
        out.append({'name': 'negative-control/' + n, 'verdict': 'FAIL',
                    'summary': 'check %s did not run' % n, 'witness': None})
    return out


def run_test(name, spec, args, topo, caps, binary, run_store):
    ts = time.strftime('%Y%m%dT%H%M%S')
    store = os.path.join(run_store, name, ts)
    os.makedirs(store, exist_ok=True)
    scale = args.time_scale
    main_s = spec['main'] * scale
    sched = [(op, None if h is None else h * scale, hl * scale)
             for op, h, hl in spec['schedule']]
    tr = {'test': name, 'main_s': round(main_s), 'store': store,
          'nemesis': ', '.join(op for op, _, _ in spec['schedule']) or 'none',
          'checks': []}
    missing = [c for c in NEEDS.get(name, []) if not caps.get(c)]
    if missing:
        tr['skipped'] = 'capability missing: %s' % ', '.join(
            REMEDY.get(c, c) for c in missing)
        log('%s: SKIPPED (%s)' % (name, tr['skipped']))
        return tr
    seed = '%s/%s' % (args.seed, name)
    nodes = [ctx_mod.Node(k) for k in (1, 2, 3)]
    hist = history_mod.History(os.path.join(store, 'history.jsonl'))
    ctx = ctx_mod.Ctx(nodes, hist, store, seed=seed, time_scale=scale,
                      test=name)
    ctx.caps = caps
    node_args = list(spec.get('node_args', ()))
    extra_yaml = ''
    raft_extra = QUOTA_RAFT if caps.get('quota_hooks') else ''
    if caps.get('consul'):
        node_args += ['--consul', 'http://%s:%d' % ctx_mod.CONSUL]
        # short blocking queries, so a node cut off from Consul notices
        # within seconds (default wait 60 s: a 10 s cut would go unseen)
        extra_yaml = CONSUL_YAML
    rates = {}
    if spec.get('skew'):
        rates[ctx.rng.choice(nodes).name] = ctx.rng.choice([0.9, 1.1])
    cluster = procs.Cluster(topo, nodes, store, binary,
                            faketime=spec.get('faketime', False),
                            tmpfs_mb=spec.get('tmpfs', 0), log=log,
                            rates=rates, args=node_args,
                            extra_yaml=extra_yaml, raft_extra=raft_extra)
    ctx.procs = cluster
    smp = None
    nem = nem_mod.Nemesis(ctx, topo, cluster, caps, log=log)
    wl_threads = []
    try:
        cluster.start_all()
        if not wait_ready(ctx, cluster, 30):
            raise RuntimeError('cluster not ready within 30 s')
        log('%s: cluster ready (store %s, seed %s)' % (name, store, seed))
        smp = sampler.Sampler(ctx, os.path.join(store, 'samples.jsonl'))
        smp.start()
        ctx.sampler = smp       # get() still answers after close()
        workloads, wl_src = load_workloads()
        tr['workloads'] = wl_src
        for w in workloads:
            w.setup(ctx)
        for w in workloads:
            t = threading.Thread(target=w.run, args=(ctx, ctx.stop),
                                 name='wl-' + w.name, daemon=True)
            t.start()
            wl_threads.append(t)
        t_main = time.monotonic() + 3.0 * min(1.0, scale * 2)   # warm-up
        ctx.sleep_until(t_main)
        t_end = t_main + main_s
        if rates:
            nem.clock_rate_check()
        nerr = []

        def nemrun():
            try:
                nem.run_schedule(sched, t_end)
            except nem_mod.Skip as e:
                nerr.append(('skip', str(e)))
            except Exception as e:
                nerr.append(('error', '%s\n%s' % (e, traceback.format_exc())))
        nth = threading.Thread(target=nemrun, name='nemesis', daemon=True)
        nth.start()
        nth.join(timeout=main_s + 120)
        ctx.sleep_until(t_end)
        # final heal
        nem.heal_all()
        for n in nodes:
            if not cluster.running(n):
                cluster.start(n)
        if spec.get('final_kill_all'):
            fid = nem.kill('all')
            nem._stop(fid)
        # T_conv counts from here (docs/fault-injection.md 4.4b), not from the end of
        # the schedule's last fault, which can be long before t_end.
        ctx.heal_t = hist.now()
        if nerr and nerr[0][0] == 'skip':
            tr['skipped'] = nerr[0][1]
        elif nerr:
            tr['checks'].append({'name': 'harness/nemesis',
                                 'verdict': 'FAIL',
                                 'summary': 'nemesis error',
                                 'witness': nerr[0][1][-2000:]})
        t_conv, last = wait_converged(ctx, 15.0)
        tr['checks'].append(check_converged(t_conv, last, 10.0))
        if t_conv is not None and t_conv > 10.0:
            tr['checks'][-1]['verdict'] = 'FAIL'
        ctx.stop.set()
        for t in wl_threads:
            t.join(timeout=15)
        for w in workloads:
            try:
                w.final(ctx)
            except Exception as e:
                tr['checks'].append({'name': '%s/final' % w.name,
                                     'verdict': 'UNKNOWN',
                                     'summary': 'final() raised %s' % e,
                                     'witness': traceback.format_exc()[-1500:]})
        for n in nodes:         # applied-log dumps
            try:
                st, _, body = ctx.http(n, 'GET', '/debug/applied?since=0',
                                       timeout=5)
                with open(os.path.join(store, 'applied-%s.json' % n.name),
                          'wb') as fh:
                    fh.write(body)
            except OSError:
                pass
        smp.close()
        smp = None
        # expected exits: those the nemesis caused (kill), graceful stop
        unexpected = []
        for nm, np_ in cluster.p.items():
            cluster.running(np_.node)
            exp = sum(1 for e in hist.events() if e.get('proc') == 'nemesis'
                      and e.get('f') == 'start-kill' and
                      nm in (e['value'].get('nodes') or []))
            if len(np_.exits) > exp:
                unexpected.append('%s: %d exits, %d expected (rc %s)' % (
                    nm, len(np_.exits), exp, [rc for _, rc in np_.exits]))
        cluster.stop_all(graceful=True)
        hist.close()
        evs = hist.events()
        tr['ops'] = report.op_counts(evs)
        for w in workloads:
            try:
                tr['checks'] += w.check(ctx, hist)
            except Exception as e:
                tr['checks'].append({'name': '%s/check' % w.name,
                                     'verdict': 'UNKNOWN',
                                     'summary': 'check() raised %s' % e,
                                     'witness': traceback.format_exc()[-1500:]})
        tr['checks'].append(check_nemesis_effective(evs))
        tr['checks'].append(check_logscan(cluster, unexpected))
        if spec.get('expect_fail') or spec.get('expect_any_fail'):
            tr['checks'] = invert_expected(tr['checks'],
                                           spec.get('expect_fail', ()),
                                           spec.get('may_fail', ()),
                                           spec.get('node_args', ()),
                                           spec.get('expect_any_fail'))
        else:
            tr['checks'] = known_failures(tr['checks'], args.suite)
        report.svg_timeline(os.path.join(store, 'timeline.svg'), evs,
                            'raftgate jepsen %s seed %s' % (name, seed))
    finally:
        ctx.stop.set()
        if smp:
            smp.close()
        try:
            nem.heal_all()
        except Exception:
            pass
        for n in nodes:
            try:
                cluster.kill(n, signal.SIGKILL, wait=5)
            except Exception:
                pass
        for k in (1, 2, 3):
            topo_mod.kill_ns_pids(topo.ns(k))
        for np_ in cluster.p.values():
            if os.path.ismount(np_.data):
                topo_mod.sh(['umount', '-l', np_.data], check=False)
        hist.close()
    return tr


# ------------------------------------------------------------- main
def main(argv):
    ap = argparse.ArgumentParser(prog='jepsen/run')
    ap.add_argument('--suite', choices=['smoke', 'extended'],
                    default='smoke')
    ap.add_argument('--test', action='append', default=[])
    ap.add_argument('--seed', default=None)
    ap.add_argument('--time-scale', type=float, default=1.0)
    ap.add_argument('--store', default=os.path.join(TOP, 'jepsen', 'store'))
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--list', action='store_true')
    args = ap.parse_args(argv)
    prof = SMOKE if args.suite == 'smoke' else EXTENDED
    if args.list:
        for k, v in prof.items():
            print('%-16s %4d s  %s' % (k, v['main'], ', '.join(
                op for op, _, _ in v['schedule']) or 'no nemesis'))
        return 0
    names = args.test or list(prof)
    prof = dict(NEGATIVE, **prof)   # --test may name a negative control
    for n in names:
        if n not in prof:
            print('unknown test %s (--list)' % n, file=sys.stderr)
            return 2
    if args.seed is None:
        r = subprocess.run(['git', '-C', TOP, 'rev-parse', '--short', 'HEAD'],
                           capture_output=True, text=True)
        args.seed = r.stdout.strip() or str(int(time.time()))
    cwd = os.environ.get('RGJ_CWD') or os.getcwd()   # set by jepsen/run
    binary = os.environ.get('RAFTGATE_BIN') or os.path.join(TOP, 'build',
                                                            'raftgate')
    binary = os.path.abspath(os.path.join(cwd, binary))  # unless absolute
    if not os.access(binary, os.X_OK):
        print('raftgate binary %s not executable (set RAFTGATE_BIN)' % binary,
              file=sys.stderr)
        return 2
    run_store = os.path.abspath(os.path.join(
        cwd, args.store,
        time.strftime('run-%Y%m%dT%H%M%S-') + str(os.getpid())))
    os.makedirs(run_store, exist_ok=True)
    topo_mod.clean_stale(log=log)
    topo = topo_mod.Topo()
    atexit.register(topo.down)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, lambda *a: sys.exit(2))
    results = []
    rc = 2
    up = consul = None
    try:
        topo.up()
        log('topology %s up' % topo.prefix)
        caps = probe_caps(topo, run_store)
        caps['test_build'] = test_build(binary)
        caps['unsafe_lease_reclaim'] = caps['test_build'] and accepts(
            binary, ['--unsafe-lease-reclaim-early'])
        caps['consul'] = accepts(binary, ['--consul', 'http://%s:%d' %
                                          ctx_mod.CONSUL])
        caps['quota_hooks'] = accepts_config(binary, QUOTA_RAFT, run_store)
        if not caps['consul']:
            caps['consul_why'] = ('no Consul discovery in this binary (it '
                                  'refuses --consul)')
        log('capabilities: %s' % caps)
        topo.enter_client()
        up = subprocess.Popen(
            ['/usr/bin/python3', '-m', 'harness.fakes.upstream',
             '--lifetime', '7200'] + ['%s:%d' % a for a in
                                      ctx_mod.UPSTREAMS + ctx_mod.FLAKY],
            cwd=os.path.dirname(HERE), stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(run_store, 'upstream.log'), 'wb'))
        if caps['consul']:
            consul, why = start_consul(run_store)
            if consul is None:
                caps['consul'] = False
                caps['consul_why'] = why
        run = {'suite': args.suite, 'seed': args.seed, 'caps': caps,
               'binary': binary, 'time_scale': args.time_scale,
               'store': run_store}
        for name in names:
            t0 = time.monotonic()
            log('== %s' % name)
            try:
                tr = run_test(name, prof[name], args, topo, caps, binary,
                              run_store)
            except Exception as e:
                tr = {'test': name, 'main_s': prof[name]['main'],
                      'checks': [{'name': 'harness/error', 'verdict': 'FAIL',
                                  'summary': str(e)[:300],
                                  'witness': traceback.format_exc()[-2000:]}]}
            tr['wall_s'] = round(time.monotonic() - t0, 1)
            results.append(tr)
            p, f, s = report.counts([tr])
            log('%s: %d passed, %d failed, %d skipped (%.0f s)' % (
                name, p, f, s, tr['wall_s']))
        text, (p, f, s) = report.write(run_store, run, results)
        sys.stdout.write(text)
        unknown = any(c.get('verdict') == 'UNKNOWN' for tr in results
                      for c in tr.get('checks', []))
        rc = 1 if f or (unknown and args.suite == 'extended') else 0
        if rc == 0 and not args.keep:
            for tr in results:
                d = tr.get('store')
                if d and os.path.isdir(d):
                    for fn in os.listdir(d):
                        fp = os.path.join(d, fn)
                        if fn not in ('results.json', 'report.txt',
                                      'timeline.svg'):
                            if os.path.isdir(fp) and not os.path.ismount(fp):
                                shutil.rmtree(fp, ignore_errors=True)
                            elif os.path.isfile(fp):
                                os.unlink(fp)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        rc = 2
    finally:
        for p in (consul, up):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        topo.down()
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
